"""Tests of the CycleGAN task on the training core (`tfstyle.cyclegan.trainer`) and its config.

The expensive part is tracing the train step (~8-20 s per `train` call on 2 CPU cores), so one
module-scoped fixture runs the shared training runs once and several tests check them. Data: the
`two_domains` set (5 A and 3 B 40 px crops of the bundled images, so an epoch is 5 steps at batch
1; no ../shared needed), 32 px crops, 8-filter models with 2 residual blocks. The real-data test
(losses fall on the shared digits) skips without ../shared. The core's own behaviour (signals,
max_steps, fallback, ...) is tested on a tiny task of its own in test_training_loop.py.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import shutil
import textwrap
import types

import helpers
import numpy as np
import pytest
import tensorflow as tf

from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import trainer
from tfstyle.cyclegan.config import TrainConfig
from tfstyle.training import loop
from tfstyle.training.rundir import RunDir

# ---------------------------------------------------------------------------------------------
# Config (no TensorFlow work)
# ---------------------------------------------------------------------------------------------


def test_config_json_round_trip_and_files(tmp_path):
    config = config_lib.tiny(domain_a="a", domain_b="b", model_dir=str(tmp_path / "run"), max_steps=7)
    assert TrainConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json()) == dataclasses.asdict(config)
    path = config_lib.save_config(config)
    assert path == str(tmp_path / "run" / "config.json")
    assert config_lib.load_config(tmp_path / "run") == config
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["config.json"]  # no temp file left
    assert json.loads((tmp_path / "run" / "config.json").read_text())["task"] == "cyclegan"
    assert RunDir(tmp_path / "run").task() == "cyclegan"
    # Unknown keys from a newer version are ignored; missing keys take defaults.
    values = json.loads(config.to_json())
    values.pop("pool_size")
    values["from_the_future"] = 1
    assert TrainConfig.from_json(json.dumps(values)).pool_size == TrainConfig.pool_size
    with pytest.raises(FileNotFoundError, match="no config.json"):
        config_lib.load_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        config_lib.load_config(tmp_path)


def test_old_config_without_task_key_loads_and_other_tasks_are_refused(tmp_path):
    config = config_lib.tiny(domain_a="a", domain_b="b", model_dir=str(tmp_path), max_steps=7)
    (tmp_path / "config.json").write_text(config.to_json())  # as runs wrote it before the "task" key
    assert config_lib.load_config(tmp_path) == config
    (tmp_path / "config.json").write_text(json.dumps({"task": "adain", **dataclasses.asdict(config)}))
    with pytest.raises(ValueError, match="holds a adain run, not a cyclegan run"):
        config_lib.load_config(tmp_path)


def test_defaults_are_the_papers():
    c = TrainConfig()
    assert (c.load_size, c.image_size, c.batch_size, c.generator, c.ngf, c.ndf, c.n_layers_d) == (
        286, 256, 1, "resnet_9blocks", 64, 64, 3)
    assert (c.gan_mode, c.lambda_cycle, c.lambda_identity, c.pool_size) == ("lsgan", 10.0, 0.5, 50)
    assert (c.learning_rate, c.beta_1, c.epochs, c.decay_epochs) == (2e-4, 0.5, 100, 100)


@pytest.mark.parametrize("overrides, message", [
    (dict(model_dir=""), "--model_dir is required"),
    (dict(domain_b=None), "give both --domain_a and --domain_b"),
    (dict(dataset="cycle_gan/horse2zebra"), "not both"),
    (dict(image_size=30), "multiple of 4"),
    (dict(load_size=28), "--load_size"),
    (dict(strategy="gpus"), "--strategy must be one of"),
    (dict(mixed_precision="fp8"), "--mixed_precision"),
    (dict(batch_size=0), "--batch_size must be >= 1"),
    (dict(epochs=0, decay_epochs=0), "at least one epoch"),
])
def test_validate_names_the_bad_field(overrides, message):
    config = config_lib.tiny(**{**dict(domain_a="a", domain_b="b", model_dir="m"), **overrides})
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_resume_differences_split_incompatible_from_changed():
    saved = config_lib.tiny(domain_a="a", domain_b="b", model_dir="m")
    current = dataclasses.replace(saved, ngf=16, image_size=64, load_size=72, lambda_cycle=5.0, max_steps=9,
                                  model_dir="elsewhere", jit=True)
    incompatible, changed = loop.resume_differences(saved, current)
    assert incompatible == ["image_size", "ngf"]
    assert changed == ["load_size", "lambda_cycle"]


# ---------------------------------------------------------------------------------------------
# Shared training runs
# ---------------------------------------------------------------------------------------------


def _config(data, model_dir, **overrides) -> TrainConfig:
    values = dict(domain_a=str(data / "A"), domain_b=str(data / "B"), model_dir=str(model_dir),
                  pool_size=2, checkpoint_every_steps=3, image_every_steps=4, log_every_steps=2)
    values.update(overrides)
    return config_lib.tiny(**values)


@pytest.fixture(scope="module")
def runs(two_domains, tmp_path_factory):
    """straight: 8 steps in one call; split: 3 steps, stop, then on to 8 (crossing the epoch end at 5)."""
    base = tmp_path_factory.mktemp("runs")
    infos = []
    straight = trainer.train(_config(two_domains, base / "straight", max_steps=8), callback=infos.append)
    first = trainer.train(_config(two_domains, base / "split", max_steps=3))
    first_values = _checkpoint_values(first.checkpoint)  # ckpt-3 is pruned later (keep 3)
    second = trainer.train(_config(two_domains, base / "split", max_steps=8))
    return types.SimpleNamespace(base=base, straight=straight, first=first, second=second, infos=infos,
                                 first_values=first_values,
                                 config=_config(two_domains, base / "straight", max_steps=8))


def _checkpoint_values(path: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("save_counter") and "OBJECT_GRAPH" not in name}


def test_results_checkpoints_and_config(runs):
    straight, first, second = runs.straight, runs.first, runs.second
    assert (straight.step, straight.epoch, straight.stopped, straight.resumed_from) == (8, 1, "max_steps", None)
    assert (first.step, first.resumed_from) == (3, None)
    assert first.checkpoint.endswith("ckpt-3")
    assert (second.step, second.epoch) == (8, 1)
    assert second.resumed_from == first.checkpoint
    assert sorted(straight.losses) == sorted(trainer.LOSS_NAMES)
    # Saved every 3 steps, at the epoch end (5) and at the end (8); 3 kept.
    kept = sorted(os.path.basename(p) for p in glob.glob(os.path.join(straight.model_dir, "checkpoints", "*.index")))
    assert kept == ["ckpt-5.index", "ckpt-6.index", "ckpt-8.index"]
    assert tf.train.latest_checkpoint(os.path.join(straight.model_dir, "checkpoints")) == straight.checkpoint
    assert config_lib.load_config(straight.model_dir) == runs.config
    # The reader contract of translate/export: one generator restored from the checkpoint.
    generator = trainer.build_models(runs.config)["generator_ab"]
    fresh = generator.get_weights()
    tf.train.Checkpoint(generator_ab=generator).restore(straight.checkpoint).assert_existing_objects_matched()
    assert any(not np.array_equal(a, b) for a, b in zip(fresh, generator.get_weights(), strict=True))
    values = _checkpoint_values(straight.checkpoint)
    assert int(values["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 8


def test_resume_is_exact(runs):
    """8 steps in one run == 3 steps, stop, 5 more (across an epoch end): every saved value equal."""
    straight = _checkpoint_values(runs.straight.checkpoint)
    split = _checkpoint_values(runs.second.checkpoint)
    assert sorted(straight) == sorted(split)
    # (A variable is stored once, under its first path: the models' weights appear as
    # optimizer_*/_trainable_variables/*, next to the Adam moments and iterations.)
    groups = {name.split("/")[0] for name in straight}
    assert {"optimizer_g", "optimizer_d", "pool_a", "pool_b", "rng", "step"} <= groups
    models = trainer.build_models(runs.config)
    assert sum("_trainable_variables" in name for name in straight) == sum(
        len(model.trainable_variables) for model in models.values())
    for name in straight:
        np.testing.assert_array_equal(straight[name], split[name], err_msg=name)
    # ... and training moved the weights away from the first checkpoint.
    first = runs.first_values
    moved = [n for n in first if "_trainable_variables" in n and not np.array_equal(first[n], straight[n])]
    assert moved


def test_step_reports_follow_the_schedule(runs):
    infos = runs.infos
    assert [i.step for i in infos] == list(range(1, 9))
    assert [i.epoch for i in infos] == [0] * 5 + [1] * 3
    assert {i.steps_per_epoch for i in infos} == {5} and {i.end_step for i in infos} == {8}
    # lr(s) = lr0 * max(0, 1 - max(0, s + 1 - C) / (D + 1)) with s the 0-based step, C = D = 5 steps.
    expected = [2e-4 * max(0.0, 1 - max(0, s + 1 - 5) / 6) for s in range(8)]
    np.testing.assert_allclose([i.learning_rate for i in infos], expected, rtol=1e-6)
    assert all(np.isfinite(list(i.losses.values())).all() for i in infos)
    assert all(i.images_per_second > 0 for i in infos)
    assert [i.elapsed_s for i in infos] == sorted(i.elapsed_s for i in infos) and infos[0].elapsed_s > 0


def _events(model_dir: str) -> list:
    events = []
    for path in sorted(glob.glob(os.path.join(model_dir, "logs", "events.out.tfevents.*"))):
        events.extend(tf.compat.v1.train.summary_iterator(path))
    return events


def test_tensorboard_has_every_loss_lr_and_image_grid(runs):
    scalars, images = {}, {}
    for event in _events(runs.straight.model_dir):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "images":
                images[event.step] = tf.make_ndarray(value.tensor)
            else:
                scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    for name in trainer.LOSS_NAMES:
        assert sorted(scalars[f"loss/{name}"]) == [2, 4, 6, 8], name
    info = {i.step: i for i in runs.infos}
    for step in (2, 4, 6, 8):
        assert scalars["loss/generator"][step] == pytest.approx(info[step].losses["generator"], rel=1e-6)
        assert scalars["learning_rate"][step] == pytest.approx(info[step].learning_rate, rel=1e-6)
    assert sorted(images) == [4, 8]
    width, height, png = images[8][:3]
    grid = tf.io.decode_png(png).numpy()
    assert (int(width), int(height)) == (96, 64) and grid.shape == (64, 96, 3)  # 2 rows x 3 images of 32 px


def test_losses_fall_on_digits(shared_data, tmp_path):
    """40 steps on the full digits sets (500 images each, so no epoch end): losses go down."""
    infos = []
    digits = shared_data / "unpaired" / "digits"
    config = config_lib.tiny(domain_a=str(digits / "A"), domain_b=str(digits / "B"), model_dir=str(tmp_path),
                             max_steps=40, checkpoint_every_steps=1000, image_every_steps=1000,
                             log_every_steps=1000)
    trainer.train(config, callback=infos.append)
    losses = {name: np.array([i.losses[name] for i in infos]) for name in trainer.LOSS_NAMES}
    for name in ("generator", "cycle_aba", "cycle_bab", "gan_ab", "d_a", "d_b"):
        assert losses[name][-8:].mean() < 0.9 * losses[name][:8].mean(), name


# ---------------------------------------------------------------------------------------------
# Robustness
# ---------------------------------------------------------------------------------------------


def _state_checkpoint(config: TrainConfig):
    """A checkpoint object with the trainer's layout (models + step) to restore into."""
    models = trainer.build_models(config)
    step = tf.Variable(0, dtype=tf.int64)
    return tf.train.Checkpoint(step=step, **models), step


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(runs, tmp_path, caplog):
    model_dir = tmp_path / "run"
    shutil.copytree(runs.straight.model_dir, model_dir)
    directory = str(model_dir / "checkpoints")
    data = glob.glob(os.path.join(directory, "ckpt-8.data-*"))[0]
    with open(data, "r+b") as file:  # truncated by a crash mid-write
        file.truncate(os.path.getsize(data) // 2)
    checkpoint, step = _state_checkpoint(runs.config)
    with caplog.at_level(logging.WARNING, logger="tfstyle.training.rundir"):
        restored = RunDir(model_dir).restore(checkpoint)
    assert restored == os.path.join(directory, "ckpt-6") and int(step.numpy()) == 6
    assert "ckpt-8" in caplog.text and "trying the previous one" in caplog.text
    # Garbage index of ckpt-6 and a damaged state file: still finds ckpt-5 by scanning the folder.
    with open(os.path.join(directory, "ckpt-6.index"), "wb") as file:
        file.write(b"\x00garbage" * 10)
    with open(os.path.join(directory, "checkpoint"), "w") as file:
        file.write("model_checkpoint_path: {{{")
    checkpoint, step = _state_checkpoint(runs.config)
    assert RunDir(model_dir).restore(checkpoint) == os.path.join(directory, "ckpt-5")
    assert int(step.numpy()) == 5
    for path in glob.glob(os.path.join(directory, "ckpt-5.data-*")):
        os.truncate(path, 10)
    with pytest.raises(ValueError, match="no checkpoint .* can be restored"):
        RunDir(model_dir).restore(_state_checkpoint(runs.config)[0])


def test_incompatible_config_is_refused_before_anything_changes(runs, tmp_path):
    model_dir = tmp_path / "run"
    shutil.copytree(runs.straight.model_dir, model_dir)
    before = sorted(os.listdir(model_dir / "checkpoints"))
    config = dataclasses.replace(runs.config, model_dir=str(model_dir), ngf=16, n_layers_d=3, max_steps=10)
    with pytest.raises(ValueError, match=r"ngf \(saved 8, now 16\).*n_layers_d \(saved 2, now 3\)"):
        trainer.train(config)
    assert sorted(os.listdir(model_dir / "checkpoints")) == before
    assert config_lib.load_config(model_dir).ngf == 8


def test_bad_data_fails_before_writing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hello")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "photo.jpg").write_text("not a jpeg")
    for a, error, message in [("empty", ValueError, "--domain_a: .*no image"),
                              ("text", ValueError, "--domain_a: .*no image"),
                              ("fake", ValueError, "--domain_a: not an image"),
                              ("missing", FileNotFoundError, "--domain_a: no such directory")]:
        config = config_lib.tiny(domain_a=str(tmp_path / a), domain_b=str(tmp_path / "fake"),
                                 model_dir=str(tmp_path / "run"))
        with pytest.raises(error, match=message):
            trainer.train(config)
        assert not (tmp_path / "run").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        trainer.train(config_lib.tiny(domain_a="a", domain_b="b", model_dir=str(tmp_path / "file")))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(runs, tmp_path):
    model_dir = tmp_path / "run"
    shutil.copytree(runs.straight.model_dir, model_dir)
    before = sorted(os.listdir(model_dir / "checkpoints"))
    # An absurd learning rate (a warning-only change on resume) blows the weights up in one step.
    config = dataclasses.replace(runs.config, model_dir=str(model_dir), learning_rate=1e30, max_steps=10,
                                 checkpoint_every_steps=100)
    with pytest.raises(trainer.TrainingDiverged, match=r"not finite at step (9|10).*ckpt-8"):
        trainer.train(config)
    assert sorted(os.listdir(model_dir / "checkpoints")) == before
    values = _checkpoint_values(str(model_dir / "checkpoints" / "ckpt-8"))
    assert all(np.isfinite(v).all() for v in values.values() if v.dtype.kind == "f")


# ---------------------------------------------------------------------------------------------
# Slow: precision, XLA, tf.distribute
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("overrides, rtol", [
    (dict(jit=True), 1e-3),                 # XLA: same maths, other kernels (Adam's first steps amplify it)
    (dict(mixed_precision="bf16"), 0.05),   # 8-bit mantissa activations
    (dict(mixed_precision="fp16"), 0.05),   # works on CPU (slow kernels); loss scaling on
])
def test_xla_and_mixed_precision_match_float32(runs, two_domains, tmp_path, overrides, rtol):
    infos = []
    trainer.train(_config(two_domains, tmp_path, max_steps=3, **overrides), callback=infos.append)
    for info, reference in zip(infos, runs.infos[:3], strict=True):
        for name in trainer.LOSS_NAMES:
            assert np.isfinite(info.losses[name])
            np.testing.assert_allclose(info.losses[name], reference.losses[name], rtol=rtol, atol=rtol * 0.1,
                                       err_msg=f"{name} at step {info.step}")


_MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tfstyle import distribute
    from tfstyle.cyclegan import config as config_lib, trainer
    domain_a, domain_b, base = sys.argv[1:4]
    probe = tf.random.stateless_uniform([2, 32, 32, 3], seed=[1, 2], minval=-1.0, maxval=1.0)
    out = {}
    for name in ("one_device", "mirrored"):
        strategy = distribute.make_strategy(name)
        config = config_lib.tiny(domain_a=domain_a, domain_b=domain_b, model_dir=f"{base}/{name}", batch_size=2,
                                 max_steps=3, pool_size=50)
        result = trainer.train(config, strategy=strategy)
        models = trainer.build_models(config)  # the trained weights, read back by model
        tf.train.Checkpoint(**models).restore(result.checkpoint).expect_partial().assert_existing_objects_matched()
        arrays = {f"{key}/{v.path}": v.numpy() for key, model in models.items() for v in model.weights}
        arrays.update({f"output/{key}": model(probe).numpy() for key, model in models.items()})
        np.savez(f"{base}/{name}.npz", **arrays)
        out[name] = {"losses": result.losses, "replicas": strategy.num_replicas_in_sync}
    keras.utils.set_random_seed(config.seed)  # the weights before training, as train() builds them
    np.savez(f"{base}/initial.npz", **{f"{key}/{v.path}": v.numpy()
                                       for key, model in trainer.build_models(config).items() for v in model.weights})
    print("RESULT " + json.dumps(out))
""")


def _biases_before_instance_norm(models: dict) -> set[str]:
    """`<model>/<layer>/bias` of every layer whose output reaches an instance norm through crops only: the
    norm subtracts the per-channel mean, so their gradient is 0 in exact arithmetic and Adam's first steps
    (lr * g / (|g| + eps)) turn float rounding noise into updates of either sign."""
    import keras

    names = set()
    for key, model in models.items():
        for layer in model.layers:
            if not getattr(layer, "use_bias", False):
                continue
            following = layer
            while len(following._outbound_nodes) == 1:  # noqa: SLF001 - the functional graph's edges
                following = following._outbound_nodes[0].operation  # noqa: SLF001
                if not isinstance(following, keras.layers.Cropping2D):
                    break
            if isinstance(following, keras.layers.GroupNormalization):
                names.add(f"{key}/{layer.bias.path}")
    return names


@pytest.mark.slow
def test_mirrored_two_cpus_matches_one_device(two_domains, tmp_path):
    """Global batch 2: one device with batch 2 == two logical CPUs with 1 each (loss reduction,
    gradient all-reduce; the pools of 50 are still filling, so they pass the fakes through).

    Compared after 3 steps: the losses (1e-4 relative), the four models' outputs on a fixed batch
    (1e-3 absolute, outputs in [-1, 1]), and every weight that has a gradient in exact arithmetic:
    the discriminators' to 1e-6, the generators' to a tenth of how far training moved them (their
    gradients reach them through D and instance norms, ~1e-7, where Adam's eps makes the update
    sensitive to summation order).
    """
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED_SCRIPT)
    proc = helpers.run_script(script, two_domains / "A", two_domains / "B", tmp_path, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert (out["one_device"]["replicas"], out["mirrored"]["replicas"]) == (1, 2)
    for name in trainer.LOSS_NAMES:
        assert out["mirrored"]["losses"][name] == pytest.approx(out["one_device"]["losses"][name], rel=1e-4,
                                                                abs=1e-6)
    one, mirrored = np.load(tmp_path / "one_device.npz"), np.load(tmp_path / "mirrored.npz")
    initial = np.load(tmp_path / "initial.npz")
    models = trainer.build_models(config_lib.tiny())
    assert sorted(one.files) == sorted(mirrored.files)
    assert len(initial.files) == sum(len(model.weights) for model in models.values()) == len(one.files) - 4
    for key in models:
        np.testing.assert_allclose(mirrored[f"output/{key}"], one[f"output/{key}"], atol=1e-3, err_msg=key)
    noise_only = _biases_before_instance_norm(models)
    assert len(noise_only) == 2 * 9 + 2 * 2  # per generator: c7s1, d16, d32, 4 residual convs, u16, u8
    compared = [name for name in initial.files if name not in noise_only]
    for name in compared:
        moved = np.abs(one[name] - initial[name]).max()
        assert moved > 0, name  # training changed it, so the comparison means something
        tolerance = 1e-6 if name.startswith("discriminator") else 0.1 * moved
        np.testing.assert_allclose(mirrored[name], one[name], rtol=0, atol=tolerance, err_msg=name)
