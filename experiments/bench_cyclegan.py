"""Benchmark of the CycleGAN path: the full training step and generator inference.

    python experiments/bench_cyclegan.py                 # CPU: ~10 min; a GPU gets more steps and fp16
    python experiments/bench_cyclegan.py --quick         # tiny preset only, < 2 min
    python experiments/bench_cyclegan.py --models full --xla on --precisions bf16 --steps 10

Rows (every one in its own subprocess, so its peak memory is its own):

* ``models``: parameter counts of G and D, forward GFLOP of G and D, at the defaults
  (`TrainConfig()`: ResNet-9 G with ngf 64, 70x70 PatchGAN with ndf 64) and at the tests' tiny
  preset (`config.tiny()`: resnet_2blocks, ngf 8, ndf 8, 2-layer D), plus a cross-check of the
  analytic forward count against `tf.compat.v1.profiler` on the traced forward graph;
* ``train``: one full training step as the trainer runs it (`trainer.build_training`: the same
  models, optimisers, pools and `tf.function`, under the run's mixed-precision policy and
  `OneDeviceStrategy`), fed by a distributed `tf.data` pipeline of random [-1, 1] images, at the
  defaults (256 px) and at the tiny preset (32 px), batch 1, XLA off/on, mixed precision
  none/bf16 (and fp16: on a GPU by default, on a CPU with ``--precisions``);
* ``infer``: the default generator (float32, as `tfstyle.cyclegan.inference.load_generator` builds
  it) run through `tfstyle.export.translate_uint8`, the function the SavedModel serves and
  `translate` runs: uint8 [B, S, S, 3] in, uint8 out (copied back to the host), at 256 and 512 px,
  batch 1 and 16.

Timing: `warmup` untimed calls (the first one traces and compiles), then up to `steps` timed calls,
each waited for (losses or images copied to the host); a row stops timing early once its timed
calls have taken `row_budget` seconds (at least one timed call always runs), which bounds the
512 px batch-16 inference row on a CPU (~1 min a call). ms/step is the median. Defaults: CPU 2
warm-up + 3 timed train steps, 1 + 3 inference calls, 30 s budget; GPU 5 + 20 for both, 120 s.
images/s = batch / median seconds; for ``train`` that is image pairs per second (one image of A and
one of B per example), the trainer's own images/s. Peak memory: `get_memory_info("GPU:0")["peak"]`
on a GPU, else the process's peak resident set (VmHWM of /proc/self/status, TensorFlow's runtime
included).

FLOPs: 2 per multiply-add, convolutions only (instance norm, activations, padding, losses, the pool
and the Adam updates are left out: `tf.compat.v1.profiler` puts the elementwise ops of a G forward
pass at 256 px at 5 % of its conv FLOPs). For one image:

* a convolution, k x k, C_in -> C_out: 2 k^2 C_in C_out H_out W_out;
* a transposed convolution (stride 2 `u128`, `u64`): 2 k^2 C_in C_out H_in W_in: every input pixel
  is scattered to k x k outputs (counting H_out W_out would count the zeros a stride-2 transposed
  convolution inserts, 4x too many);
* the gradient of a convolution with respect to its input, and with respect to its kernel, each
  costs its forward count.

Let F_G, F_D be one forward pass of G (or F) and of D (conv FLOPs at the step's image size), and
F1_G, F1_D those of their first convolution (whose input gradient is never needed when the input
is a real image: nothing upstream is trained). `CycleGANTask.make_replica_step` computes, per example:

* generator phase (one tape, gradients for G and F only):
  G(a), F(b) and, with the identity loss, G(b), F(a): forward + kernel gradient + input gradient
  but the first layer's: 3 F_G - F1_G each; F(G(a)), G(F(b)) (cycle, inputs generated): 3 F_G
  each; D_Y(G(a)), D_X(F(b)): forward + input gradient, no kernel gradient: 2 F_D each;
* discriminator phase (second tape, gradients for D_X, D_Y only): D_X on a and on a pooled F(b),
  D_Y on b and on a pooled G(a): 3 F_D - F1_D each (the pooled fakes are constants here).

    FLOP/step = B [ (2 + n_id)(3 F_G - F1_G) + 2 (3 F_G) + 2 (2 F_D) + 4 (3 F_D - F1_D) ]
              = B [ 18 F_G - 4 F1_G + 16 F_D - 4 F1_D ]        (identity loss on: n_id = 2, default)
              = B [ 12 F_G - 2 F1_G + 16 F_D - 4 F1_D ]        (lambda_identity = 0: n_id = 0)

Every ``train`` row checks this formula against the traced step: the Conv2D /
Conv2DBackpropInput / Conv2DBackpropFilter ops of its graph (nested functions included, ops whose
results nothing uses pruned as the runtime prunes them), each counted from its static shapes
("graph TFLOP" in the JSON; the table shows the analytic figure).

Results: a table on stdout and ``experiments/results/bench_cyclegan_<device>_<date>.json`` (``--quick``:
``..._quick.json``) with the machine's description (CPU model, cores, RAM, GPU, TF/Keras versions).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import statistics
import sys
import time

import benchmarking  # experiments/benchmarking.py, beside this script

REPO, RESULTS_DIR = benchmarking.REPO, benchmarking.RESULTS_DIR
MODEL_PRESETS = ("full", "tiny")
PRECISIONS = ("none", "bf16", "fp16")
PRECISION_NAMES = {"none": "fp32", "bf16": "bf16", "fp16": "fp16"}
_CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")
_MIB = 2**20


# ---------------------------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------------------------










# ---------------------------------------------------------------------------------------------
# FLOPs: analytic (layer shapes) and from a traced graph (op shapes)
# ---------------------------------------------------------------------------------------------


def conv_layer_flops(model, height: int, width: int) -> list[tuple[str, str, int]]:
    """Forward FLOPs of every convolution of `model` on one [height, width, 3] image.

    Shapes come from Keras' shape inference through the functional graph at that input size.

    Returns:
        [(layer name, "conv" | "transposed", FLOPs)] in layer order; FLOPs = 2 k_h k_w C_in C_out
        H_out W_out for a convolution, 2 k_h k_w C_in C_out H_in W_in for a transposed one.
    """
    import keras

    layers = [layer for layer in model.layers
              if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    probe = keras.Model(model.inputs, [t for layer in layers for t in (layer.input, layer.output)])
    shapes = probe.compute_output_shape((1, height, width, 3))
    rows = []
    for index, layer in enumerate(layers):
        (_, h_in, w_in, _), (_, h_out, w_out, _) = shapes[2 * index], shapes[2 * index + 1]
        kernel_h, kernel_w, *channels = layer.kernel.shape  # (k, k, C_in, C_out); transposed: (k, k, C_out, C_in)
        per_position = 2 * kernel_h * kernel_w * channels[0] * channels[1]
        if isinstance(layer, keras.layers.Conv2DTranspose):
            rows.append((layer.name, "transposed", per_position * h_in * w_in))
        else:
            rows.append((layer.name, "conv", per_position * h_out * w_out))
    return rows


def forward_flops(model, height: int, width: int) -> tuple[int, int]:
    """(F, F1): conv FLOPs of one forward pass on a [height, width, 3] image, and of its first conv."""
    rows = conv_layer_flops(model, height, width)
    return sum(flops for _, _, flops in rows), rows[0][2]


def train_step_flops(g_forward: int, g_first: int, d_forward: int, d_first: int, *, identity: bool,
                     batch_size: int) -> int:
    """Conv FLOPs of one `CycleGANTask.make_replica_step` update (see the module docstring).

    Args:
        g_forward, g_first: F_G and F1_G at the step's image size (one image).
        d_forward, d_first: F_D and F1_D at the same size.
        identity: whether the identity loss is on (lambda_identity > 0).
        batch_size: global batch B.
    """
    real_input_g = 2 + (2 if identity else 0)  # G(a), F(b) [+ G(b), F(a)]
    g_phase = real_input_g * (3 * g_forward - g_first) + 2 * 3 * g_forward + 2 * 2 * d_forward
    d_phase = 4 * (3 * d_forward - d_first)
    return batch_size * (g_phase + d_phase)


def _op_flops(op) -> int:
    """FLOPs of one Conv2D / Conv2DBackpropInput / Conv2DBackpropFilter op from its static shapes."""
    if op.type == "Conv2D":
        kernel, positions = op.inputs[1].shape, op.outputs[0].shape[:3]  # out: [B, H_out, W_out, C_out]
    elif op.type == "Conv2DBackpropInput":
        kernel, positions = op.inputs[1].shape, op.inputs[2].shape[:3]  # out_backprop: forward output
    else:  # Conv2DBackpropFilter: (input, filter_sizes, out_backprop) -> kernel gradient
        kernel, positions = op.outputs[0].shape, op.inputs[2].shape[:3]
    if not (kernel.is_fully_defined() and positions.is_fully_defined()):
        raise ValueError(f"{op.type} {op.name} has unknown static shapes: {kernel}, {positions}")
    return 2 * kernel.num_elements() * positions.num_elements()


def graph_conv_flops(graph) -> int:
    """Conv FLOPs the runtime executes for one call of a traced function graph.

    Walks back from the graph's outputs and control outputs (its stateful ops: variable updates),
    so ops whose results nothing uses (the kernel gradients of D in the generator phase, the input
    gradient of a first layer) are not counted, as the runtime prunes them. Nested function calls
    (`StatefulPartitionedCall`, e.g. the XLA-compiled replica step) are counted once per call.
    """
    needed, stack = set(), [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    while stack:
        op = stack.pop()
        if op.name in needed:
            continue
        needed.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    functions = getattr(graph, "_functions", {})
    total = 0
    for op in graph.get_operations():
        if op.name not in needed:
            continue
        if op.type in _CONV_OPS:
            total += _op_flops(op)
        elif "f" in op.node_def.attr and op.node_def.attr["f"].func.name in functions:
            total += graph_conv_flops(functions[op.node_def.attr["f"].func.name].graph)
    return total


def profiler_conv2d_flops(model, height: int, width: int) -> int | None:
    """Conv2D FLOPs of one forward pass as `tf.compat.v1.profiler` counts them on the traced graph.

    The profiler registers FLOPs for Conv2D but not for Conv2DBackpropInput, so transposed
    convolutions are not in this figure. None if the v1 profiler is not available.
    """
    import tensorflow as tf

    profiler = getattr(getattr(tf.compat.v1, "profiler", None), "profile", None)
    if profiler is None:
        return None

    @tf.function(autograph=False)
    def forward(image):
        return model(image, training=False)

    graph = forward.get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    ).with_node_names(show_name_regexes=[".*"]).with_empty_output().build()
    options["account_type_regexes"] = ["Conv2D"]
    return int(profiler(graph, options=options).total_float_ops)


# ---------------------------------------------------------------------------------------------
# Rows (child processes)
# ---------------------------------------------------------------------------------------------


def preset_config(preset: str, **overrides):
    """`TrainConfig()` ("full": the paper's defaults) or `config.tiny()` ("tiny"), with overrides."""
    from tfstyle.cyclegan import config as config_lib

    if preset not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {preset!r}: use {', '.join(MODEL_PRESETS)}")
    base = config_lib.TrainConfig() if preset == "full" else config_lib.tiny()
    return dataclasses.replace(base, **overrides)


def _time_calls(call, warmup: int, steps: int, budget_s: float) -> tuple[list[float], list[float]]:
    """Runs `call` (which must wait for its result) `warmup` untimed times, then up to `steps` timed
    times, stopping once the timed calls took `budget_s` seconds (at least one timed call).
    Returns (warm-up, timed) seconds per call."""
    warm, timed = [], []
    for _ in range(warmup):
        start = time.perf_counter()
        call()
        warm.append(time.perf_counter() - start)
    while len(timed) < max(steps, 1) and (not timed or sum(timed) < budget_s):
        start = time.perf_counter()
        call()
        timed.append(time.perf_counter() - start)
    return warm, timed


def _peak_bytes(gpu: bool) -> dict:
    import tensorflow as tf

    peaks = {"peak_rss_bytes": benchmarking.status_bytes("VmHWM:")}
    if gpu:
        peaks["gpu_peak_bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    return peaks


def _timing(spec: dict, warm: list[float], timed: list[float], flops: int) -> dict:
    seconds = statistics.median(timed)
    return {
        "first_call_s": warm[0] if warm else None,
        "steps_timed": len(timed),
        "ms_per_step": 1e3 * seconds,
        "ms_per_step_all": [1e3 * t for t in warm + timed],
        "images_per_second": spec["batch"] / seconds,
        "tflop_per_step": flops / 1e12,
        "tflops": flops / seconds / 1e12,
    }


def run_models_row(spec: dict) -> dict:
    """Parameter counts and forward FLOPs of G and D for each preset, with the profiler cross-check."""
    from tfstyle.cyclegan import trainer

    presets = {}
    for preset in MODEL_PRESETS:
        config = preset_config(preset)
        models = trainer.build_models(config)
        generator, discriminator = models["generator_ab"], models["discriminator_a"]
        sizes = sorted({config.image_size, *spec["inference_sizes"]}) if preset == "full" else [config.image_size]
        forward = {}
        for size in sizes:
            g_rows = conv_layer_flops(generator, size, size)
            d_forward, _ = forward_flops(discriminator, size, size)
            g_conv = sum(f for _, kind, f in g_rows if kind == "conv")
            forward[str(size)] = {
                "g_gflop": sum(f for _, _, f in g_rows) / 1e9,
                "g_conv2d_gflop": g_conv / 1e9,
                "g_conv2d_gflop_profiler": _gflop(profiler_conv2d_flops(generator, size, size)),
                "d_gflop": d_forward / 1e9,
                "d_gflop_profiler": _gflop(profiler_conv2d_flops(discriminator, size, size)),
            }
        presets[preset] = {
            "generator": config.generator, "ngf": config.ngf, "ndf": config.ndf,
            "n_layers_d": config.n_layers_d, "image_size": config.image_size,
            "g_params": int(generator.count_params()), "d_params": int(discriminator.count_params()),
            "forward": forward,
        }
    return {**spec, "presets": presets, **_peak_bytes(bool(spec.get("gpu")))}


def _gflop(flops: int | None) -> float | None:
    return None if flops is None else flops / 1e9


def run_train_row(spec: dict) -> dict:
    """Times `trainer.build_training`'s step for one (preset, batch, XLA, precision)."""
    import keras
    import tensorflow as tf

    from tfstyle import distribute
    from tfstyle.cyclegan import trainer

    gpu = distribute.has_gpu()
    config = preset_config(spec["preset"], batch_size=spec["batch"], jit=spec["xla"],
                           mixed_precision=spec["precision"], strategy="auto")
    size, batch = config.image_size, config.batch_size
    strategy = distribute.make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    built = trainer.build_training(config, strategy, steps_per_epoch=1000)
    train_step, generator, discriminator = (built.train_step, built.state.models["generator_ab"],
                                            built.state.models["discriminator_a"])

    # Random [-1, 1] pairs through the same kind of distributed tf.data input the trainer uses.
    examples = max(4, batch)
    real_a = tf.random.stateless_uniform([examples, size, size, 3], seed=[1, 2], minval=-1.0, maxval=1.0)
    real_b = tf.random.stateless_uniform([examples, size, size, 3], seed=[3, 4], minval=-1.0, maxval=1.0)
    dataset = tf.data.Dataset.from_tensor_slices((real_a, real_b)).repeat().batch(batch, drop_remainder=True)
    iterator = iter(strategy.experimental_distribute_dataset(dataset.prefetch(2)))
    last = {}

    def call():
        values = train_step(next(iterator))
        last.update({name: float(value) for name, value in values.items()})  # waits, like the trainer

    warm, timed = _time_calls(call, spec["warmup"], spec["steps"], spec["row_budget"])

    g_forward, g_first = forward_flops(generator, size, size)
    d_forward, d_first = forward_flops(discriminator, size, size)
    flops = train_step_flops(g_forward, g_first, d_forward, d_first,
                             identity=config.lambda_identity > 0, batch_size=batch)
    graph = train_step.get_concrete_function(next(iterator)).graph  # the trace already used
    return {
        **spec,
        "image_size": size,
        "g_params": int(generator.count_params()),
        "d_params": int(discriminator.count_params()),
        **_timing(spec, warm, timed, flops),
        "graph_tflop_per_step": graph_conv_flops(graph) / 1e12,
        "losses_finite": all(v == v and abs(v) != float("inf") for v in last.values()),
        "final_losses": last,
        **_peak_bytes(gpu),
    }


def run_infer_row(spec: dict) -> dict:
    """Times the default generator through `export.translate_uint8` on a uint8 batch."""
    import keras
    import tensorflow as tf

    from tfstyle import distribute, export
    from tfstyle.cyclegan import models

    gpu = distribute.has_gpu()
    config = preset_config(spec["preset"])
    size, batch = spec["size"], spec["batch"]
    keras.utils.set_random_seed(config.seed)
    generator = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ab")

    @tf.function(jit_compile=spec["xla"])
    def translate(images_uint8):
        return export.translate_uint8(generator, images_uint8, models.SIZE_MULTIPLE, models.MIN_SIZE)

    images_uint8 = tf.cast(tf.random.stateless_uniform([batch, size, size, 3], seed=[5, 6], maxval=256,
                                                       dtype=tf.int32), tf.uint8)

    def call():
        translate(images_uint8).numpy()  # back on the host, as a client gets it

    warm, timed = _time_calls(call, spec["warmup"], spec["steps"], spec["row_budget"])
    g_forward, _ = forward_flops(generator, size, size)
    return {**spec, "g_params": int(generator.count_params()),
            **_timing(spec, warm, timed, batch * g_forward), **_peak_bytes(gpu)}


def run_row(spec: dict) -> dict:
    kind = spec["kind"]
    if kind == "models":
        return run_models_row(spec)
    if kind == "train":
        return run_train_row(spec)
    if kind == "infer":
        return run_infer_row(spec)
    raise ValueError(f"unknown row kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# Parent: one subprocess per row, the tables and the JSON
# ---------------------------------------------------------------------------------------------


def row_name(spec: dict) -> str:
    if spec["kind"] == "models":
        return "parameter counts and forward FLOPs"
    xla = "xla" if spec["xla"] else "noxla"
    if spec["kind"] == "train":
        size = 256 if spec["preset"] == "full" else 32
        size = spec.get("image_size", size)
        return (f"train {spec['preset']} {size}px b{spec['batch']} {xla} "
                f"{PRECISION_NAMES[spec['precision']]}")
    return f"infer G {spec['size']}px b{spec['batch']} {xla} fp32"




def _peak_mib(row: dict, gpu: bool) -> str:
    value = row.get("gpu_peak_bytes") if gpu else row.get("peak_rss_bytes")
    return "-" if value is None else f"{value / _MIB:.0f}"


def format_table(rows: list[dict], gpu: bool) -> str:
    """config, ms/step, images/s, TFLOP/step, achieved TFLOP/s, peak memory MiB."""
    memory = "GPU peak MiB" if gpu else "peak RSS MiB"
    header = (f"{'config':<36} {'ms/step':>10} {'images/s':>9} {'TFLOP/step':>10} {'TFLOP/s':>8} "
              f"{memory:>12}")
    lines = [header, "-" * len(header)]
    for row in rows:
        if row["kind"] == "models":
            continue
        name = row_name(row)
        if "error" in row:
            lines.append(f"{name:<36} error: {row['error']}")
            continue
        lines.append(f"{name:<36} {row['ms_per_step']:>10.1f} {row['images_per_second']:>9.2f} "
                     f"{row['tflop_per_step']:>10.4g} {row['tflops']:>8.3g} {_peak_mib(row, gpu):>12}")
    return "\n".join(lines)


def format_models(row: dict) -> str:
    """Parameter counts and forward GFLOP per preset, with the profiler's Conv2D cross-check."""
    if "error" in row:
        return f"parameter counts: error: {row['error']}"
    header = (f"{'preset':<6} {'G':<15} {'G params':>11} {'D':<10} {'D params':>10}  "
              "forward GFLOP per image (G conv2d: analytic / profiler)")
    lines = [header, "-" * len(header)]
    for preset, info in row["presets"].items():
        forward = "; ".join(
            f"{size}px G {f['g_gflop']:.3f} D {f['d_gflop']:.3f} "
            f"(G conv2d {f['g_conv2d_gflop']:.3f} / {_fmt(f['g_conv2d_gflop_profiler'])}, "
            f"D {_fmt(f['d_gflop_profiler'])})"
            for size, f in info["forward"].items())
        lines.append(f"{preset:<6} {info['generator'] + ' ngf ' + str(info['ngf']):<15} {info['g_params']:>11,} "
                     f"{'ndf ' + str(info['ndf']) + ' n' + str(info['n_layers_d']):<10} {info['d_params']:>10,}  "
                     f"{forward}")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _choices(text: str, allowed, flag: str, parser) -> list[str]:
    values = [v for v in text.split(",") if v]
    unknown = sorted(set(values) - set(allowed))
    if unknown or not values:
        parser.error(f"{flag}: unknown {', '.join(unknown) or 'empty value'}; use {','.join(allowed)}")
    return values


def _ints(text: str, flag: str, parser) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        parser.error(f"{flag}: expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        parser.error(f"{flag}: expected integers >= 1, got {text!r}")
    return values


def parse_args(argv=None, gpu: bool = False) -> argparse.Namespace:
    """Flags; defaults depend on whether a GPU is present (more steps, fp16 and XLA inference there)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny preset only (train rows + parameter counts), 1 warm-up + 3 steps")
    parser.add_argument("--models", default="full,tiny", help="train presets: full (defaults, 256 px), tiny")
    parser.add_argument("--batch_sizes", default="1", help="train global batch sizes")
    parser.add_argument("--xla", default="off,on", help="train step: off, on or off,on")
    parser.add_argument("--precisions", default="none,bf16,fp16" if gpu else "none,bf16",
                        help="mixed precision of the train step: none, bf16, fp16 (slow on CPU)")
    parser.add_argument("--inference_sizes", default="256,512", help="generator inference sizes in px")
    parser.add_argument("--inference_batches", default="1,16", help="generator inference batch sizes")
    parser.add_argument("--inference_xla", default="off,on" if gpu else "off", help="off, on or off,on")
    parser.add_argument("--no_inference", action="store_true", help="skip the inference rows")
    parser.add_argument("--warmup", type=int, default=5 if gpu else 2, help="untimed steps per train row")
    parser.add_argument("--steps", type=int, default=20 if gpu else 3, help="timed steps per train row (at most)")
    parser.add_argument("--inference_warmup", type=int, default=5 if gpu else 1,
                        help="untimed calls per inference row")
    parser.add_argument("--inference_steps", type=int, default=20 if gpu else 3,
                        help="timed calls per inference row (at most)")
    parser.add_argument("--row_budget", type=float, default=120.0 if gpu else 30.0,
                        help="stop timing a row once its timed calls took this many seconds (>= 1 call)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per row process")
    parser.add_argument("--output", default=None, help="JSON path (default experiments/results/...)")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row, print its JSON
    args = parser.parse_args(argv)
    if args.row:
        return args
    if args.quick:
        args.models, args.no_inference = "tiny", True
        args.warmup, args.steps = min(args.warmup, 1), min(args.steps, 3)
    if min(args.warmup, args.inference_warmup) < 0 or min(args.steps, args.inference_steps) < 1 \
            or args.row_budget <= 0:
        parser.error("--warmup and --inference_warmup must be >= 0, --steps and --inference_steps >= 1, "
                     "--row_budget > 0")
    args.models = _choices(args.models, MODEL_PRESETS, "--models", parser)
    args.precisions = _choices(args.precisions, PRECISIONS, "--precisions", parser)
    args.xla = [v == "on" for v in _choices(args.xla, ("off", "on"), "--xla", parser)]
    args.inference_xla = [v == "on" for v in _choices(args.inference_xla, ("off", "on"), "--inference_xla",
                                                      parser)]
    args.batch_sizes = _ints(args.batch_sizes, "--batch_sizes", parser)
    args.inference_sizes = _ints(args.inference_sizes, "--inference_sizes", parser)
    args.inference_batches = _ints(args.inference_batches, "--inference_batches", parser)
    return args


def build_specs(args, gpu: bool) -> list[dict]:
    """The rows to run, in table order."""
    timing = {"warmup": args.warmup, "steps": args.steps, "row_budget": args.row_budget}
    specs = [{"kind": "models", "gpu": gpu, "inference_sizes": args.inference_sizes}]
    specs += [{"kind": "train", "preset": preset, "batch": batch, "xla": xla, "precision": precision, **timing}
              for preset in args.models for batch in args.batch_sizes for xla in args.xla
              for precision in args.precisions]
    if not args.no_inference:
        timing = {"warmup": args.inference_warmup, "steps": args.inference_steps, "row_budget": args.row_budget}
        specs += [{"kind": "infer", "preset": "full", "size": size, "batch": batch, "xla": xla, **timing}
                  for size in args.inference_sizes for batch in args.inference_batches
                  for xla in args.inference_xla]
    return specs


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "--row" in (argv if argv is not None else sys.argv[1:]):
        args = parse_args(argv)
        benchmarking.print_row(run_row(json.loads(args.row)))
        return 0

    machine = benchmarking.describe_machine()
    gpu = bool(machine["gpus"])
    args = parse_args(argv, gpu=gpu)
    specs = build_specs(args, gpu)
    ram = "-" if machine["ram_bytes"] is None else f"{machine['ram_bytes'] / 2**30:.1f}"
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_model']}, "
          f"{machine['cpu_cores']} cores, {ram} GiB RAM), TF {machine['tensorflow']}, Keras {machine['keras']}")
    print(f"{len(specs)} rows, each in its own process: train {args.warmup} warm-up + up to {args.steps} timed "
          f"steps, inference {args.inference_warmup} + {args.inference_steps} (timing stops after "
          f"{args.row_budget:.0f} s)", flush=True)
    rows, started = [], time.perf_counter()
    for spec in specs:
        row_start = time.perf_counter()
        row = benchmarking.spawn_row(__file__, spec, args.timeout)
        rows.append(row)
        if "error" in row:
            outcome = f"error: {row['error']}"
        elif row["kind"] == "models":
            outcome = "done"
        else:
            outcome = f"{row['ms_per_step']:.1f} ms/step over {row['steps_timed']} timed"
        print(f"  {row_name(row)}: {outcome} ({time.perf_counter() - row_start:.0f} s)", flush=True)

    table = format_table(rows, gpu)
    models_table = format_models(rows[0])
    print()
    print(table)
    print()
    print(models_table)
    mismatched = [row_name(r) for r in rows if r["kind"] == "train" and "error" not in r
                  and abs(r["graph_tflop_per_step"] - r["tflop_per_step"]) > 1e-6 * r["tflop_per_step"]]
    print("\nTFLOP: convolutions only, 2 per multiply-add; train = B (18 F_G - 4 F1_G + 16 F_D - 4 F1_D) "
          "(module docstring), " + ("MISMATCH with the traced graph's count: " + ", ".join(mismatched)
                                    if mismatched else "equal to the traced step graph's count in every row")
          + "; train images/s = image pairs/s.")

    from tfstyle import files

    date = datetime.date.today().isoformat()
    suffix = "_quick" if args.quick else ""
    name = f"bench_cyclegan_{benchmarking.device_tag(machine)}_{date}{suffix}.json"
    output = args.output or os.path.join(RESULTS_DIR, name)
    report = {
        "benchmark": "bench_cyclegan",
        "date": date,
        "machine": machine,
        "settings": {key: getattr(args, key) for key in (
            "quick", "models", "batch_sizes", "xla", "precisions", "inference_sizes", "inference_batches",
            "inference_xla", "no_inference", "warmup", "steps", "inference_warmup", "inference_steps",
            "row_budget")},
        "flops_note": "convolutions only, 2 FLOPs per multiply-add; transposed convs counted per input "
                      "pixel; train step = B (18 F_G - 4 F1_G + 16 F_D - 4 F1_D) with the identity loss "
                      "(12 F_G - 2 F1_G + 16 F_D - 4 F1_D without); graph_tflop_per_step counts the traced step",
        "wall_seconds": time.perf_counter() - started,
        "rows": rows,
        "table": table,
        "models_table": models_table,
    }
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    files.write_text(output, json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(output, os.getcwd())}")
    return 1 if any("error" in row for row in rows) or mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
