"""Tests of the training core (`tfstyle.training.loop`) on a tiny task of its own, so that every trainer can rely
on it without CycleGAN.

The `Fit` task: one 3x3 convolution learning `1 - x` on 6 generated 8 px images (batch 2, so an epoch is 3
steps), with noise drawn from the run's RNG and a task-state counter of the examples seen. Each `train` call
traces a tiny step (~1-2 s on 2 CPU cores); one module fixture makes the shared runs.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import types
from typing import ClassVar

import helpers
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle.training import loop
from tfstyle.training.rundir import RunDir
from tfstyle.training.task import NONFINITE_GRADIENTS, Task, TaskState, average_loss, nonfinite_flag


@dataclasses.dataclass(frozen=True)
class FitConfig:
    INCOMPATIBLE_ON_RESUME: ClassVar[tuple[str, ...]] = ("filters", "examples", "batch_size", "size")
    FREE_ON_RESUME: ClassVar[tuple[str, ...]] = ("model_dir", "max_steps", "keep_checkpoints",
                                                 "checkpoint_every_steps", "log_every_steps", "image_every_steps")

    model_dir: str = ""
    examples: int = 6
    batch_size: int = 2
    size: int = 8
    filters: int = 3
    learning_rate: float = 0.05
    noise: float = 0.1
    epochs: int = 3
    seed: int = 0
    max_steps: int | None = None
    keep_checkpoints: int = 10
    checkpoint_every_steps: int = 100
    log_every_steps: int = 1
    image_every_steps: int = 2
    jit: bool = False
    strategy: str = "one_device"
    mixed_precision: str = "none"

    def validate(self) -> None:
        if not self.model_dir:
            raise ValueError("--model_dir is required")


class _Pipeline:
    """float32 [B, S, S, 3] in [0, 1]: fixed images, reshuffled per epoch by a stateless seed."""

    def __init__(self, config: FitConfig):
        self.config = config
        self.steps_per_epoch = config.examples // config.batch_size

    def dataset(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
        c = self.config
        images = tf.random.stateless_uniform([c.examples, c.size, c.size, 3], seed=[c.seed, 0])
        order = tf.argsort(tf.random.stateless_uniform([c.examples], seed=[c.seed, epoch + 1]))
        dataset = tf.data.Dataset.from_tensor_slices(tf.gather(images, order))
        return dataset.batch(c.batch_size, drop_remainder=True).skip(skip_batches)


class FitTask(Task):
    name = "fit"

    def input_pipeline(self):
        return _Pipeline(self.config)

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.config.epochs * steps_per_epoch

    def build(self, steps_per_epoch, rng):
        c = self.config
        model = keras.Sequential([keras.Input((c.size, c.size, 3)), keras.layers.Conv2D(c.filters, 3, padding="same")],
                                 name="fit")
        self.rng = rng
        seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="seen",
                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        # A schedule, not a float: a float rate is a variable the checkpoint restores, so a resumed
        # run would keep the saved rate whatever the config says.
        rate = keras.optimizers.schedules.ExponentialDecay(c.learning_rate, decay_steps=steps_per_epoch,
                                                           decay_rate=0.9)
        return TaskState(models={"model": model}, optimizers={"optimizer": keras.optimizers.Adam(rate)},
                         trainable={"optimizer": model.trainable_variables}, extra={"seen": seen})

    def make_replica_step(self, state):
        model, optimizer = state.models["model"], state.optimizers["optimizer"]
        seen, noise, rng = state.extra["seen"], self.config.noise, self.rng

        def replica_step(images):
            noisy = images + noise * rng.normal(tf.shape(images))
            with tf.GradientTape() as tape:
                per_example = tf.reduce_mean(tf.square(model(noisy, training=True) - (1.0 - images)), axis=[1, 2, 3])
                loss = self.average_loss(per_example)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
            seen.assign_add(tf.cast(tf.shape(images)[0], tf.int64))
            return {"mse": loss, NONFINITE_GRADIENTS: nonfinite_flag(gradients)}

        return replica_step

    def make_image_summaries(self, state):
        model = state.models["model"]

        def summaries(images):
            return {"prediction": tf.clip_by_value(tf.concat([images, model(images)], axis=2), 0.0, 1.0)}

        return summaries


def _train(config: FitConfig, **kwargs) -> loop.TrainResult:
    return loop.train(FitTask(config), strategy=tf.distribute.OneDeviceStrategy("/cpu:0"), **kwargs)


def _checkpoint_values(path: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("save_counter") and "OBJECT_GRAPH" not in name}


def _names(model_dir: str) -> list[str]:
    return [os.path.basename(path) for path in RunDir(model_dir).checkpoints()]


def _copy_run(source: str, destination) -> str:
    shutil.copytree(source, destination)
    return str(destination)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """straight: 5 steps in one call; split: 2 steps, then on to 5 (across the epoch end at 3)."""
    base = tmp_path_factory.mktemp("fit")
    infos, first_infos, second_infos = [], [], []
    straight = _train(FitConfig(model_dir=str(base / "straight"), max_steps=5), callback=infos.append)
    first = _train(FitConfig(model_dir=str(base / "split"), max_steps=2), callback=first_infos.append)
    first_values = _checkpoint_values(first.checkpoint)
    second = _train(FitConfig(model_dir=str(base / "split"), max_steps=5), callback=second_infos.append)
    return types.SimpleNamespace(straight=straight, first=first, second=second, infos=infos,
                                 first_infos=first_infos, second_infos=second_infos, first_values=first_values,
                                 base=base)


def test_resume_is_exact_across_an_epoch_end(runs):
    """2 + 3 steps == 5 steps: weights, Adam slots, RNG state, step and task state all equal, bit for bit."""
    assert (runs.first.step, runs.second.step, runs.second.epoch) == (2, 5, 1)
    assert runs.second.resumed_from == runs.first.checkpoint and runs.first.checkpoint.endswith("ckpt-2")
    straight, split = _checkpoint_values(runs.straight.checkpoint), _checkpoint_values(runs.second.checkpoint)
    assert sorted(straight) == sorted(split)
    # (A variable is stored once, under its first path: the conv's kernel and bias appear as
    # optimizer/_trainable_variables/*, beside the Adam moments and iteration count.)
    groups = {name.split("/")[0] for name in straight}
    assert groups == {"optimizer", "rng", "seen", "step"}
    assert sum("_trainable_variables" in name for name in straight) == 2
    assert sum(name.startswith("optimizer/_variables/") for name in straight) == 4  # 2 moments x 2 variables
    for name in straight:
        np.testing.assert_array_equal(straight[name], split[name], err_msg=name)
    assert int(straight["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 5
    assert int(straight["seen/.ATTRIBUTES/VARIABLE_VALUE"]) == 10
    # The RNG moved and so did the weights (the comparison above is not between two untouched states).
    first = runs.first_values
    assert not np.array_equal(first["rng/_state_var/.ATTRIBUTES/VARIABLE_VALUE"],
                              straight["rng/_state_var/.ATTRIBUTES/VARIABLE_VALUE"])
    assert all(not np.array_equal(first[n], straight[n]) for n in first if "_trainable_variables" in n)
    # The resumed run saw the same batches: its losses are the straight run's steps 3-5.
    assert [i.losses for i in runs.second_infos] == [i.losses for i in runs.infos[2:]]


def test_step_infos_checkpoints_config_and_results(runs):
    infos = runs.infos
    assert [i.step for i in infos] == [1, 2, 3, 4, 5]
    assert [i.epoch for i in infos] == [0, 0, 0, 1, 1]
    assert {(i.steps_per_epoch, i.end_step) for i in infos} == {(3, 5)}
    # The optimiser's own schedule at the step before the update: 0.05 * 0.9 ** ((step - 1) / 3).
    np.testing.assert_allclose([i.learning_rate for i in infos], [0.05 * 0.9 ** (s / 3) for s in range(5)], rtol=1e-6)
    assert [i.elapsed_s for i in infos] == sorted(i.elapsed_s for i in infos) and infos[0].elapsed_s > 0
    assert all(set(i.losses) == {"mse"} and np.isfinite(i.losses["mse"]) for i in infos)  # flag not reported
    assert infos[-1].losses["mse"] < infos[0].losses["mse"]
    straight = runs.straight
    assert (straight.step, straight.epoch, straight.stopped, straight.resumed_from) == (5, 1, "max_steps", None)
    assert straight.losses == infos[-1].losses
    # Saved at the epoch end (3) and where the run stopped (5); every 100 steps otherwise.
    assert _names(straight.model_dir) == ["ckpt-5", "ckpt-3"]
    assert straight.checkpoint == os.path.join(straight.model_dir, "checkpoints", "ckpt-5")
    run_dir = RunDir(straight.model_dir)
    assert run_dir.task() == "fit"
    assert run_dir.load_config(FitConfig, task="fit") == FitConfig(model_dir=straight.model_dir, max_steps=5)


def test_tensorboard_scalars_and_task_images(runs):
    scalars, images = {}, {}
    for path in glob.glob(os.path.join(runs.straight.model_dir, "logs", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    images.setdefault(value.tag, []).append(event.step)
                    width, height, png = tf.make_ndarray(value.tensor)[:3]
                    assert (int(width), int(height)) == (16, 8)  # image | prediction, 8 px each
                    assert tf.io.decode_png(png).shape == (8, 16, 3)
                else:
                    scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    assert sorted(scalars["loss/mse"]) == [1, 2, 3, 4, 5]
    for info in runs.infos:
        assert scalars["loss/mse"][info.step] == pytest.approx(info.losses["mse"], rel=1e-6)
        assert scalars["learning_rate"][info.step] == pytest.approx(info.learning_rate, rel=1e-6)
    assert sorted(scalars["images_per_second"]) == [1, 2, 3, 4, 5]
    assert sorted(images) == ["prediction"] and sorted(images["prediction"]) == [2, 4]
    assert NONFINITE_GRADIENTS not in {tag.split("/")[-1] for tag in scalars}


def test_max_steps_counts_across_resumes_then_the_schedule_completes(runs, tmp_path):
    model_dir = _copy_run(runs.second.model_dir, tmp_path / "run")
    infos = []
    again = _train(FitConfig(model_dir=model_dir, max_steps=5), callback=infos.append)
    assert (again.step, again.stopped, again.losses, infos) == (5, "max_steps", {}, [])
    assert again.resumed_from.endswith("ckpt-5") and again.checkpoint == again.resumed_from
    done = _train(FitConfig(model_dir=model_dir), callback=infos.append)  # 3 epochs x 3 steps
    assert (done.step, done.epoch, done.stopped) == (9, 3, "completed")
    assert [i.step for i in infos] == [6, 7, 8, 9] and {i.end_step for i in infos} == {9}
    assert _names(model_dir)[:2] == ["ckpt-9", "ckpt-6"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_finishes_the_step_saves_and_returns(tmp_path, signum):
    previous = signal.getsignal(signum)
    steps = []

    def callback(info):
        steps.append(info.step)
        if info.step == 2:
            os.kill(os.getpid(), signum)  # delivered now, while the loop's handler is installed

    result = _train(FitConfig(model_dir=str(tmp_path)), callback=callback)
    assert (result.step, result.stopped, steps) == (2, signal.Signals(signum).name, [1, 2])
    assert result.checkpoint == str(tmp_path / "checkpoints" / "ckpt-2")
    assert int(_checkpoint_values(result.checkpoint)["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 2
    assert signal.getsignal(signum) is previous  # the loop's handler is gone


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(runs, tmp_path, caplog):
    model_dir = _copy_run(runs.straight.model_dir, tmp_path / "run")
    # An absurd learning rate (a warning-only change on resume): update 6 (saved: an epoch end)
    # throws the weights to ~1e30, so the loss of step 7 overflows to inf.
    config = FitConfig(model_dir=model_dir, learning_rate=1e30, max_steps=9)
    with caplog.at_level(logging.WARNING, logger="tfstyle.training.loop"), \
            pytest.raises(loop.TrainingDiverged, match=r"not finite at step 7 \(mse=inf\).* checkpoint: .*/ckpt-6\."):
        _train(config)
    assert "resuming with learning_rate=1e+30 (the run started with 0.05)" in caplog.text
    assert _names(model_dir) == ["ckpt-6", "ckpt-5", "ckpt-3"]  # nothing of step 7
    values = _checkpoint_values(os.path.join(model_dir, "checkpoints", "ckpt-6"))
    assert all(np.isfinite(v).all() for v in values.values() if v.dtype.kind == "f")


class _GradientsGoBad(FitTask):
    """FitTask whose step flags non-finite gradients from the second update on (the loss stays finite)."""

    def make_replica_step(self, state):
        fit_step, seen = super().make_replica_step(state), state.extra["seen"]

        def replica_step(images):
            values = fit_step(images)
            values[NONFINITE_GRADIENTS] = tf.cast(seen >= 4, tf.float32)  # seen: 2 after update 1, 4 after 2
            return values

        return replica_step


def test_nonfinite_gradient_flag_stops_even_with_a_finite_loss(tmp_path):
    steps = []
    with pytest.raises(loop.TrainingDiverged, match=r"not finite at step 2 \(gradients\).*checkpoint: none"):
        loop.train(_GradientsGoBad(FitConfig(model_dir=str(tmp_path))), strategy=tf.distribute.OneDeviceStrategy(
            "/cpu:0"), callback=lambda info: steps.append(info.step))
    assert steps == [1] and _names(str(tmp_path)) == []


def test_incompatible_config_or_another_task_is_refused_before_anything_changes(runs, tmp_path):
    model_dir = _copy_run(runs.straight.model_dir, tmp_path / "run")
    before = {path: os.path.getmtime(path) for path in glob.glob(os.path.join(model_dir, "**"), recursive=True)}
    config = FitConfig(model_dir=model_dir, filters=4, size=12, learning_rate=0.1, max_steps=7)
    with pytest.raises(ValueError, match=r"different size \(saved 8, now 12\), filters \(saved 3, now 4\): "):
        _train(config)
    other = FitTask(FitConfig(model_dir=model_dir, max_steps=7))
    other.name = "other"
    with pytest.raises(ValueError, match="holds a fit run, not a other run"):
        loop.train(other, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"))
    after = {path: os.path.getmtime(path) for path in glob.glob(os.path.join(model_dir, "**"), recursive=True)}
    assert after == before
    assert RunDir(model_dir).load_config(FitConfig, task="fit").filters == 3


def test_corrupt_latest_checkpoint_falls_back_and_resumes_exactly(runs, tmp_path, caplog):
    model_dir = _copy_run(runs.straight.model_dir, tmp_path / "run")
    for path in glob.glob(os.path.join(model_dir, "checkpoints", "ckpt-5.data-*")):
        os.truncate(path, os.path.getsize(path) // 2)  # a crash mid-write
    infos = []
    with caplog.at_level(logging.WARNING, logger="tfstyle.training.rundir"):
        result = _train(FitConfig(model_dir=model_dir, max_steps=5), callback=infos.append)
    assert "ckpt-5" in caplog.text and "trying the previous one" in caplog.text
    assert result.resumed_from == os.path.join(model_dir, "checkpoints", "ckpt-3")
    assert [i.step for i in infos] == [4, 5]
    assert [i.losses for i in infos] == [i.losses for i in runs.infos[3:]]  # steps 4, 5 redone identically


def test_average_loss_divides_by_the_global_batch_and_the_flag_sees_nan():
    per_example = tf.constant([1.0, 2.0, 6.0])
    assert float(average_loss(per_example, global_batch_size=6)) == pytest.approx(1.5)
    assert float(average_loss(tf.constant([1.0, 3.0], tf.float16), global_batch_size=4)) == pytest.approx(1.0)
    assert float(nonfinite_flag([tf.ones(3), None, tf.zeros([2, 2])])) == 0.0
    assert float(nonfinite_flag([tf.ones(3), tf.constant([0.0, np.nan])])) == 1.0
    assert float(nonfinite_flag([tf.constant([np.inf])])) == 1.0


def test_task_state_rejects_reserved_or_repeated_checkpoint_keys():
    variable = tf.Variable(0)
    optimizer = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="reserved by the core: step"):
        TaskState(models={}, optimizers={"optimizer": optimizer}, trainable={"optimizer": []},
                  extra={"step": variable})
    with pytest.raises(ValueError, match="used twice or reserved by the core: optimizer"):
        TaskState(models={"optimizer": keras.Sequential()}, optimizers={"optimizer": optimizer},
                  trainable={"optimizer": []})
    with pytest.raises(ValueError, match="must name the same optimisers"):
        TaskState(models={}, optimizers={"optimizer": optimizer}, trainable={"other": []})


_WORKER_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from tfstyle import distribute
    strategy = distribute.make_strategy("multi_worker")  # before any other TensorFlow work
    sys.path.insert(0, sys.argv[2])
    import test_training_loop as tests
    from tfstyle.training import loop
    config = tests.FitConfig(model_dir=sys.argv[1], max_steps=4, strategy="multi_worker", noise=0.0)
    result = loop.train(tests.FitTask(config), strategy=strategy)
    print("RESULT " + json.dumps({"step": result.step, "stopped": result.stopped, "checkpoint": result.checkpoint,
                                  "replicas": strategy.num_replicas_in_sync, "losses": result.losses}))
""")


@pytest.mark.slow
def test_multi_worker_chief_writes_and_the_other_worker_cleans_up(tmp_path, free_ports):
    """Two workers on localhost (TF_CONFIG): the same steps and losses on both, checkpoints, logs and config
    from the chief only, the other worker's scratch checkpoints (saving is collective) removed at the end."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER_SCRIPT)
    model_dir = tmp_path / "run"
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    procs, logs = [], [tmp_path / f"worker{index}.log" for index in range(2)]
    for index, log_path in enumerate(logs):
        env = helpers.env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        with open(log_path, "w") as log:  # the child keeps its own handle
            procs.append(subprocess.Popen([sys.executable, str(script), str(model_dir), str(helpers.REPO / "tests")],
                                          stdout=log, stderr=subprocess.STDOUT, text=True, env=env))
    try:
        codes = [proc.wait(timeout=300) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    outputs = [log_path.read_text() for log_path in logs]
    assert codes == [0, 0], "\n".join(output[-2000:] for output in outputs)
    chief, other = (json.loads(output.split("RESULT ", 1)[1].splitlines()[0]) for output in outputs)
    assert (chief["step"], other["step"], chief["replicas"], chief["stopped"]) == (4, 4, 2, "max_steps")
    assert chief["losses"] == other["losses"]
    assert chief["checkpoint"] == str(model_dir / "checkpoints" / "ckpt-4") and other["checkpoint"] is None
    assert _names(str(model_dir)) == ["ckpt-4", "ckpt-3"]  # the epoch end and the stop
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "config.json", "logs"]  # no .worker-* left
    assert RunDir(model_dir).task() == "fit"
    assert len(glob.glob(str(model_dir / "logs" / "events.*"))) == 1
