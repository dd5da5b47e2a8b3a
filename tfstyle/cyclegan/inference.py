"""Load a trained CycleGAN generator from its model_dir and translate full-size images with it.

`load_generator(model_dir, "a2b")` rebuilds G (A -> B, paper: G: X -> Y) or F (B -> A, paper:
F: Y -> X) from `<model_dir>/config.json` with the trainer's builder and restores only that
generator from the newest readable checkpoint in `<model_dir>/checkpoints/`.

`translate_images(generator, images)` runs it on uint8 images of any size: each batch is
reflect-padded to a multiple of 4, translated and cropped back by `tfstyle.export.translate_uint8`,
the same graph function the exported SavedModel serves, so `translate` and TF Serving agree pixel
for pixel. Images of the same size are batched together; batches are split over all replicas of
the strategy (`local_strategy()`: every local GPU when there are several).
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

logger = logging.getLogger(__name__)

CHECKPOINT_SUBDIR = "checkpoints"
# --direction -> the tf.train.Checkpoint attribute the trainer saves that generator under.
DIRECTIONS = {"a2b": "generator_ab", "b2a": "generator_ba"}


def local_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over every local GPU when there are several, else the default strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.get_strategy()


def _checkpoint_candidates(checkpoint_dir: str) -> list[str]:
    """Checkpoint prefixes listed by the `checkpoint` state file, newest first."""
    # Absolute: get_checkpoint_state already prefixes relative entries with the folder it is given,
    # so with a relative folder the join below would prefix them twice.
    checkpoint_dir = os.path.abspath(checkpoint_dir)
    state = tf.train.get_checkpoint_state(checkpoint_dir) if os.path.isdir(checkpoint_dir) else None
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    return [path if os.path.isabs(path) else os.path.join(checkpoint_dir, path) for path in reversed(paths)]


def restore_generator(generator: keras.Model, model_dir: str | os.PathLike, direction: str = "a2b") -> str:
    """Restores `generator`'s weights from the newest readable checkpoint of `model_dir`.

    Only the one generator is read (`expect_partial`); an unreadable newest checkpoint (truncated by
    a crash, say) is skipped with a warning in favour of the previous one.

    Returns:
        The checkpoint prefix that was restored, e.g. `<model_dir>/checkpoints/ckpt-12`.

    Raises:
        FileNotFoundError: the model_dir has no checkpoint.
        ValueError: unknown direction, or no checkpoint holds weights matching `generator`.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    model_dir = os.fspath(model_dir)
    checkpoint_dir = os.path.join(model_dir, CHECKPOINT_SUBDIR)
    candidates = _checkpoint_candidates(checkpoint_dir)
    if not candidates:
        raise FileNotFoundError(
            f"{model_dir} has no checkpoint (nothing in {checkpoint_dir}); train first with "
            f"python -m tfstyle.cyclegan.train --model_dir {model_dir} ..."
        )
    attribute = DIRECTIONS[direction]
    last_error = None
    for path in candidates:
        try:
            status = tf.train.Checkpoint(**{attribute: generator}).restore(path)
            status.expect_partial()
            status.assert_existing_objects_matched()  # every weight of the generator was in the file
        # A truncated file raises IndexError or DataLossError; a mismatch AssertionError or ValueError.
        except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as error:
            last_error = " ".join(str(error).split())[:300]
            logger.warning("cannot restore %s from %s (%s); trying an older one", attribute, path, last_error)
            continue
        logger.info("restored %s (%s) from %s", attribute, generator.name, path)
        return path
    raise ValueError(
        f"no checkpoint in {checkpoint_dir} holds a {attribute} matching config.json "
        f"(tried {len(candidates)}; last error: {last_error})"
    )


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
    if direction not in DIRECTIONS:
        raise ValueError(f"--direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    model_dir = os.fspath(model_dir)
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"no such model_dir: {model_dir}")
    config = config_lib.load_config(model_dir)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        generator = models.build_generator(
            config.generator, ngf=config.ngf, name_prefix=DIRECTIONS[direction]
        )
        restore_generator(generator, model_dir, direction)
    return generator, config


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
        multiple, min_size: see `tfstyle.export.translate_uint8`.
    """

    def __init__(
        self,
        generator: keras.Model,
        strategy: tf.distribute.Strategy | None = None,
        multiple: int = models.SIZE_MULTIPLE,
        min_size: int = export.MIN_SIZE,
    ):
        self.generator = generator
        self.strategy = strategy or tf.distribute.get_strategy()
        self.multiple = multiple
        self.min_size = min_size

        def replica_step(batch):
            return export.translate_uint8(generator, batch, multiple, min_size)

        @tf.function(reduce_retracing=True)
        def distributed_step(batch):
            outputs = self.strategy.run(replica_step, args=(batch,))
            return self.strategy.experimental_local_results(outputs)

        self._step = distributed_step

    def __call__(
        self,
        images_uint8: Sequence[np.ndarray],
        batch_size: int = 1,
        callback: Callable[[TranslateProgress], None] | None = None,
    ) -> list[np.ndarray]:
        """Translates each image at its own size.

        Args:
            images_uint8: uint8 [H_i, W_i, 3] in [0, 255], any sizes with H_i, W_i >= `min_size`.
            batch_size: images per step (the global batch, split over replicas).
            callback: called with a `TranslateProgress` after each batch.

        Returns:
            uint8 [H_i, W_i, 3] in [0, 255], in the input order.

        Raises:
            ValueError: an image is not [H, W, 3] uint8-convertible, smaller than `min_size`, or
                `batch_size` < 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        arrays = [np.asarray(image) for image in images_uint8]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, array in enumerate(arrays):
            if array.ndim != 3 or array.shape[-1] != 3:
                raise ValueError(f"image {index}: expected shape [H, W, 3], got {array.shape}")
            if min(array.shape[:2]) < self.min_size:
                raise ValueError(
                    f"image {index} is {array.shape[0]}x{array.shape[1]} px; height and width must be "
                    f">= {self.min_size}"
                )
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
