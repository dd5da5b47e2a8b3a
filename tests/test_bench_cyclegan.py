"""experiments/bench_cyclegan.py: its FLOP counts and one benchmark row, on the tiny preset."""

import dataclasses
import json
import os
import statistics
import subprocess
import sys

import helpers
import keras
import pytest
import tensorflow as tf

from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import models, trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "experiments", "bench_cyclegan.py")


@pytest.fixture(scope="module")
def bench():
    return helpers.load_experiment("bench_cyclegan")


def test_discriminator_forward_flops_by_hand(bench):
    # ndf 8, 2 layers, 32 px: 4x4 convs 3->8 s2 (16x16 out), 8->16 s2 (8x8), 16->32 s1 (7x7), 32->1 (6x6).
    discriminator = models.build_patch_discriminator(ndf=8, n_layers=2)
    expected = [2 * 16 * 3 * 8 * 16 * 16, 2 * 16 * 8 * 16 * 8 * 8, 2 * 16 * 16 * 32 * 7 * 7,
                2 * 16 * 32 * 1 * 6 * 6]
    rows = bench.conv_layer_flops(discriminator, 32, 32)
    assert [flops for _, _, flops in rows] == expected
    assert bench.forward_flops(discriminator, 32, 32) == (sum(expected), expected[0])
    assert bench.profiler_conv2d_flops(discriminator, 32, 32) == sum(expected)


def test_generator_transposed_convs_counted_per_input_pixel(bench):
    generator = models.build_resnet_generator(n_blocks=1, ngf=8)
    rows = {name: (kind, flops) for name, kind, flops in bench.conv_layer_flops(generator, 32, 32)}
    # u16: 3x3 transposed, 32 -> 16 channels, 8x8 -> 16x16; u8: 16 -> 8 channels, 16x16 -> 32x32.
    assert rows["u16"] == ("transposed", 2 * 9 * 32 * 16 * 8 * 8)
    assert rows["u8"] == ("transposed", 2 * 9 * 16 * 8 * 16 * 16)
    assert rows["c7s1_8"] == ("conv", 2 * 49 * 3 * 8 * 32 * 32)
    # The profiler counts the Conv2D ops only (no FLOP statistics for Conv2DBackpropInput).
    conv2d = sum(flops for kind, flops in rows.values() if kind == "conv")
    assert bench.profiler_conv2d_flops(generator, 32, 32) == conv2d


@pytest.mark.parametrize("lambda_identity", [0.5, 0.0])
def test_train_step_formula_equals_traced_graph(bench, lambda_identity):
    config = config_lib.tiny(lambda_identity=lambda_identity, batch_size=2, pool_size=2)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    keras.utils.set_random_seed(0)
    built = trainer.build_training(config, strategy, steps_per_epoch=10)
    spec = tf.TensorSpec([2, 32, 32, 3], tf.float32)
    graph = built.train_step.get_concrete_function((spec, spec)).graph  # traced, never run

    g_forward, g_first = bench.forward_flops(built.state.models["generator_ab"], 32, 32)
    d_forward, d_first = bench.forward_flops(built.state.models["discriminator_a"], 32, 32)
    analytic = bench.train_step_flops(g_forward, g_first, d_forward, d_first,
                                      identity=lambda_identity > 0, batch_size=2)
    assert bench.graph_conv_flops(graph) == analytic
    n_id = 2 if lambda_identity > 0 else 0
    assert analytic == 2 * ((12 + 3 * n_id) * g_forward - (2 + n_id) * g_first + 16 * d_forward - 4 * d_first)


def test_train_row_in_a_subprocess(bench):
    spec = {"kind": "train", "preset": "tiny", "batch": 2, "xla": False, "precision": "none",
            "warmup": 1, "steps": 2, "row_budget": 60.0}
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run([sys.executable, SCRIPT, "--row", json.dumps(spec)], capture_output=True,
                               text=True, env=env, cwd=REPO, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    line = [x for x in completed.stdout.splitlines() if x.startswith(bench.benchmarking.ROW_MARKER)][-1]
    row = json.loads(line[len(bench.benchmarking.ROW_MARKER):])
    assert row["steps_timed"] == 2 and len(row["ms_per_step_all"]) == 3
    assert row["ms_per_step"] == pytest.approx(statistics.median(row["ms_per_step_all"][1:]))
    assert row["images_per_second"] == pytest.approx(2 * 1000.0 / row["ms_per_step"])
    assert row["tflops"] == pytest.approx(row["tflop_per_step"] * 1000.0 / row["ms_per_step"])
    assert row["graph_tflop_per_step"] == pytest.approx(row["tflop_per_step"], rel=1e-12)
    assert (row["g_params"], row["d_params"]) == (50_947, 11_193)  # the tiny preset's G and D
    assert row["losses_finite"] and set(trainer.LOSS_NAMES) <= set(row["final_losses"])
    assert row["peak_rss_bytes"] > 100 * 2**20


def test_bad_flags_exit_2(bench):
    for argv in (["--precisions", "fp8"], ["--xla", "maybe"], ["--batch_sizes", "0"], ["--steps", "0"]):
        with pytest.raises(SystemExit) as raised:
            bench.parse_args(argv)
        assert raised.value.code == 2


def test_quick_runs_only_the_tiny_preset(bench):
    args = bench.parse_args(["--quick"])
    specs = bench.build_specs(args, gpu=False)
    assert specs[0]["kind"] == "models"
    train = [s for s in specs if s["kind"] == "train"]
    assert {s["preset"] for s in train} == {"tiny"} and not [s for s in specs if s["kind"] == "infer"]
    assert {(s["xla"], s["precision"]) for s in train} == {(False, "none"), (False, "bf16"), (True, "none"),
                                                           (True, "bf16")}
    full = bench.build_specs(bench.parse_args([]), gpu=False)
    infer = {(s["size"], s["batch"]) for s in full if s["kind"] == "infer"}
    assert infer == {(256, 1), (256, 16), (512, 1), (512, 16)}
    assert {(s["kind"], s["warmup"], s["steps"]) for s in full if s["kind"] != "models"} == {
        ("train", 2, 3), ("infer", 1, 3)}  # the CPU defaults
    assert dataclasses.asdict(bench.preset_config("full")) == dataclasses.asdict(config_lib.TrainConfig())
