"""CycleGAN training loop under tf.distribute: `train(config, strategy, callback) -> TrainResult`.

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks". Code names -> paper names:

* `generator_ab` = G: X -> Y, `generator_ba` = F: Y -> X (domain A = X, domain B = Y);
* `discriminator_b` = D_Y (real B vs G(a)), `discriminator_a` = D_X (real A vs F(b));
* loss terms (per example, float32, reported unweighted):
  `gan_ab` = L_GAN(G, D_Y) generator side, `gan_ba` = L_GAN(F, D_X) generator side,
  `cycle_aba` = |F(G(a)) - a|_1, `cycle_bab` = |G(F(b)) - b|_1 (eq. 2),
  `identity_ab` = |G(b) - b|_1, `identity_ba` = |F(a) - a|_1 (section 5.2),
  `generator` = gan_ab + gan_ba + lambda (cycle_aba + cycle_bab)
                + lambda_identity * lambda (identity_ab + identity_ba)   (eq. 3 + identity),
  `d_a`, `d_b` = discriminator losses, already halved as in the paper (see `tfstyle.losses`).

One step, as in the reference implementation: generators forward, G and F updated together by
one Adam; then D_X and D_Y updated together by a second Adam on real images and on fakes drawn
from the history pools (the fakes of this step, before the generator update). Per-example losses
are averaged over the GLOBAL batch (`tf.nn.compute_average_loss`), so gradients summed over
replicas equal the single-device gradients.

Model-dir layout (read by translate/export): `config.json`, `checkpoints/` (CheckpointManager,
`ckpt-<step>`), `logs/` (TensorBoard).

Robustness: resume from the newest readable checkpoint (a truncated/corrupt one is skipped with a
warning), refusal to resume with an incompatible config, SIGTERM/SIGINT finish the step and
save, a NaN/Inf loss stops before anything is saved (`TrainingDiverged`), MultiWorker runs use
`tf.distribute.experimental.PreemptionCheckpointHandler` and non-chief workers write to a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import logging
import math
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable

import keras
import tensorflow as tf

from tfstyle import images, losses
from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan.config import TrainConfig

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
LOSS_NAMES = (
    "gan_ab", "gan_ba", "cycle_aba", "cycle_bab", "identity_ab", "identity_ba", "generator", "d_a", "d_b",
)
_NONFINITE_GRADIENTS = "nonfinite_gradients"  # replicas whose gradients held a NaN/Inf (0 when healthy)
_POLICIES = {"none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; nothing from the bad step was saved."""


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """What the trainer reports to `callback` after every step.

    Attributes:
        step: global step count after this update (1 for the first update of a fresh run).
        epoch: 0-based epoch the step belonged to.
        steps_per_epoch: steps in one epoch (max(|A|, |B|) / global batch).
        end_step: step at which this run stops (schedule end or `max_steps`).
        losses: loss name -> float, see the module docstring.
        learning_rate: learning rate used for this step.
        images_per_second: training throughput of this run so far (pairs / s, global batch),
            not counting the first (tracing) step.
        elapsed: seconds since this run started its first step.
    """

    step: int
    epoch: int
    steps_per_epoch: int
    end_step: int
    losses: dict
    learning_rate: float
    images_per_second: float
    elapsed: float


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Where a `train` call ended.

    Attributes:
        model_dir: the run folder.
        step: global step reached.
        epoch: epochs completed (step // steps_per_epoch).
        losses: last step's losses ({} if no step ran).
        checkpoint: path prefix of the latest checkpoint, or None.
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


# ---------------------------------------------------------------------------------------------
# Strategy and precision
# ---------------------------------------------------------------------------------------------


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Creates the tf.distribute strategy named by `--strategy`.

    auto: MirroredStrategy over all local GPUs if there are several, OneDeviceStrategy on the GPU
    if there is one, else OneDeviceStrategy on the CPU. one_device: the first GPU, else the CPU.
    mirrored: MirroredStrategy over all local GPUs (the CPU when there is none).
    multi_worker: MultiWorkerMirroredStrategy from TF_CONFIG; create it before any other
    TensorFlow work in the process. tpu: TPUStrategy on the TPU found by TPUClusterResolver.
    """
    # Physical devices: listing logical ones would start the runtime, after which
    # MultiWorkerMirroredStrategy can no longer configure its collectives.
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown --strategy {name!r}; expected one of {', '.join(config_lib.STRATEGIES)}")


@contextlib.contextmanager
def dtype_policy(mixed_precision: str):
    """Sets the Keras global dtype policy while models are built, then puts the old one back.

    "bf16" -> mixed_bfloat16, "fp16" -> mixed_float16 (variables stay float32, layers compute
    in 16 bits); "none" -> float32.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_POLICIES[mixed_precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _cluster_task(strategy) -> tuple[str | None, int | None, bool]:
    """(task_type, task_id, is_chief) of this process; single-process runs are the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, None, True
    task_type, task_id = resolver.task_type, resolver.task_id
    jobs = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in jobs)
    return task_type, task_id, chief


# ---------------------------------------------------------------------------------------------
# Building the state
# ---------------------------------------------------------------------------------------------


def build_models(config: TrainConfig) -> dict[str, keras.Model]:
    """The four networks of a run, named as in the checkpoint (`generator_ab`, ...)."""
    from tfstyle.cyclegan import models

    return {
        "generator_ab": models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ab"),
        "generator_ba": models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ba"),
        "discriminator_a": models.build_patch_discriminator(
            ndf=config.ndf, n_layers=config.n_layers_d, name="discriminator_a"),
        "discriminator_b": models.build_patch_discriminator(
            ndf=config.ndf, n_layers=config.n_layers_d, name="discriminator_b"),
    }


class TrainState:
    """Everything a checkpoint holds: the four models, both optimisers, the step counter, the RNG
    and the two image pools. Create inside `strategy.scope()` and the run's `dtype_policy`
    (`build_training` does both)."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int):
        from tfstyle.cyclegan.pool import ImagePool
        from tfstyle.cyclegan.schedule import LinearDecay

        self.models = build_models(config)
        self.generator_ab = self.models["generator_ab"]
        self.generator_ba = self.models["generator_ba"]
        self.discriminator_a = self.models["discriminator_a"]
        self.discriminator_b = self.models["discriminator_b"]
        self.schedule = LinearDecay(
            config.learning_rate,
            constant_steps=config.epochs * steps_per_epoch,
            decay_steps=config.decay_epochs * steps_per_epoch,
        )
        self.optimizer_g = self._optimizer(config, "optimizer_g")
        self.optimizer_d = self._optimizer(config, "optimizer_d")
        self.g_variables = self.generator_ab.trainable_variables + self.generator_ba.trainable_variables
        self.d_variables = self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables
        # Create the optimiser slots now, so that a restore matches them immediately (a lazily
        # built optimiser would silently drop its saved moments).
        self.optimizer_g.build(self.g_variables)
        self.optimizer_d.build(self.d_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.rng = tf.random.Generator.from_seed(config.seed)
        image_shape = (config.image_size, config.image_size, 3)
        self.pool_a = ImagePool(config.pool_size, image_shape, generator=self.rng, name="pool_a")
        self.pool_b = ImagePool(config.pool_size, image_shape, generator=self.rng, name="pool_b")
        self.checkpoint = tf.train.Checkpoint(
            generator_ab=self.generator_ab, generator_ba=self.generator_ba,
            discriminator_a=self.discriminator_a, discriminator_b=self.discriminator_b,
            optimizer_g=self.optimizer_g, optimizer_d=self.optimizer_d,
            step=self.step, pool_a=self.pool_a, pool_b=self.pool_b, rng=self.rng,
        )

    def _optimizer(self, config: TrainConfig, name: str):
        optimizer = keras.optimizers.Adam(self.schedule, beta_1=config.beta_1, name=name)
        if config.mixed_precision == "fp16":
            # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
            optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer, name=f"{name}_scaled")
        return optimizer

    def learning_rate(self, step: int) -> float:
        """Learning rate used by the update that took the counter from `step` to `step + 1`."""
        return float(self.schedule(step))


def make_train_step(state: TrainState, config: TrainConfig, strategy: tf.distribute.Strategy):
    """Returns the distributed train step: a tf.function taking the global batch `(real_a, real_b)`
    (per-replica values from a distributed dataset), running one update on every replica and
    returning the globally averaged losses (`LOSS_NAMES`, plus a non-finite-gradient flag)."""
    gan_generator_loss, gan_discriminator_loss = losses.GAN_LOSSES[config.gan_mode]
    lambda_cycle = config.lambda_cycle
    lambda_identity = config.lambda_identity * config.lambda_cycle
    global_batch = config.batch_size
    scaled = config.mixed_precision == "fp16"
    g_ab, g_ba = state.generator_ab, state.generator_ba
    d_a, d_b = state.discriminator_a, state.discriminator_b

    def average(per_example):  # [B_replica] -> scalar, divided by the GLOBAL batch
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    def f32(x):
        return tf.cast(x, tf.float32)

    def replica_step(real_a, real_b):
        # real_a, real_b: float32 [B_replica, H, W, 3] in [-1, 1].
        with tf.GradientTape() as tape:
            fake_b = f32(g_ab(real_a, training=True))      # G(a)
            cycled_a = f32(g_ba(fake_b, training=True))    # F(G(a))
            fake_a = f32(g_ba(real_b, training=True))      # F(b)
            cycled_b = f32(g_ab(fake_a, training=True))    # G(F(b))
            terms = {
                "gan_ab": gan_generator_loss(d_b(fake_b, training=True)),
                "gan_ba": gan_generator_loss(d_a(fake_a, training=True)),
                "cycle_aba": losses.cycle_loss(real_a, cycled_a),
                "cycle_bab": losses.cycle_loss(real_b, cycled_b),
            }
            generator = terms["gan_ab"] + terms["gan_ba"]
            generator += lambda_cycle * (terms["cycle_aba"] + terms["cycle_bab"])
            if lambda_identity > 0:
                terms["identity_ab"] = losses.identity_loss(real_b, g_ab(real_b, training=True))
                terms["identity_ba"] = losses.identity_loss(real_a, g_ba(real_a, training=True))
                generator += lambda_identity * (terms["identity_ab"] + terms["identity_ba"])
            else:
                terms["identity_ab"] = terms["identity_ba"] = tf.zeros_like(generator)
            terms["generator"] = generator
            g_loss = average(generator)
            g_objective = state.optimizer_g.scale_loss(g_loss) if scaled else g_loss
        g_grads = tape.gradient(g_objective, state.g_variables)
        state.optimizer_g.apply_gradients(zip(g_grads, state.g_variables, strict=True))

        # D sees real images and a mix of this step's and older fakes (paper section 4).
        pooled_a = state.pool_a(fake_a)
        pooled_b = state.pool_b(fake_b)
        with tf.GradientTape() as tape:
            terms["d_a"] = gan_discriminator_loss(d_a(real_a, training=True), d_a(pooled_a, training=True))
            terms["d_b"] = gan_discriminator_loss(d_b(real_b, training=True), d_b(pooled_b, training=True))
            d_loss = average(terms["d_a"] + terms["d_b"])
            d_objective = state.optimizer_d.scale_loss(d_loss) if scaled else d_loss
        d_grads = tape.gradient(d_objective, state.d_variables)
        state.optimizer_d.apply_gradients(zip(d_grads, state.d_variables, strict=True))
        values = {name: average(terms[name]) for name in LOSS_NAMES}
        if not scaled:  # fp16: the LossScaleOptimizer skips non-finite gradients by design
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in g_grads + d_grads])
            values[_NONFINITE_GRADIENTS] = 1.0 - tf.cast(finite, tf.float32)
        return values

    if config.jit:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def train_step(real_a, real_b):
        # real_a, real_b: the global batch, as per-replica values (tensors on one device). Taking
        # the batch rather than the iterator keeps one trace for every epoch's new iterator.
        per_replica = strategy.run(replica_step, args=(real_a, real_b))
        state.step.assign_add(1)
        # Each replica's value is already divided by the global batch: the sum is the mean.
        return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    return train_step


def build_training(config: TrainConfig, strategy: tf.distribute.Strategy,
                   steps_per_epoch: int) -> tuple[TrainState, Callable]:
    """The state and the train step of a run, built as `train` builds them (also used by
    `experiments/bench_cyclegan.py`, so the benchmark times the exact training step).

    Models, optimisers and pools are created under the run's mixed-precision policy inside
    `strategy.scope()`; the learning-rate schedule spans `steps_per_epoch` * (epochs + decay_epochs).

    Returns:
        (state, train_step): a `TrainState` and the tf.function of `make_train_step`.
    """
    with dtype_policy(config.mixed_precision), strategy.scope():
        state = TrainState(config, steps_per_epoch)
        train_step = make_train_step(state, config, strategy)
    return state, train_step


def _make_sampler(state: TrainState):
    """tf.function (a [1,H,W,3], b [1,H,W,3] in [-1,1]) -> float32 [1, 2H, 3W, 3] in [0, 1]:
    top row a, G(a), F(G(a)); bottom row b, F(b), G(F(b))."""

    @tf.function
    def sample(real_a, real_b):
        fake_b = tf.cast(state.generator_ab(real_a, training=False), tf.float32)
        fake_a = tf.cast(state.generator_ba(real_b, training=False), tf.float32)
        cycled_a = tf.cast(state.generator_ba(fake_b, training=False), tf.float32)
        cycled_b = tf.cast(state.generator_ab(fake_a, training=False), tf.float32)
        top = tf.concat([real_a, fake_b, cycled_a], axis=2)
        bottom = tf.concat([real_b, fake_a, cycled_b], axis=2)
        return images.from_signed(tf.concat([top, bottom], axis=1))

    return sample


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


class _Data:
    """The shared pipeline of `tfstyle.data`, seen as (steps_per_epoch, dataset(epoch, skip))."""

    def __init__(self, config: TrainConfig):
        from tfstyle import data

        self._data = data
        self._config = config
        if config.dataset:
            self.source = data.tfds_unpaired(config.dataset, data_dir=config.data_dir)
        else:
            self.source = tuple(self._folder(path, name) for path, name in ((config.domain_a, "--domain_a"),
                                                                           (config.domain_b, "--domain_b")))
        self.steps_per_epoch = data.steps_per_epoch(*map(len, self.source), batch_size=config.batch_size)

    def _folder(self, path: str, flag: str) -> list[str]:
        try:
            paths = self._data.folder_paths(path)
            self._data.validate_image_files(paths)  # headers only: a bad file fails now, not at step 1000
        except (ValueError, FileNotFoundError) as error:
            raise type(error)(f"{flag}: {error}") from None
        return paths

    def dataset(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
        """float32 ([B, S, S, 3], [B, S, S, 3]) in [-1, 1], B = global batch, for `epoch`, without
        its first `skip_batches` batches."""
        c = self._config
        return self._data.unpaired_dataset(
            *self.source, load_size=c.load_size, crop_size=c.image_size, batch_size=c.batch_size,
            seed=c.seed, epoch=epoch, skip_batches=skip_batches,
        )


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def _checkpoint_candidates(directory: str) -> list[str]:
    """Checkpoint prefixes in `directory`, newest first (from the state file, else the files)."""
    paths = []
    try:
        state = tf.train.get_checkpoint_state(directory)
        if state is not None:
            paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    except Exception as error:  # noqa: BLE001 - a damaged state file must not hide the checkpoints
        logger.warning("checkpoint state file in %s is unreadable (%s); looking for ckpt-* files", directory,
                       error)
    paths = [p if os.path.isabs(p) else os.path.join(directory, p) for p in paths]
    if not paths:
        found = glob.glob(os.path.join(directory, "ckpt-*.index"))
        paths = sorted((f[: -len(".index")] for f in found), key=_checkpoint_number)
    return paths[::-1]


def _checkpoint_number(prefix: str) -> int:
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


def restore_latest(checkpoint: tf.train.Checkpoint, directory: str) -> str | None:
    """Restores the newest readable checkpoint in `directory`; returns its path, or None if there
    is none. An unreadable (truncated, corrupt, incomplete) checkpoint is skipped with a warning.

    Raises:
        ValueError: checkpoints exist but none can be restored into `checkpoint`.
    """
    candidates = _checkpoint_candidates(directory)
    errors = []
    for path in candidates:
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as error:  # noqa: BLE001 - OpError, ValueError, IndexError ("Read less bytes"), ...
            message = " ".join(str(error).split())[:300]
            logger.warning("cannot restore checkpoint %s (%s): falling back to the previous one", path,
                           message)
            errors.append(f"{os.path.basename(path)}: {message}")
            continue
        return path
    if candidates:
        raise ValueError(f"no checkpoint in {directory} can be restored: {'; '.join(errors)}")
    return None


# ---------------------------------------------------------------------------------------------
# Model dir and config checks
# ---------------------------------------------------------------------------------------------


def _check_model_dir(model_dir: str) -> None:
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ValueError(f"--model_dir is not a directory: {model_dir}")
    existing = model_dir
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"--model_dir cannot be created under a file: {existing}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"--model_dir is not writable: {existing}")
    if os.path.isdir(model_dir) and not os.access(model_dir, os.R_OK):
        raise PermissionError(f"--model_dir is not readable: {model_dir}")


def _check_resume(config: TrainConfig, model_dir: str) -> None:
    """Raises ValueError if `model_dir` holds a run that `config` cannot continue."""
    if not os.path.exists(config_lib.config_path(model_dir)):
        return
    saved = config_lib.load_config(model_dir)
    incompatible, changed = config_lib.resume_differences(saved, config)
    if incompatible:
        details = ", ".join(f"{name} (saved {getattr(saved, name)!r}, now {getattr(config, name)!r})"
                            for name in incompatible)
        raise ValueError(
            f"--model_dir {model_dir} holds a run with a different {details}: resume with the saved values "
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
    A second signal restores the default handlers, so a third one kills at once."""

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


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def train(config: TrainConfig, strategy: tf.distribute.Strategy | None = None,
          callback: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Trains (or resumes) a CycleGAN run in `config.model_dir`.

    Args:
        config: the run's settings; validated here.
        strategy: a tf.distribute strategy; default `make_strategy(config.strategy)`. For
            MultiWorkerMirroredStrategy create it at program start and pass it in.
        callback: called with a `StepInfo` after every step (progress bars, notebooks).

    Returns:
        A `TrainResult`. The run stops at `config.max_steps` (a global step count, so a resumed
        run continues to the same total), at the end of the schedule, or after SIGTERM/SIGINT
        (step finished, checkpoint saved).

    Raises:
        ValueError / FileNotFoundError: bad config, data or model_dir (names the bad value),
            including resuming with an incompatible config.
        TrainingDiverged: a loss became NaN/Inf; the last good checkpoint is kept.
    """
    config.validate()
    if strategy is None:
        strategy = make_strategy(config.strategy)
    model_dir = os.path.abspath(config.model_dir)
    task_type, task_id, chief = _cluster_task(strategy)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and task_type is not None

    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size {config.batch_size} is not a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas")
    _check_model_dir(model_dir)
    _check_resume(config, model_dir)
    data = _Data(config)  # reads the folders: bad input fails before anything is written
    spe = data.steps_per_epoch
    total_steps = (config.epochs + config.decay_epochs) * spe
    end_step = total_steps if config.max_steps is None else min(total_steps, config.max_steps)

    read_dir = os.path.join(model_dir, CHECKPOINT_DIR)
    # Non-chief workers must save too (saving is collective) but never into the chief's folder.
    write_dir = read_dir if chief else os.path.join(model_dir, f".worker-{task_type}-{task_id}",
                                                    CHECKPOINT_DIR)

    keras.utils.set_random_seed(config.seed)
    state, train_step = build_training(config, strategy, spe)
    sample = _make_sampler(state)

    resumed_from = restore_latest(state.checkpoint, read_dir)
    step = start_step = int(state.step.numpy())
    if resumed_from:
        logger.info("resumed from %s at step %d (epoch %d)", resumed_from, step, step // spe)
    if chief:  # written once the run is known to start (a failed start leaves the folder as it was)
        config_lib.save_config(config, model_dir)
    os.makedirs(write_dir, exist_ok=True)
    manager = tf.train.CheckpointManager(state.checkpoint, write_dir, max_to_keep=config.keep_checkpoints)
    latest = resumed_from

    def save() -> str:
        nonlocal latest
        latest = manager.save(checkpoint_number=int(state.step.numpy()))
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

    writer = tf.summary.create_file_writer(os.path.join(model_dir, LOG_DIR)) if chief \
        else tf.summary.create_noop_writer()
    sample_pair = None
    if chief:
        sample_a, sample_b = next(iter(data.dataset(0)))
        sample_pair = (sample_a[:1], sample_b[:1])

    stop = _StopFlag()
    if not multi_worker:
        stop.install()
    stopped = "completed" if end_step == total_steps else "max_steps"
    last_losses: dict = {}
    saved_step = step if resumed_from else None
    first_step_done = None
    run_start = time.perf_counter()
    if step >= end_step:
        logger.info("nothing to do: step %d already reached the end step %d", step, end_step)
    try:
        while step < end_step and stop.signal_name is None:
            epoch, skip = divmod(step, spe)
            iterator = iter(strategy.experimental_distribute_dataset(data.dataset(epoch, skip)))
            for _ in range(skip, spe):
                if step >= end_step or stop.signal_name is not None:
                    break
                batch = next(iterator)
                values = preemption.run(train_step, *batch) if preemption else train_step(*batch)
                values = {name: float(value) for name, value in values.items()}
                bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
                if values.pop(_NONFINITE_GRADIENTS, 0.0):
                    bad = bad or "gradients"
                if bad:
                    kept = latest or "none (no checkpoint was written yet)"
                    raise TrainingDiverged(
                        f"loss is not finite at step {step + 1} ({bad}); stopped without saving it. "
                        f"Last good checkpoint: {kept}. Try a lower --learning_rate or "
                        "--mixed_precision=none."
                    )
                step += 1
                last_losses = values
                now = time.perf_counter()
                if first_step_done is None:
                    first_step_done, first_step = now, step
                if step > first_step:
                    rate = (step - first_step) * config.batch_size / (now - first_step_done)
                else:
                    rate = config.batch_size / max(now - run_start, 1e-9)
                learning_rate = state.learning_rate(step - 1)
                with writer.as_default(step=step):
                    if step % config.log_every_steps == 0 or step == end_step:
                        for name, value in values.items():
                            tf.summary.scalar(f"loss/{name}", value)
                        tf.summary.scalar("learning_rate", learning_rate)
                        tf.summary.scalar("images_per_second", rate)
                    if sample_pair is not None and step % config.image_every_steps == 0:
                        tf.summary.image("a2b2a_b2a2b", sample(*sample_pair), max_outputs=1)
                if callback is not None:
                    callback(StepInfo(
                        step=step, epoch=(step - 1) // spe, steps_per_epoch=spe, end_step=end_step,
                        losses=values, learning_rate=learning_rate, images_per_second=rate,
                        elapsed=now - run_start,
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
        step = int(state.step.numpy())
        logger.warning("preempted: checkpoint saved at step %d", step)
    finally:
        stop.uninstall()
        writer.close()
        if not chief:
            shutil.rmtree(os.path.dirname(write_dir), ignore_errors=True)
    if stopped in ("SIGTERM", "SIGINT"):
        logger.warning("stopped by %s at step %d; rerun the same command to resume", stopped, step)
    return TrainResult(model_dir=model_dir, step=step, epoch=step // spe, losses=last_losses,
                       checkpoint=latest if chief else None, stopped=stopped, resumed_from=resumed_from)

