"""Load a trained CycleGAN generator from its model_dir and translate full-size images with it.

`load_generator(model_dir, "a2b")` rebuilds G (A -> B, paper: G: X -> Y) or F (B -> A, paper:
F: Y -> X) from `<model_dir>/config.json` with the trainer's builder and restores only that
generator from the newest readable checkpoint, both found by `tfstyle.training.rundir.RunDir`
(the one owner of the run-folder layout, which the trainer uses too).

`translate_images(generator, images)` runs it on uint8 images of any size: each batch is
reflect-padded to the generator's `models.SIZE_MULTIPLE` (4), translated and cropped back by
`tfstyle.export.translate_uint8`, the same graph function the exported SavedModel serves, so
`translate` and TF Serving agree pixel for pixel. Images of the same size are batched together;
batches are split over all replicas of the strategy (the CLI uses
`tfstyle.distribute.make_strategy("auto")`: every local GPU).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfstyle import export
from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import models
from tfstyle.training import rundir

logger = logging.getLogger(__name__)

# --direction -> the tf.train.Checkpoint attribute the trainer saves that generator under.
DIRECTIONS = {"a2b": "generator_ab", "b2a": "generator_ba"}


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"--direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def restore_generator(generator: keras.Model, model_dir: str | os.PathLike, direction: str = "a2b") -> str:
    """Restores `generator`'s weights from the newest readable checkpoint of `model_dir`.

    The checkpoint is found by `RunDir` (the state file and the `ckpt-*.index` files, so a lost
    state file hides nothing); only the one generator is read (`expect_partial`), and an
    unreadable newest checkpoint (truncated by a crash, say) is skipped with a warning in favour
    of the previous one.

    Returns:
        The checkpoint prefix that was restored, e.g. `<model_dir>/checkpoints/ckpt-12`.

    Raises:
        FileNotFoundError: the model_dir has no checkpoint.
        ValueError: unknown direction, or no checkpoint holds weights matching `generator`.
    """
    _check_direction(direction)
    run_dir = rundir.RunDir(model_dir)
    attribute = DIRECTIONS[direction]
    path = run_dir.restore_required(tf.train.Checkpoint(**{attribute: generator}), partial=True,
                                    hint=_train_first(model_dir))
    logger.info("restored %s (%s) from %s", attribute, generator.name, path)
    return path


def _train_first(model_dir: str | os.PathLike) -> str:
    return f"train first with python -m tfstyle.cyclegan.train --model_dir {os.fspath(model_dir)} ..."


def load_generator(
    model_dir: str | os.PathLike, direction: str = "a2b", strategy: tf.distribute.Strategy | None = None
) -> tuple[keras.Model, config_lib.TrainConfig]:
    """Rebuilds one trained generator from `model_dir` (config.json + latest checkpoint).

    Args:
        model_dir: a training run folder (`config.json`, `checkpoints/`).
        direction: "a2b" for G: A -> B (`generator_ab`), "b2a" for F: B -> A (`generator_ba`).
        strategy: the model's variables are created in its scope (default: the current strategy).

    Returns:
        (generator, config): the generator maps float32 [B, H, W, 3] in [-1, 1] (H, W multiples of 4)
        to float32 [B, H, W, 3] in [-1, 1]; built in float32 whatever the run's mixed precision.

    Raises:
        FileNotFoundError: no such model_dir, no config.json, or no checkpoint.
        ValueError: bad direction or config, or checkpoints that do not match the config.
    """
    _check_direction(direction)
    run_dir = rundir.RunDir(model_dir)
    run_dir.check_exists()
    config = run_dir.load_config(config_lib.TrainConfig, task=config_lib.TASK)
    run_dir.check_has_checkpoint(_train_first(model_dir))  # before building the generator: fail at once
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        generator = models.build_generator(
            config.generator, ngf=config.ngf, name_prefix=DIRECTIONS[direction]
        )
        restore_generator(generator, model_dir, direction)
    return generator, config


def export_generator(generator: keras.Model, export_dir: str | os.PathLike, version: int | None = None, *,
                     format: str = "savedmodel", float16: bool = False) -> str:
    """`tfstyle.export.export_model` for a CycleGAN generator ([-1, 1] in and out): the export pads to the
    generator's `models.SIZE_MULTIPLE` (and the SavedModel refuses sides below `models.MIN_SIZE`).

    `format` is "savedmodel", "litert" or "onnx"; `float16` (litert only) stores the weights in float16.
    Returns the written version folder (savedmodel) or model file (litert, onnx).
    """
    return export.export_model(generator, export_dir, format, version, multiple=models.SIZE_MULTIPLE,
                               min_size=models.MIN_SIZE, value_range="signed", float16=float16)


@dataclasses.dataclass(frozen=True)
class TranslateProgress:
    """Reported after each batch: images done so far, of `total`, and seconds since the start."""

    done: int
    total: int
    elapsed_s: float


class Translator:
    """Translates lists of uint8 images with one generator, compiling the step once.

    Args:
        generator: float32 [B, H, W, 3] in [-1, 1] -> [-1, 1], variables created in `strategy`'s scope.
        strategy: where to run (default: the current strategy); a global batch is split over its replicas.

    Images are padded to the generator's `models.SIZE_MULTIPLE` and must be at least its
    `models.MIN_SIZE` on each side (`models.check_generator_size`).
    """

    def __init__(self, generator: keras.Model, strategy: tf.distribute.Strategy | None = None):
        self.generator = generator
        self.strategy = strategy or tf.distribute.get_strategy()

        def replica_step(batch):
            return export.translate_uint8(generator, batch, models.SIZE_MULTIPLE, models.MIN_SIZE)

        @tf.function(reduce_retracing=True)
        def distributed_step(batch):
            outputs = self.strategy.run(replica_step, args=(batch,))
            return self.strategy.experimental_local_results(outputs)

        self._step = distributed_step

    @staticmethod
    def check_size(image: np.ndarray, what: str = "image") -> None:
        """Raises ValueError unless `image` is [H, W, 3] with H, W >= the generator's minimum."""
        shape = np.shape(image)
        if len(shape) != 3 or shape[-1] != 3:
            raise ValueError(f"{what}: expected shape [H, W, 3], got {shape}")
        models.check_generator_size(shape[0], shape[1], what)

    def __call__(
        self,
        images_uint8: Sequence[np.ndarray],
        batch_size: int = 1,
        callback: Callable[[TranslateProgress], None] | None = None,
    ) -> list[np.ndarray]:
        """Translates each image at its own size.

        Args:
            images_uint8: uint8 [H_i, W_i, 3] in [0, 255], any sizes with H_i, W_i >= `models.MIN_SIZE`.
            batch_size: images per step (the global batch, split over replicas).
            callback: called with a `TranslateProgress` after each batch.

        Returns:
            uint8 [H_i, W_i, 3] in [0, 255], in the input order.

        Raises:
            ValueError: an image is not [H, W, 3] uint8-convertible, smaller than `models.MIN_SIZE`, or
                `batch_size` < 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        arrays = [np.asarray(image) for image in images_uint8]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, array in enumerate(arrays):
            self.check_size(array, f"image {index}")
            groups.setdefault(array.shape[:2], []).append(index)

        results: list[np.ndarray | None] = [None] * len(arrays)
        start, done = time.perf_counter(), 0
        for indices in groups.values():
            stacked = np.stack([arrays[i] for i in indices]).astype(np.uint8)  # [N, H, W, 3]
            dataset = tf.data.Dataset.from_tensor_slices(stacked).batch(batch_size)
            position = 0
            for batch in self.strategy.experimental_distribute_dataset(dataset):
                parts = [part.numpy() for part in self._step(batch)]  # replica order = batch order
                translated = np.concatenate(parts, axis=0)
                for offset, image in enumerate(translated):
                    results[indices[position + offset]] = image
                position += len(translated)
                done += len(translated)
                if callback is not None:
                    callback(TranslateProgress(done, len(arrays), time.perf_counter() - start))
        return results


def translate_images(
    generator: keras.Model,
    images_uint8: Sequence[np.ndarray],
    batch_size: int = 1,
    strategy: tf.distribute.Strategy | None = None,
    callback: Callable[[TranslateProgress], None] | None = None,
) -> list[np.ndarray]:
    """Translates uint8 [H_i, W_i, 3] images of any sizes; returns uint8 images of the same sizes.

    A one-call form of `Translator` (which keeps the compiled step for repeated calls).
    """
    return Translator(generator, strategy)(images_uint8, batch_size=batch_size, callback=callback)
