"""Running an image-to-image network on images and files of any size: CycleGAN's generators, the style networks.

* `Translator` runs a [-1, 1] -> [-1, 1] network on uint8 images of any sizes: each batch is reflect-padded
  to `tfstyle.geometry.SIZE_MULTIPLE`, run and cropped back by `tfstyle.export.translate_uint8`, the very
  graph function the exported SavedModels serve, so the commands and TF Serving agree pixel for pixel.
  Images of one size are batched together and each batch is split over the strategy's replicas.
* `plan_outputs` maps an input file or folder to output paths, checking them before any work;
  `translate_paths` reads, runs and writes them all-or-nothing (`files.StagedFiles`).

Used by `python -m tfstyle.cyclegan.translate` and `python -m tfstyle.fast.stylize`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfstyle import export, files, geometry, images


@dataclasses.dataclass(frozen=True)
class TranslateProgress:
    """Reported after each batch: images done so far, of `total`, and seconds since the start."""

    done: int
    total: int
    elapsed_s: float


class Translator:
    """Translates lists of uint8 images with one network, compiling the step once.

    Args:
        generator: float32 [B, H, W, 3] -> [B, H, W, 3] in `value_range`, variables created in `strategy`'s scope.
        strategy: where to run (default: the current strategy); a global batch is split over its replicas.
        value_range: the network's pixel range, "signed" [-1, 1] (CycleGAN) or "unit" [0, 1] (the style
            networks), as `tfstyle.export.translate_uint8` takes it.
        multiple: the network's size rule: images are padded to a multiple of it (`geometry.SIZE_MULTIPLE`,
            8 for the AdaIN network, `tfstyle.fast.models.ARBITRARY_SIZE_MULTIPLE`, 2 ** k for a k-level U-Net:
            `geometry.generator_rule`).
        min_size: the smallest side accepted, px (`geometry.MIN_SIZE`, or `geometry.generator_rule`'s).
    """

    def __init__(self, generator: keras.Model, strategy: tf.distribute.Strategy | None = None,
                 value_range: str = "signed", multiple: int = geometry.SIZE_MULTIPLE,
                 min_size: int = geometry.MIN_SIZE):
        images.check_value_range(value_range)
        self.generator = generator
        self.min_size = min_size
        self.strategy = strategy or tf.distribute.get_strategy()

        def replica_step(batch):
            return export.translate_uint8(generator, batch, multiple, min_size, value_range)

        @tf.function(reduce_retracing=True)
        def distributed_step(batch):
            outputs = self.strategy.run(replica_step, args=(batch,))
            return self.strategy.experimental_local_results(outputs)

        self._step = distributed_step

    def check_size(self, image: np.ndarray, what: str = "image") -> None:
        """Raises ValueError unless `image` is [H, W, 3] with H, W >= the generator's minimum."""
        shape = np.shape(image)
        if len(shape) != 3 or shape[-1] != 3:
            raise ValueError(f"{what}: expected shape [H, W, 3], got {shape}")
        geometry.check_size(shape[0], shape[1], what, min_size=self.min_size)

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
    value_range: str = "signed",
) -> list[np.ndarray]:
    """Translates uint8 [H_i, W_i, 3] images of any sizes; returns uint8 images of the same sizes.

    A one-call form of `Translator` (which keeps the compiled step for repeated calls).
    """
    return Translator(generator, strategy, value_range)(images_uint8, batch_size=batch_size, callback=callback)


# Images read, translated and written per round: bounds memory on large folders.
_CHUNK_IMAGES = 64


def plan_outputs(input_path: str, output_path: str) -> tuple[list[str], list[str], bool]:
    """Maps inputs to output paths and checks them before any work is done.

    Returns:
        (inputs, outputs, folder_mode).

    Raises:
        FileNotFoundError, ValueError: the message says which path is wrong and why.
    """
    if not input_path:
        raise ValueError("--input is required (an image file or a folder of images)")
    if not output_path:
        raise ValueError("--output is required")
    if not os.path.exists(input_path):
        raise FileNotFoundError(f"--input does not exist: {input_path}")
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        raise ValueError(f"--output must differ from --input (never overwrite the input): {output_path}")
    if os.path.isdir(input_path):
        if os.path.exists(output_path) and not os.path.isdir(output_path):
            raise ValueError(f"--input is a folder, so --output must be a folder, not a file: {output_path}")
        if not os.path.exists(output_path) and output_path.lower().endswith(images.IMAGE_EXTENSIONS):
            raise ValueError(
                f"--input is a folder, so --output must be a folder, not an image file name: {output_path}"
            )
        inputs = images.list_images(input_path)
        outputs = [os.path.join(output_path, _writable_name(os.path.basename(path))) for path in inputs]
        if len(set(outputs)) < len(outputs):
            duplicate = next(path for path in outputs if outputs.count(path) > 1)
            raise ValueError(f"two inputs would both be written to {duplicate} (e.g. x.gif and x.png)")
        return inputs, outputs, True
    if os.path.isdir(output_path):
        output_path = os.path.join(output_path, _writable_name(os.path.basename(input_path)))
        if os.path.realpath(input_path) == os.path.realpath(output_path):
            raise ValueError(f"--output would overwrite --input: {output_path}")
    else:
        images.encode_image(np.zeros((1, 1, 3), np.uint8), output_path)  # ValueError on an unknown extension
        files.check_writable(output_path)
    return [input_path], [output_path], False


def _writable_name(name: str) -> str:
    """Keeps `name` unless its format cannot be written (e.g. .gif): then `<stem>.png`."""
    try:
        images.encode_image(np.zeros((1, 1, 3), np.uint8), name)
        return name
    except ValueError:
        return os.path.splitext(name)[0] + ".png"


def translate_paths(
    translator: Translator, inputs: list[str], outputs: list[str], batch_size: int, progress=None,
    finish: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> None:
    """Reads, translates and writes `inputs` to `outputs` in chunks (all-or-nothing per call).

    `finish(output, input)`, both uint8 [H, W, 3], post-processes each result before it is written
    (e.g. `tfstyle.fast.inference.preserve_colors_of`).

    Every output is staged by `files.StagedFiles` (a hidden folder beside it) and moved into place
    only after all images succeeded; on any error nothing is moved and the staging is removed.
    """
    with files.StagedFiles() as staged:
        for start in range(0, len(inputs), _CHUNK_IMAGES):
            chunk_inputs = inputs[start:start + _CHUNK_IMAGES]
            chunk_outputs = outputs[start:start + _CHUNK_IMAGES]
            arrays = []
            for path in chunk_inputs:
                image = images.read_image_uint8(path)
                translator.check_size(image, path)
                arrays.append(image)
            done_before = [0]

            def report(state, done_before=done_before):
                if progress is not None:
                    progress.update(state.done - done_before[0])
                done_before[0] = state.done

            translated = translator(arrays, batch_size=batch_size, callback=report)
            for path, image, source in zip(chunk_outputs, translated, arrays, strict=True):
                images.save_image(staged.path(path), finish(image, source) if finish else image)
