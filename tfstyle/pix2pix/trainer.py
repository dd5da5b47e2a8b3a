"""pix2pix as a task of the training core: `train(config, strategy, callback) -> TrainResult`.

Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
as the reference implementation trains it (junyanz/pytorch-CycleGAN-and-pix2pix, `models/pix2pix_model.py`).
Code names -> paper names:

* `generator_ab` = G: x -> y (the checkpoint key CycleGAN's G: A -> B has, so translate, export, the
  video command and the app restore it as they restore a CycleGAN generator);
* `discriminator_b` = D(x, y): the PatchGAN on the input and an output concatenated on the channel axis
  (conditional GAN, eq. 1);
* loss terms (per example, float32, reported unweighted): `gan` = L_cGAN generator side, E[-log D(x, G(x))]
  for the vanilla GAN; `l1` = |y - G(x)|_1 mean per pixel (eq. 3); `generator` = gan + lambda_L1 * l1
  (eq. 4, lambda 100); `d` = 0.5 (L(D(x, y), real) + L(D(x, G(x)), fake)), the discriminator's objective
  halved as in the paper ("we divide the objective by 2 while optimizing D").

One step, in the reference's order: G(x) once; D updated on (x, y) and (x, G(x)) with G's output held
fixed; then G updated against the updated D. Both Adams follow CycleGAN's linear-decay schedule. The
data is `tfstyle.data.paired_dataset` (one augmentation per pair). Strategy, run folder, checkpoints,
exact resume, signals, NaN stop, TensorBoard and progress are the core's (`tfstyle.training.loop`).
Checkpoint keys: `generator_ab`, `discriminator_b`, `optimizer_g`, `optimizer_d`, and `dropout_state` when
G has dropout (so a resumed run draws the masks it would have drawn).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from tfstyle import images, losses
from tfstyle.pix2pix.config import TASK, Pix2PixConfig
from tfstyle.training import loop
from tfstyle.training.loop import StepInfo, TrainingDiverged, TrainResult
from tfstyle.training.task import NONFINITE_GRADIENTS, DropoutState, Task, TaskState, nonfinite_flag

__all__ = ["IMAGE_GRID", "LOSS_NAMES", "Pix2PixTask", "StepInfo", "TrainResult", "TrainingDiverged",
           "build_models", "build_training", "train"]

LOSS_NAMES = ("gan", "l1", "generator", "d")
IMAGE_GRID = "input_output_target"  # TensorBoard tag of the image grid


def build_models(config: Pix2PixConfig) -> dict[str, keras.Model]:
    """G and the conditional D of a run, named as in the checkpoint."""
    from tfstyle.cyclegan import models

    return {
        "generator_ab": models.generator_from_config(config, "generator_ab"),
        "discriminator_b": models.discriminator_from_config(config, "discriminator_b", input_nc=6),
    }


def data_sources(config: Pix2PixConfig):
    """(inputs, targets) image sources of the run's paired data (headers checked; nothing decoded).

    Raises:
        FileNotFoundError / ValueError: a missing folder, a non-image, a file without its partner, an
            aligned file whose halves cannot be equal; the message names the flag and the file.
    """
    from tfstyle import data

    if config.aligned:
        try:
            return data.aligned_sources(config.aligned, config.direction)
        except (ValueError, FileNotFoundError) as error:
            raise type(error)(f"--aligned: {error}") from None
    try:
        paths_a, paths_b = data.paired_folder_paths(config.domain_a, config.domain_b)
    except (ValueError, FileNotFoundError) as error:
        raise type(error)(f"--domain_a/--domain_b: {error}") from None
    for paths, flag in ((paths_a, "--domain_a"), (paths_b, "--domain_b")):
        try:
            data.validate_image_files(paths)
        except (ValueError, FileNotFoundError) as error:
            raise type(error)(f"{flag}: {error}") from None
    return paths_a, paths_b


class _Data:
    """`tfstyle.data.paired_dataset` as the core's `InputPipeline`."""

    def __init__(self, config: Pix2PixConfig):
        from tfstyle import data

        self._data = data
        self._config = config
        self.source = data_sources(config)
        self.steps_per_epoch = data.steps_per_epoch(len(self.source[0]), len(self.source[0]),
                                                    batch_size=config.batch_size)

    def dataset(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
        """float32 (input, target), each [B, S, S, 3] in [-1, 1], for `epoch`, without its first `skip_batches`."""
        c = self._config
        return self._data.paired_dataset(*self.source, load_size=c.load_size, crop_size=c.image_size,
                                         batch_size=c.batch_size, seed=c.seed, epoch=epoch,
                                         skip_batches=skip_batches, preprocess=c.preprocess, flip=not c.no_flip)


class Pix2PixTask(Task):
    """pix2pix for the training core: G, conditional D, two Adams, D-then-G step.

    Args:
        config: the run's `Pix2PixConfig`.
    """

    name = TASK

    def input_pipeline(self) -> _Data:
        return _Data(self.config)

    def total_steps(self, steps_per_epoch: int) -> int:
        return (self.config.epochs + self.config.decay_epochs) * steps_per_epoch

    def build(self, steps_per_epoch: int, rng: tf.random.Generator) -> TaskState:
        """Models and an Adam each for G and D on CycleGAN's linear-decay schedule (loss-scaled under fp16)."""
        from tfstyle.cyclegan.trainer import gan_optimizers

        del rng  # dropout draws from Keras' seed generators (checkpointed below); the data from stateless seeds
        config = self.config
        models = build_models(config)
        schedule, optimizers = gan_optimizers(config, steps_per_epoch)
        dropout = DropoutState(models["generator_ab"])
        return TaskState(
            models=models, optimizers=optimizers,
            trainable={"optimizer_g": models["generator_ab"].trainable_variables,
                       "optimizer_d": models["discriminator_b"].trainable_variables},
            extra={"dropout_state": dropout} if dropout.has_dropout else {},
            learning_rate=lambda step: float(schedule(step)),
        )

    def make_replica_step(self, state: TaskState) -> Callable:
        """batch (x, y), float32 [B_replica, H, W, 3] in [-1, 1] -> {LOSS_NAMES..., flag}."""
        config = self.config
        gan_generator_loss, gan_discriminator_loss = losses.GAN_LOSSES[config.gan_mode]
        lambda_l1 = config.lambda_l1
        scaled = config.mixed_precision == "fp16"
        generator, discriminator = state.models["generator_ab"], state.models["discriminator_b"]
        optimizer_g, optimizer_d = state.optimizers["optimizer_g"], state.optimizers["optimizer_d"]
        g_variables, d_variables = state.trainable["optimizer_g"], state.trainable["optimizer_d"]
        average = self.average_loss

        def judge(x, y):
            return discriminator(tf.concat([x, tf.cast(y, x.dtype)], axis=-1), training=True)

        def replica_step(batch):
            real_x, real_y = batch
            with tf.GradientTape() as g_tape:
                fake_y = tf.cast(generator(real_x, training=True), tf.float32)  # G(x)
                with tf.GradientTape() as d_tape:
                    d_terms = gan_discriminator_loss(judge(real_x, real_y), judge(real_x, tf.stop_gradient(fake_y)))
                    d_loss = average(d_terms)
                    d_objective = optimizer_d.scale_loss(d_loss) if scaled else d_loss
                d_grads = d_tape.gradient(d_objective, d_variables)
                optimizer_d.apply_gradients(zip(d_grads, d_variables, strict=True))
                terms = {"d": d_terms, "gan": gan_generator_loss(judge(real_x, fake_y)),  # D after its update
                         "l1": losses.l1_loss(real_y, fake_y)}
                terms["generator"] = terms["gan"] + lambda_l1 * terms["l1"]
                g_loss = average(terms["generator"])
                g_objective = optimizer_g.scale_loss(g_loss) if scaled else g_loss
            g_grads = g_tape.gradient(g_objective, g_variables)
            optimizer_g.apply_gradients(zip(g_grads, g_variables, strict=True))
            values = {name: average(terms[name]) for name in LOSS_NAMES}
            if not scaled:  # fp16: the LossScaleOptimizer skips non-finite gradients by design
                values[NONFINITE_GRADIENTS] = nonfinite_flag(g_grads + d_grads)
            return values

        return replica_step

    def make_image_summaries(self, state: TaskState) -> Callable:
        """batch (x, y) -> {IMAGE_GRID: float32 [1, H, 3W, 3] in [0, 1]}: input | G(input) | target."""
        generator = state.models["generator_ab"]

        @tf.function
        def grid(real_x, real_y):
            fake_y = tf.cast(generator(real_x, training=False), tf.float32)
            return images.from_signed(tf.concat([real_x, fake_y, real_y], axis=2))

        def summaries(batch):
            real_x, real_y = batch
            return {IMAGE_GRID: grid(real_x[:1], real_y[:1])}

        return summaries


def build_training(config: Pix2PixConfig, strategy: tf.distribute.Strategy, steps_per_epoch: int) -> loop.Built:
    """State and train step built exactly as `train` builds them (for `experiments/bench_pix2pix.py`)."""
    return loop.build(Pix2PixTask(config), strategy, steps_per_epoch)


def train(config: Pix2PixConfig, strategy: tf.distribute.Strategy | None = None,
          callback: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Trains (or resumes) a pix2pix run in `config.model_dir` on the training core.

    Raises:
        ValueError / FileNotFoundError: bad config, data or model_dir (names the bad value).
        TrainingDiverged: a loss became NaN/Inf; the last good checkpoint is kept.
    """
    return loop.train(Pix2PixTask(config), strategy=strategy, callback=callback)
