"""Per-style network training as a task of the training core: `train(config, strategy, callback) -> TrainResult`.

Johnson et al. 2016: the transformer T (`models.build_transformer`) is trained so that for each photo x
the output y = T(x) minimises the Gatys objective against x and the style image s, evaluated by the
frozen VGG loss network phi (`tfstyle.features`), per example::

    L(x) = alpha * L_content(phi(y), phi(x)) + beta * sum_l w_l E_l(G(phi_l(y)), G(phi_l(s))) + gamma * TV(y)

with the loss terms of `tfstyle.losses` (content MSE, normalised Gram distance, TV) and equal w_l summing to
1. The style Grams G(phi_l(s)) are computed once when the task is built, never per step; the content
targets phi(x) come from the same batch. Losses are reported unweighted ("content", "style", "tv") and
weighted ("total"), averaged over the global batch.

This module holds only what is this task's: the transformer, one Adam, the loss network and the style
targets (neither is checkpointed: the VGG is frozen and the targets are recomputed from the style image
on resume), the step, and the photo / stylised grid. Strategy, run folder, checkpoints, exact resume,
signals, the NaN stop, TensorBoard and progress are the core's. Checkpoint keys: `transformer`,
`optimizer` (plus the core's `step` and `rng`); stylize and export restore `transformer` alone.

With `config.init == "magenta"` T starts as Magenta's pretrained transformer holding the painting's style vector
S(s) (`magenta.build_fixed_style`, `build_magenta_start`): the same objective then fine-tunes all its weights,
or only the conditional instance norms' projections (`config.finetune`); S(s) stays fixed.

`ArbitraryStyleTask` (config.arbitrary) trains the AdaIN decoder D (`models.build_decoder`) of Huang &
Belongie 2017 on (photo, painting) pairs drawn by the CycleGAN pipeline (`tfstyle.data.unpaired_dataset`),
with the frozen encoder f = VGG19 up to relu4_1 (`tfstyle.features`)::

    t = AdaIN(f(x), f(s)),   y = D(t)
    L = alpha * ||f(y) - t||^2 / N + beta * sum_l L_s(phi_l(y), phi_l(s)) (+ gamma * TV(y))

with `tfstyle.losses.content_loss` (a mean squared error) and `losses.mean_std_style_loss` summed over
the style layers (Huang et al. sum them). Checkpoint key of the network: `decoder`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from tfstyle import features, images, loss_targets, losses
from tfstyle.fast.config import MAGENTA, TASK, FastTrainConfig
from tfstyle.training import loop
from tfstyle.training.loop import StepInfo, TrainingDiverged, TrainResult
from tfstyle.training.task import NONFINITE_GRADIENTS, Task, TaskState, nonfinite_flag

__all__ = ["LOSS_NAMES", "ArbitraryStyleTask", "FastStyleTask", "StepInfo", "TrainResult", "TrainingDiverged",
           "build_training", "make_task", "train"]

LOSS_NAMES = ("total", "content", "style", "tv")
IMAGE_GRID = "photo_stylised"  # TensorBoard tag of the image grid
MODEL_KEY = "transformer"  # checkpoint key of the per-style network
DECODER_KEY = "decoder"  # checkpoint key of the arbitrary-style network's decoder


class _Photos:
    """The content photos as the core's `InputPipeline` (`tfstyle.data.image_dataset`)."""

    def __init__(self, config: FastTrainConfig):
        from tfstyle import data

        self._data = data
        self._config = config
        if config.dataset:
            self.source = data.tfds_images(config.dataset, data_dir=config.data_dir)
        else:
            self.source = _folder(data, config.content_dir, "--content_dir")
        self.steps_per_epoch = max(1, len(self.source) // config.batch_size)

    def dataset(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
        """float32 [B, S, S, 3] in [-1, 1] (B the global batch) for `epoch`, without its first `skip_batches`."""
        c = self._config
        return self._data.image_dataset(self.source, load_size=c.resolved_load_size, crop_size=c.image_size,
                                        batch_size=c.batch_size, seed=c.seed, epoch=epoch,
                                        skip_batches=skip_batches)


def _folder(data, folder: str, flag: str) -> list[str]:
    """The images of `folder`, headers checked now (a bad file fails before step 1, not at step 1000)."""
    try:
        paths = data.folder_paths(folder)
        data.validate_image_files(paths)
    except (ValueError, FileNotFoundError) as error:
        raise type(error)(f"{flag}: {error}") from None
    return paths


class _PhotosAndPaintings(_Photos):
    """(photos, paintings) batches for the arbitrary-style task: `tfstyle.data.unpaired_dataset` with the
    photos as domain A and the paintings of `--style_dir` as domain B (each epoch covers the larger set)."""

    def __init__(self, config: FastTrainConfig):
        super().__init__(config)
        self.paintings = _folder(self._data, config.style_dir, "--style_dir")
        self.steps_per_epoch = self._data.steps_per_epoch(len(self.source), len(self.paintings), config.batch_size)

    def dataset(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
        """(photos, paintings), each float32 [B, S, S, 3] in [-1, 1], for `epoch` without its first batches."""
        c = self._config
        return self._data.unpaired_dataset(self.source, self.paintings, load_size=c.resolved_load_size,
                                           crop_size=c.image_size, batch_size=c.batch_size, seed=c.seed,
                                           epoch=epoch, skip_batches=skip_batches)


class _OneNetworkTask(Task):
    """What the two feed-forward tasks share: one network trained by one Adam for `config.steps` steps."""

    name = TASK

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.config.steps

    def _adam(self) -> keras.optimizers.Optimizer:
        from tfstyle import distribute

        c = self.config
        return distribute.loss_scaled(keras.optimizers.Adam(c.learning_rate, name="optimizer"), c.mixed_precision)

    def _descent_step(self, state: TaskState, key: str, terms_of: Callable) -> Callable:
        """replica_step(batch) -> {LOSS_NAMES..., flag}, each a global-batch mean, for `terms_of(network, batch)
        -> ({LOSS_NAMES...: float32 batch means}, replica batch size)`, differentiated w.r.t. `state.models[key]`."""
        c = self.config
        network = state.models[key]
        optimizer = state.optimizers["optimizer"]
        variables = state.trainable["optimizer"]
        scaled = c.mixed_precision == "fp16"

        def replica_step(batch):
            with tf.GradientTape() as tape:
                terms, size = terms_of(network, batch)
                # The loss terms are batch means: times B_replica / B_global, summed over replicas = global mean.
                share = tf.cast(size, tf.float32) / float(c.batch_size)
                values = {name: terms[name] * share for name in LOSS_NAMES}
                loss = optimizer.scale_loss(values["total"]) if scaled else values["total"]
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            if not scaled:  # fp16: the LossScaleOptimizer skips non-finite gradients by design
                values[NONFINITE_GRADIENTS] = nonfinite_flag(gradients)
            return values

        return replica_step


class FastStyleTask(_OneNetworkTask):
    """A per-style transformer for the training core: one model, one Adam, the perceptual loss.

    Args:
        config: the run's `FastTrainConfig`.
    """

    def input_pipeline(self) -> _Photos:
        return _Photos(self.config)

    def build(self, steps_per_epoch: int, rng: tf.random.Generator) -> TaskState:
        """The transformer (seeded from `config.seed`), Adam, the frozen loss network and the style Grams."""
        from tfstyle.fast import models

        c = self.config
        keras.utils.set_random_seed(c.seed)
        if c.init == MAGENTA:
            transformer, trainable = build_magenta_start(c)
        else:
            transformer = models.build_transformer(c.filters, c.residual_blocks, name=MODEL_KEY)
            trainable = transformer.trainable_variables
        optimizer = self._adam()
        layers = tuple(dict.fromkeys(c.content_layers + c.style_layers))
        self.extractor = features.build_feature_extractor(layers=layers, weights=c.weights, pooling=c.pooling,
                                                          cache_dir=c.cache_dir)
        self.style_grams = style_grams(self.extractor, c)
        return TaskState(models={MODEL_KEY: transformer}, optimizers={"optimizer": optimizer},
                         trainable={"optimizer": trainable})

    def make_replica_step(self, state: TaskState) -> Callable:
        """batch float32 [B_replica, S, S, 3] in [-1, 1] -> {LOSS_NAMES..., flag}, each a global-batch mean."""
        objective = perceptual_loss(self.extractor, self.style_grams, self.config)

        def terms_of(transformer, batch):
            photos = images.from_signed(batch)  # [0, 1]
            return objective(tf.cast(transformer(photos, training=True), tf.float32), photos), tf.shape(batch)[0]

        return self._descent_step(state, MODEL_KEY, terms_of)

    def make_image_summaries(self, state: TaskState) -> Callable:
        """batch in [-1, 1] -> {IMAGE_GRID: float32 [1, 2S, kS, 3] in [0, 1]}: up to 4 photos over their results."""
        transformer = state.models[MODEL_KEY]

        @tf.function
        def grid(photos):
            stylised = tf.cast(transformer(photos, training=False), tf.float32)
            row = lambda batch: tf.concat(tf.unstack(batch), axis=1)  # noqa: E731 - [k, S, S, 3] -> [S, kS, 3]
            return tf.concat([row(photos), row(stylised)], axis=0)[tf.newaxis]

        return lambda batch: {IMAGE_GRID: grid(images.from_signed(batch[:4]))}


class ArbitraryStyleTask(_OneNetworkTask):
    """The AdaIN decoder for the training core: one model, one Adam, Huang & Belongie's loss.

    Args:
        config: the run's `FastTrainConfig` with `arbitrary=True`.
    """

    def input_pipeline(self) -> _PhotosAndPaintings:
        return _PhotosAndPaintings(self.config)

    def build(self, steps_per_epoch: int, rng: tf.random.Generator) -> TaskState:
        """The decoder (seeded from `config.seed`), Adam and the frozen encoder / loss network."""
        from tfstyle.fast import models

        c = self.config
        keras.utils.set_random_seed(c.seed)
        decoder = models.build_decoder(c.decoder_width, name=DECODER_KEY)
        optimizer = self._adam()
        self.encoder = build_encoder(c)
        return TaskState(models={DECODER_KEY: decoder}, optimizers={"optimizer": optimizer},
                         trainable={"optimizer": decoder.trainable_variables})

    def make_replica_step(self, state: TaskState) -> Callable:
        """(photos, paintings) float32 [B_replica, S, S, 3] in [-1, 1] -> {LOSS_NAMES..., flag}, global means."""
        c = self.config
        objective = adain_loss(self.encoder, c)

        def terms_of(decoder, batch):
            photos, paintings = (images.from_signed(part) for part in batch)
            target, style_features = adain_targets(self.encoder, photos, paintings, c.style_layers)
            stylised = tf.cast(decoder(target, training=True), tf.float32)
            return objective(stylised, target, style_features), tf.shape(photos)[0]

        return self._descent_step(state, DECODER_KEY, terms_of)

    def make_image_summaries(self, state: TaskState) -> Callable:
        """(photos, paintings) -> {IMAGE_GRID: float32 [1, 3S, kS, 3]}: up to 4 photos, paintings and results."""
        decoder = state.models[DECODER_KEY]
        layers = self.config.style_layers

        @tf.function
        def grid(photos, paintings):
            target, _ = adain_targets(self.encoder, photos, paintings, layers)
            stylised = tf.cast(decoder(target, training=False), tf.float32)
            row = lambda batch: tf.concat(tf.unstack(batch), axis=1)  # noqa: E731 - [k, S, S, 3] -> [S, kS, 3]
            return tf.concat([row(photos), row(paintings), row(stylised)], axis=0)[tf.newaxis]

        return lambda batch: {IMAGE_GRID: grid(images.from_signed(batch[0][:4]), images.from_signed(batch[1][:4]))}


def build_magenta_start(config: FastTrainConfig) -> tuple[keras.Model, list]:
    """(network, the variables that move) of an `--init magenta` run: Magenta's pretrained transformer holding
    S(config.style), the painting read at the predictor's 256 px long side (photo [B, H, W, 3] in [0, 1] ->
    stylised in [0, 1]), and all its trainable variables or (`finetune == "norms"`) its norms' projections.

    Raises:
        FileNotFoundError: the network was never fetched (the message names the command that fetches it).
    """
    from tfstyle.fast import magenta

    predictor, pretrained = magenta.load_networks(config.cache_dir)
    painting = images.resize_long_side(images.load_image(config.style), magenta.STYLE_SIZE)
    vector = predictor(tf.convert_to_tensor(np.asarray(painting, np.float32))[tf.newaxis], training=False)
    network = magenta.build_fixed_style(None, pretrained, photo_style=False, name=MODEL_KEY)
    network.get_layer("held_style").set_style(vector)
    trainable = magenta.norm_variables(pretrained) if config.finetune == "norms" else pretrained.trainable_variables
    return network, trainable


def build_encoder(config: FastTrainConfig) -> keras.Model:
    """The frozen VGG of an arbitrary-style run, [0, 1] -> {layer: features}: its style layers and relu4_1."""
    from tfstyle.fast import models

    layers = tuple(dict.fromkeys(config.style_layers + (models.ENCODER_LAYER,)))
    if config.weights == "random":  # tests and smoke runs: the same random encoder in training and inference
        keras.utils.set_random_seed(config.seed)
    return features.build_feature_extractor(layers=layers, weights=config.weights, pooling=config.pooling,
                                            cache_dir=config.cache_dir)


def adain_targets(encoder: keras.Model, photos: tf.Tensor, paintings: tf.Tensor,
                  style_layers) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """t = AdaIN(f(photos), f(paintings)), float32 [B, S/8, S/8, 512], and the paintings' style-layer features
    (float32), both constants of the step (no gradient flows into the frozen encoder's inputs)."""
    from tfstyle import layers
    from tfstyle.fast import models

    photo_features = encoder(photos, training=False)[models.ENCODER_LAYER]
    painting_features = encoder(paintings, training=False)
    style_features = {layer: tf.cast(painting_features[layer], tf.float32) for layer in style_layers}
    encoded = tf.cast(painting_features[models.ENCODER_LAYER], tf.float32)
    target = layers.adaptive_instance_norm(photo_features, losses.feature_mean(encoded), losses.feature_std(encoded))
    return tf.stop_gradient(target), {k: tf.stop_gradient(v) for k, v in style_features.items()}


def adain_loss(encoder: keras.Model, config: FastTrainConfig) -> Callable:
    """(stylised [B, S, S, 3] in [0, 1], target t, the paintings' style features) -> {"total", "content",
    "style", "tv"}, float32 batch means; "total" is weighted, the others are not (see the module docstring)."""
    from tfstyle.fast import models

    c = config

    def objective(stylised, target, style_features):
        outputs = encoder(stylised, training=False)
        content = losses.content_loss(outputs[models.ENCODER_LAYER], target)
        style = tf.add_n([losses.mean_std_style_loss(outputs[layer], losses.feature_mean(style_features[layer]),
                                                     losses.feature_std(style_features[layer]))
                          for layer in c.style_layers])
        tv = losses.total_variation_loss(stylised)
        total = c.content_weight * content + c.style_weight * style + c.tv_weight * tv
        return {"total": total, "content": content, "style": style, "tv": tv}

    return objective


def make_task(config: FastTrainConfig) -> Task:
    """The task `config` describes: `ArbitraryStyleTask` with `arbitrary`, else `FastStyleTask`."""
    return ArbitraryStyleTask(config) if config.arbitrary else FastStyleTask(config)


def style_grams(extractor: keras.Model, config: FastTrainConfig) -> dict[str, tf.Tensor]:
    """{style layer: float32 [1, C, C]} Gram targets of `config.style`, its long side `style_scale` x image_size."""
    size = max(features.min_image_size(layers=config.style_layers), round(config.image_size * config.style_scale))
    style = np.asarray(images.resize_long_side(images.load_image(config.style), size))[None]
    return loss_targets.blended_grams(extractor, [style], [1.0], config.style_layers)


def perceptual_loss(extractor: keras.Model, grams: dict[str, tf.Tensor],
                    config: FastTrainConfig) -> Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]]:
    """(stylised, photos), float32 [B, H, W, 3] in [0, 1] -> {"total", "content", "style", "tv"}: float32 batch means.

    The objective of the module docstring; "total" is the weighted sum, the others are unweighted.
    """
    c = config
    style_weight = 1.0 / len(c.style_layers)

    def objective(stylised, photos):
        targets = loss_targets.content_targets(extractor, photos, c.content_layers)
        outputs = extractor(stylised, training=False)
        content = tf.add_n([losses.content_loss(outputs[layer], tf.stop_gradient(targets[layer]))
                            for layer in c.content_layers]) / float(len(c.content_layers))
        style = tf.add_n([style_weight * losses.style_loss(outputs[layer], grams[layer]) for layer in c.style_layers])
        tv = losses.total_variation_loss(stylised)
        total = c.content_weight * content + c.style_weight * style + c.tv_weight * tv
        return {"total": total, "content": content, "style": style, "tv": tv}

    return objective


def build_training(config: FastTrainConfig, strategy: tf.distribute.Strategy, steps_per_epoch: int) -> loop.Built:
    """The state and the train step exactly as `train` builds them (for `experiments/bench_fast.py`)."""
    return loop.build(make_task(config), strategy, steps_per_epoch)


def train(config: FastTrainConfig, strategy: tf.distribute.Strategy | None = None,
          callback: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Trains (or resumes) a per-style or (`config.arbitrary`) an arbitrary-style network in `config.model_dir`
    on the training core.

    Raises:
        ValueError / FileNotFoundError: bad config, images or model_dir (names the bad value).
        TrainingDiverged: a loss became NaN/Inf; the last good checkpoint is kept.
    """
    config.validate()
    return loop.train(make_task(config), strategy=strategy, callback=callback)
