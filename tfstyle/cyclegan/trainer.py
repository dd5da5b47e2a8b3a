"""CycleGAN as a task of the training core: `train(config, strategy, callback) -> TrainResult`.

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
are averaged over the GLOBAL batch, so gradients summed over replicas equal the single-device
gradients.

This module holds only what is CycleGAN's: the four models, the two pools, the two-phase step,
the A->B->A / B->A->B image grid and the data of `TrainConfig`. Strategy, run folder
(`tfstyle.training.rundir`), checkpoints, exact resume, signals, preemption, the NaN stop,
TensorBoard and progress are the core's (`tfstyle.training.loop`). Checkpoint keys:
`generator_ab`, `generator_ba`, `discriminator_a`, `discriminator_b`, `optimizer_g`,
`optimizer_d`, `pool_a`, `pool_b` (plus the core's `step` and `rng`); translate and export
restore a single generator by its key.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from tfstyle import distribute, images, losses
from tfstyle.cyclegan.config import TASK, TrainConfig
from tfstyle.training import loop
from tfstyle.training.loop import StepInfo, TrainingDiverged, TrainResult
from tfstyle.training.task import NONFINITE_GRADIENTS, DropoutState, Task, TaskState, nonfinite_flag

__all__ = ["LOSS_NAMES", "CycleGANTask", "StepInfo", "TrainResult", "TrainingDiverged", "build_models",
           "build_training", "train"]

LOSS_NAMES = (
    "gan_ab", "gan_ba", "cycle_aba", "cycle_bab", "identity_ab", "identity_ba", "generator", "d_a", "d_b",
)
IMAGE_GRID = "a2b2a_b2a2b"  # TensorBoard tag of the image grid


def build_models(config: TrainConfig) -> dict[str, keras.Model]:
    """The four networks of a run, named as in the checkpoint (`generator_ab`, ...)."""
    from tfstyle.cyclegan import models

    def discriminator(name):
        return models.discriminator_from_config(config, name)

    return {
        "generator_ab": models.generator_from_config(config, "generator_ab"),
        "generator_ba": models.generator_from_config(config, "generator_ba"),
        "discriminator_a": discriminator("discriminator_a"),
        "discriminator_b": discriminator("discriminator_b"),
    }


def gan_optimizers(config: TrainConfig, steps_per_epoch: int):
    """CycleGAN's and pix2pix's schedule and optimisers: `schedule.from_config` (by default `LinearDecay` over
    (epochs + decay_epochs) * steps_per_epoch) and one Adam(schedule, beta_1) each for G ("optimizer_g") and D
    ("optimizer_d"), loss-scaled under fp16. Returns (schedule, {name: optimizer})."""
    from tfstyle.cyclegan import schedule as schedules

    schedule = schedules.from_config(config, steps_per_epoch)
    optimizers = {
        name: distribute.loss_scaled(keras.optimizers.Adam(schedule, beta_1=config.beta_1, name=name),
                                     config.mixed_precision)
        for name in ("optimizer_g", "optimizer_d")
    }
    return schedule, optimizers


class _Data:
    """The unpaired pipeline of `tfstyle.data` as the core's `InputPipeline`."""

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
            seed=c.seed, epoch=epoch, skip_batches=skip_batches, preprocess=c.preprocess, flip=not c.no_flip,
        )


class CycleGANTask(Task):
    """CycleGAN for the training core: four models, two Adams, two pools, the two-phase step.

    Args:
        config: the run's `TrainConfig`.
    """

    name = TASK

    def input_pipeline(self) -> _Data:
        return _Data(self.config)

    def total_steps(self, steps_per_epoch: int) -> int:
        return (self.config.epochs + self.config.decay_epochs) * steps_per_epoch

    def build(self, steps_per_epoch: int, rng: tf.random.Generator) -> TaskState:
        """Models, the linear-decay schedule over (epochs + decay_epochs) * steps_per_epoch, Adam for
        G+F and for D_X+D_Y (loss-scaled under fp16), and the two pools drawing from `rng`."""
        from tfstyle.cyclegan.pool import ImagePool

        config = self.config
        models = build_models(config)
        schedule, optimizers = gan_optimizers(config, steps_per_epoch)
        image_shape = (config.image_size, config.image_size, 3)
        dropout = DropoutState(models["generator_ab"], models["generator_ba"])  # without --no_dropout
        return TaskState(
            models=models,
            optimizers=optimizers,
            trainable={
                "optimizer_g": models["generator_ab"].trainable_variables
                + models["generator_ba"].trainable_variables,
                "optimizer_d": models["discriminator_a"].trainable_variables
                + models["discriminator_b"].trainable_variables,
            },
            extra={
                "pool_a": ImagePool(config.pool_size, image_shape, generator=rng, name="pool_a"),
                "pool_b": ImagePool(config.pool_size, image_shape, generator=rng, name="pool_b"),
                **({"dropout_state": dropout} if dropout.has_dropout else {}),
            },
            learning_rate=lambda step: float(schedule(step)),
        )

    def make_replica_step(self, state: TaskState) -> Callable:
        """batch (real_a, real_b), float32 [B_replica, H, W, 3] in [-1, 1] -> {LOSS_NAMES..., flag}."""
        config = self.config
        gan_generator_loss, gan_discriminator_loss = losses.GAN_LOSSES[config.gan_mode]
        lambda_cycle = config.lambda_cycle
        lambda_identity = config.lambda_identity * config.lambda_cycle
        scaled = config.mixed_precision == "fp16"
        g_ab, g_ba = state.models["generator_ab"], state.models["generator_ba"]
        d_a, d_b = state.models["discriminator_a"], state.models["discriminator_b"]
        optimizer_g, optimizer_d = state.optimizers["optimizer_g"], state.optimizers["optimizer_d"]
        g_variables, d_variables = state.trainable["optimizer_g"], state.trainable["optimizer_d"]
        pool_a, pool_b = state.extra["pool_a"], state.extra["pool_b"]
        average = self.average_loss

        def f32(x):
            return tf.cast(x, tf.float32)

        def replica_step(batch):
            real_a, real_b = batch
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
                g_objective = optimizer_g.scale_loss(g_loss) if scaled else g_loss
            g_grads = tape.gradient(g_objective, g_variables)
            optimizer_g.apply_gradients(zip(g_grads, g_variables, strict=True))

            # D sees real images and a mix of this step's and older fakes (paper section 4).
            pooled_a = pool_a(fake_a)
            pooled_b = pool_b(fake_b)
            with tf.GradientTape() as tape:
                terms["d_a"] = gan_discriminator_loss(d_a(real_a, training=True), d_a(pooled_a, training=True))
                terms["d_b"] = gan_discriminator_loss(d_b(real_b, training=True), d_b(pooled_b, training=True))
                d_loss = average(terms["d_a"] + terms["d_b"])
                d_objective = optimizer_d.scale_loss(d_loss) if scaled else d_loss
            d_grads = tape.gradient(d_objective, d_variables)
            optimizer_d.apply_gradients(zip(d_grads, d_variables, strict=True))
            values = {name: average(terms[name]) for name in LOSS_NAMES}
            if not scaled:  # fp16: the LossScaleOptimizer skips non-finite gradients by design
                values[NONFINITE_GRADIENTS] = nonfinite_flag(g_grads + d_grads)
            return values

        return replica_step

    def make_image_summaries(self, state: TaskState) -> Callable:
        """batch (a, b) in [-1, 1] -> {IMAGE_GRID: float32 [1, 2H, 3W, 3] in [0, 1]} from the first pair:
        top row a, G(a), F(G(a)); bottom row b, F(b), G(F(b))."""
        g_ab, g_ba = state.models["generator_ab"], state.models["generator_ba"]

        @tf.function
        def grid(real_a, real_b):
            fake_b = tf.cast(g_ab(real_a, training=False), tf.float32)
            fake_a = tf.cast(g_ba(real_b, training=False), tf.float32)
            cycled_a = tf.cast(g_ba(fake_b, training=False), tf.float32)
            cycled_b = tf.cast(g_ab(fake_a, training=False), tf.float32)
            top = tf.concat([real_a, fake_b, cycled_a], axis=2)
            bottom = tf.concat([real_b, fake_a, cycled_b], axis=2)
            return images.from_signed(tf.concat([top, bottom], axis=1))

        def summaries(batch):
            real_a, real_b = batch
            return {IMAGE_GRID: grid(real_a[:1], real_b[:1])}

        return summaries


def build_training(config: TrainConfig, strategy: tf.distribute.Strategy, steps_per_epoch: int) -> loop.Built:
    """The state and the train step of a run, built exactly as `train` builds them (used by
    `experiments/bench_cyclegan.py`, so the benchmark times the trainer's own step).

    Returns:
        `loop.Built`: `.state.models["generator_ab"]`, ..., and `.train_step((real_a, real_b))`.
    """
    return loop.build(CycleGANTask(config), strategy, steps_per_epoch)


def train(config: TrainConfig, strategy: tf.distribute.Strategy | None = None,
          callback: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Trains (or resumes) a CycleGAN run in `config.model_dir` on the training core.

    Args:
        config: the run's settings; validated here.
        strategy: a tf.distribute strategy; default `distribute.make_strategy(config.strategy)`.
            For MultiWorkerMirroredStrategy create it at program start and pass it in.
        callback: called with a `StepInfo` after every step (losses: `LOSS_NAMES`).

    Returns:
        A `TrainResult` (see `tfstyle.training.loop.train`).

    Raises:
        ValueError / FileNotFoundError: bad config, data or model_dir (names the bad value),
            including resuming with an incompatible config.
        TrainingDiverged: a loss became NaN/Inf; the last good checkpoint is kept.
    """
    return loop.train(CycleGANTask(config), strategy=strategy, callback=callback)
