"""The training loop every tfstyle trainer runs on: `train(task, strategy, callback) -> TrainResult`.

Given a `tfstyle.training.task.Task` (models, optimisers, extra state, a per-replica step, an input
pipeline, a config), the loop:

* builds the state inside `strategy.scope()` under the config's dtype policy, with the core's
  step counter (int64) and RNG (`tf.random.Generator.from_seed(config.seed)`) beside the task's
  objects in one `tf.train.Checkpoint` (keys: `step`, `rng`, and the task's names);
* runs one `tf.function` around `strategy.run(replica_step)`, summing the replicas' values (each
  already divided by the global batch, so the sum is the global mean);
* saves through a `tf.train.CheckpointManager` every `checkpoint_every_steps` steps, at every
  epoch end and when the run stops; `max_steps` is a global step, so it holds across resumes;
* resumes exactly: the newest readable checkpoint (`RunDir.restore`, falling back past corrupt
  ones) gives the step, optimiser slots (built before the restore), RNG and task state, and the
  epoch position comes from `divmod(step, steps_per_epoch)` through the pipeline's `skip_batches`;
* refuses to resume with an incompatible config, naming the fields (the config class's
  `INCOMPATIBLE_ON_RESUME`), and warns about other changed fields (except `FREE_ON_RESUME`);
* on SIGINT/SIGTERM finishes the step, saves and returns (`stopped` = the signal's name); under
  a multi-worker cluster uses `tf.distribute.experimental.PreemptionCheckpointHandler` instead,
  and non-chief workers save into `RunDir.worker_checkpoint_dir`, removed at the end;
* stops with `TrainingDiverged` when a loss (or the task's non-finite-gradient flag) is NaN/Inf,
  before saving anything of that step: the last good checkpoint is kept;
* writes TensorBoard scalars (`loss/<name>` for every value the step returns, `learning_rate`,
  `images_per_second`) every `log_every_steps` and the task's image grids every
  `image_every_steps`, on the chief only, into `RunDir.log_dir`;
* reports a `StepInfo` to `callback` after every step (CLIs turn it into a progress bar).

config.json is written through `RunDir.save_config(config, task=task.name)` once the run is known
to start (a failed start leaves the folder as it was).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable

import keras
import tensorflow as tf

from tfstyle import distribute, files
from tfstyle.training.rundir import RunDir
from tfstyle.training.task import NONFINITE_GRADIENTS, Task, TaskState

logger = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """A loss (or a gradient) became NaN or Inf; nothing from the bad step was saved."""


class CheckpointWriteFailed(RuntimeError):
    """A checkpoint could not be written (disk full, folder read-only, ...); the message names the cause and the
    last checkpoint that was saved, from which rerunning the same command resumes."""


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """What the loop reports to `callback` after every step.

    Attributes:
        step: global step count after this update (1 for the first update of a fresh run).
        epoch: 0-based epoch the step belonged to.
        steps_per_epoch: steps in one epoch.
        end_step: step at which this run stops (schedule end or `max_steps`).
        losses: value name -> float, as the task's step returns them (global means).
        learning_rate: learning rate used for this step.
        images_per_second: throughput of this run so far (examples of the global batch per
            second), not counting the first (tracing) step.
        elapsed_s: seconds since this run started its first step.
    """

    step: int
    epoch: int
    steps_per_epoch: int
    end_step: int
    losses: dict
    learning_rate: float
    images_per_second: float
    elapsed_s: float


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Where a `train` call ended.

    Attributes:
        model_dir: the run folder (absolute).
        step: global step reached.
        epoch: epochs completed (step // steps_per_epoch).
        losses: last step's losses ({} if no step ran).
        checkpoint: path prefix of the latest checkpoint, or None (and None on non-chief workers).
        stopped: "completed" (schedule done), "max_steps", "SIGTERM", "SIGINT" or "preempted".
        resumed_from: checkpoint restored at the start, or None for a fresh run.
    """

    model_dir: str
    step: int
    epoch: int
    losses: dict
    checkpoint: str | None
    stopped: str
    resumed_from: str | None


@dataclasses.dataclass
class Built:
    """A task's state and its distributed step, as `build` makes them.

    Attributes:
        state: the task's `TaskState`.
        step: the core's int64 step counter (incremented by `train_step`).
        rng: the run's `tf.random.Generator`.
        checkpoint: `tf.train.Checkpoint(step=, rng=, **state.checkpointed())`.
        train_step: tf.function(global batch as per-replica values) -> {name: float32 scalar},
            the replicas' values summed.
    """

    state: TaskState
    step: tf.Variable
    rng: tf.random.Generator
    checkpoint: tf.train.Checkpoint
    train_step: Callable


def build(task: Task, strategy: tf.distribute.Strategy, steps_per_epoch: int) -> Built:
    """Builds a task's state and distributed train step as `train` does (benchmarks time this very step).

    Everything is created inside `strategy.scope()` under `config.mixed_precision`'s dtype policy;
    optimiser slots are built here, so that a restore matches them at once. Seed Keras
    (`keras.utils.set_random_seed`) before calling for reproducible weights.
    """
    config = task.config
    with distribute.dtype_policy(config.mixed_precision), strategy.scope():
        rng = tf.random.Generator.from_seed(config.seed)
        state = task.build(steps_per_epoch, rng)
        for name, optimizer in state.optimizers.items():
            optimizer.build(list(state.trainable[name]))
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        checkpoint = tf.train.Checkpoint(step=step, rng=rng, **state.checkpointed())
        train_step = make_train_step(task.make_replica_step(state), strategy, step, jit=config.jit)
    return Built(state=state, step=step, rng=rng, checkpoint=checkpoint, train_step=train_step)


def make_train_step(replica_step: Callable, strategy: tf.distribute.Strategy, step: tf.Variable,
                    jit: bool = False) -> Callable:
    """One tf.function: `replica_step(batch)` on every replica, `step += 1`, values summed over replicas.

    The function takes the batch rather than an iterator, which keeps one trace for every epoch's
    new iterator. With `jit`, the replica step is compiled with XLA.
    """
    if jit:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        step.assign_add(1)
        # Each replica's value is already divided by the global batch: the sum is the mean.
        return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    return train_step


# ---------------------------------------------------------------------------------------------
# Resume check
# ---------------------------------------------------------------------------------------------


def resume_differences(saved, current) -> tuple[list[str], list[str]]:
    """Compares the config of an existing run with the one about to resume it.

    Returns:
        (incompatible, changed): names of differing fields, in field order, that forbid resuming
        (the class's `INCOMPATIBLE_ON_RESUME`), and of other differing fields worth a warning
        (all but `FREE_ON_RESUME`).
    """
    config_cls = type(current)
    incompatible_names = set(getattr(config_cls, "INCOMPATIBLE_ON_RESUME", ()))
    free_names = set(getattr(config_cls, "FREE_ON_RESUME", ())) | {"model_dir", "max_steps"}
    incompatible, changed = [], []
    for field in dataclasses.fields(config_cls):
        name = field.name
        if name in free_names or getattr(saved, name) == getattr(current, name):
            continue
        (incompatible if name in incompatible_names else changed).append(name)
    return incompatible, changed


def check_resume(config, run_dir: RunDir, task_name: str) -> None:
    """Raises ValueError if `run_dir` holds a run that `config` cannot continue (another task, or
    incompatible fields, each named with its saved and current value); logs the other changes."""
    if not run_dir.has_config():
        return
    saved = run_dir.load_config(type(config), task=task_name)
    incompatible, changed = resume_differences(saved, config)
    if incompatible:
        details = ", ".join(f"{name} (saved {getattr(saved, name)!r}, now {getattr(config, name)!r})"
                            for name in incompatible)
        raise ValueError(
            f"--model_dir {run_dir.path} holds a run with a different {details}: resume with the saved values "
            "or use a new --model_dir"
        )
    for name in changed:
        logger.warning("resuming with %s=%r (the run started with %r)", name, getattr(config, name),
                       getattr(saved, name))


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------


class _StopFlag:
    """Catches SIGTERM/SIGINT while installed: the loop finishes the step, saves and returns.
    A second signal restores the previous handlers, so a third one acts at once."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    def _handler(self, signum, frame):
        name = signal.Signals(signum).name
        if self.signal_name is None:
            self.signal_name = name
            logger.warning("%s received: finishing the current step and saving a checkpoint", name)
        else:
            logger.warning("%s received again: next one stops at once", name)
            self.uninstall()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handler)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


class _Preempted(Exception):
    """Raised by the PreemptionCheckpointHandler's exit_fn after it saved a checkpoint."""


def _check_finite(values: dict[str, float], step: int, latest: str | None) -> None:
    bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
    if values.pop(NONFINITE_GRADIENTS, 0.0):
        bad = bad or "gradients"
    if bad:
        kept = latest or "none (no checkpoint was written yet)"
        raise TrainingDiverged(
            f"loss is not finite at step {step} ({bad}); stopped without saving it. "
            f"Last good checkpoint: {kept}. Try a lower --learning_rate or --mixed_precision=none."
        )


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def train(task: Task, strategy: tf.distribute.Strategy | None = None,
          callback: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Trains (or resumes) `task` in `task.config.model_dir`.

    Args:
        task: the trainer (see `tfstyle.training.task`); its config is validated here.
        strategy: a tf.distribute strategy; default `distribute.make_strategy(config.strategy)`.
            For MultiWorkerMirroredStrategy create it at program start and pass it in.
        callback: called with a `StepInfo` after every step (progress bars, notebooks).

    Returns:
        A `TrainResult`. The run stops at `config.max_steps` (a global step count, so a resumed
        run continues to the same total), at `task.total_steps`, or after SIGTERM/SIGINT (step
        finished, checkpoint saved).

    Raises:
        ValueError / FileNotFoundError / PermissionError: bad config, data or model_dir (names
            the bad value), including resuming with an incompatible config or another task's run.
        TrainingDiverged: a loss became NaN/Inf; the last good checkpoint is kept.
    """
    config = task.config
    config.validate()
    if strategy is None:
        strategy = distribute.make_strategy(config.strategy)
    run_dir = RunDir(config.model_dir)
    cluster = distribute.cluster_task(strategy)
    multi_worker = distribute.is_multi_worker(strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size {config.batch_size} is not a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas")
    run_dir.check_writable()
    check_resume(config, run_dir, task.name)
    pipeline = task.input_pipeline()  # reads the data: bad input fails before anything is written
    spe = pipeline.steps_per_epoch
    total_steps = task.total_steps(spe)
    end_step = total_steps if config.max_steps is None else min(total_steps, config.max_steps)
    # Non-chief workers must save too (saving is collective) but never into the chief's folder.
    write_dir = run_dir.checkpoint_dir if cluster.is_chief else \
        run_dir.worker_checkpoint_dir(cluster.task_type, cluster.task_id)

    keras.utils.set_random_seed(config.seed)
    built = build(task, strategy, spe)
    state = built.state
    images = task.make_image_summaries(state)

    resumed_from = run_dir.restore(built.checkpoint)
    step = start_step = int(built.step.numpy())
    if resumed_from:
        logger.info("resumed from %s at step %d (epoch %d)", resumed_from, step, step // spe)
    if cluster.is_chief:  # written once the run is known to start
        run_dir.save_config(config, task=task.name)
    os.makedirs(write_dir, exist_ok=True)
    manager = tf.train.CheckpointManager(built.checkpoint, write_dir, max_to_keep=config.keep_checkpoints)
    latest = resumed_from

    def save() -> str:
        nonlocal latest
        number = int(built.step.numpy())
        try:
            saved = manager.save(checkpoint_number=number)
        except tf.errors.OpError as error:
            # TensorFlow writes into ckpt-<N>_temp and renames it at the end: a failed write leaves only that.
            shutil.rmtree(os.path.join(write_dir, f"ckpt-{number}_temp"), ignore_errors=True)
            previous = f"the last saved one is {os.path.basename(latest)}" if latest else "none was saved before"
            cause = files.write_failure_cause(error.message)
            raise CheckpointWriteFailed(
                f"cannot write checkpoint ckpt-{number} in {write_dir}: {cause}; {previous}: free space (or make "
                "the folder writable) and rerun the same command to resume") from None
        latest = saved
        logger.info("saved %s", latest)
        return latest

    preemption = None
    if multi_worker:
        def exit_fn():
            raise _Preempted()

        preemption = tf.distribute.experimental.PreemptionCheckpointHandler(
            strategy.cluster_resolver, manager,
            termination_config=tf.distribute.experimental.TerminationConfig(exit_fn=exit_fn, save_fn=save),
        )

    writer = tf.summary.create_file_writer(run_dir.log_dir) if cluster.is_chief \
        else tf.summary.create_noop_writer()
    sample = next(iter(pipeline.dataset(0))) if cluster.is_chief and images is not None else None

    stop = _StopFlag()
    if not multi_worker:
        stop.install()
    stopped = "completed" if end_step == total_steps else "max_steps"
    last_losses: dict = {}
    saved_step = step if resumed_from else None
    first_step_done = first_step = None
    run_start = time.perf_counter()
    if step >= end_step:
        logger.info("nothing to do: step %d already reached the end step %d", step, end_step)
    try:
        while step < end_step and stop.signal_name is None:
            epoch, skip = divmod(step, spe)
            iterator = iter(strategy.experimental_distribute_dataset(pipeline.dataset(epoch, skip)))
            for _ in range(skip, spe):
                if step >= end_step or stop.signal_name is not None:
                    break
                batch = next(iterator)
                values = preemption.run(built.train_step, batch) if preemption else built.train_step(batch)
                values = {name: float(value) for name, value in values.items()}
                _check_finite(values, step + 1, latest)
                step += 1
                last_losses = values
                now = time.perf_counter()
                if first_step_done is None:
                    first_step_done, first_step = now, step
                if step > first_step:
                    rate = (step - first_step) * config.batch_size / (now - first_step_done)
                else:
                    rate = config.batch_size / max(now - run_start, 1e-9)
                learning_rate = state.learning_rate_at(step - 1)
                with writer.as_default(step=step):
                    if step % config.log_every_steps == 0 or step == end_step:
                        for name, value in values.items():
                            tf.summary.scalar(f"loss/{name}", value)
                        tf.summary.scalar("learning_rate", learning_rate)
                        tf.summary.scalar("images_per_second", rate)
                    if sample is not None and step % config.image_every_steps == 0:
                        for tag, grid in images(sample).items():
                            tf.summary.image(tag, grid, max_outputs=1)
                if callback is not None:
                    callback(StepInfo(
                        step=step, epoch=(step - 1) // spe, steps_per_epoch=spe, end_step=end_step,
                        losses=values, learning_rate=learning_rate, images_per_second=rate,
                        elapsed_s=now - run_start,
                    ))
                if step % config.checkpoint_every_steps == 0 or step % spe == 0:
                    save()
                    saved_step = step
        if stop.signal_name is not None:
            stopped = stop.signal_name
        if saved_step != step and step > start_step:
            save()
    except _Preempted:
        stopped = "preempted"
        step = int(built.step.numpy())
        logger.warning("preempted: checkpoint saved at step %d", step)
    finally:
        stop.uninstall()
        writer.close()
        if not cluster.is_chief:
            shutil.rmtree(os.path.dirname(write_dir), ignore_errors=True)
    if stopped in ("SIGTERM", "SIGINT"):
        logger.warning("stopped by %s at step %d; rerun the same command to resume", stopped, step)
    return TrainResult(model_dir=run_dir.path, step=step, epoch=step // spe, losses=last_losses,
                       checkpoint=latest if cluster.is_chief else None, stopped=stopped,
                       resumed_from=resumed_from)
