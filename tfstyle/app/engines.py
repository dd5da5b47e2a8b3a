"""The app's engines: thin calls of the library's public API, one per panel, each reporting through `jobs.Report`.

* `optimize`: `tfstyle.optimize.transfer.stylize` with a callback that reports the current image after every
  chunk of `CHUNK` iterations (the CLI's chunk, so the command shown gives the same picture);
* `fast`: `tfstyle.fast.inference.load_model(...).stylize(...)`, models kept loaded by `ModelCache`;
* `translate`: a CycleGAN run's generator (`tfstyle.cyclegan.inference.load_generator` +
  `tfstyle.inference.Translator`) or a SavedModel's `translate_bytes` signature (`tfstyle.export`);
* `video`: `tfstyle.video.pipeline.run`, the same wiring as `python -m tfstyle.video`.

Images in and out are uint8 [H, W, 3] RGB unless said otherwise.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

from tfstyle import images
from tfstyle.app.jobs import Report, Update
from tfstyle.optimize.config import OptimizeConfig
from tfstyle.video.settings import VideoArgs

CHUNK = 10  # iterations between previews: python -m tfstyle.optimize's chunk (without --save_every)
FAST_PRECISION = "auto"  # python -m tfstyle.fast.stylize's default --precision
# Decoded by a SavedModel's bytes signature (tf.io.decode_image); other uploads are refused for SavedModels.
SAVED_MODEL_FORMATS = ("JPEG", "PNG", "BMP", "GIF")


class ModelCache:
    """Loaded models by (kind, folder, option), the `capacity` most recently used kept; thread-safe.

    `get(key, load)` returns the cached model or `load()`'s, loading each key once.
    """

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._models: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], object]):
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            model = load()
            self._models[key] = model
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return model

    def __contains__(self, key: tuple) -> bool:
        return key in self._models


def optimize(content: str, styles: Sequence[str], config: OptimizeConfig, report: Report) -> np.ndarray:
    """Gatys et al. through `tfstyle.optimize.transfer.stylize`, reporting the current image after every
    `CHUNK` iterations (a `report` that raises stops the run there).

    Args:
        content, styles: image files.
        config: the settings (validated by `stylize`).

    Returns:
        uint8 [H', W', 3], long side `config.image_size`.
    """
    from tfstyle.optimize import transfer

    def callback(info: transfer.StepInfo) -> None:
        stage = f", stage {info.stage + 1}/{info.stages}" if info.stages > 1 else ""
        report(Update(info.step / info.total_steps, f"iteration {info.step}/{info.total_steps}{stage}, "
                      f"{info.size[1]}x{info.size[0]} px, loss {info.loss:.4g}",
                      np.asarray(images.to_uint8(info.image()[0]))))

    report(Update(0.0, "loading the VGG network and the paintings"))
    result = transfer.stylize(content, list(styles), config, callback, chunk_size=CHUNK)
    return np.asarray(images.to_uint8(result))


def fast(cache: ModelCache, model_dir: str, content: str, styles: Sequence[str] = (),
         blend: Sequence[float] | None = None, alpha: float = 1.0, preserve_colors: str = "none") -> np.ndarray:
    """A feed-forward network (`FastModel.stylize`) on one photo file, at its own size; `styles` (files) only for
    an arbitrary-style network. Returns uint8 [H, W, 3] of the photo's size."""
    from tfstyle.fast import inference

    model = cache.get(("fast", model_dir, FAST_PRECISION),
                      lambda: inference.load_model(model_dir, precision=FAST_PRECISION))
    photo = images.read_image_uint8(content)
    paintings = [images.read_image_uint8(path) for path in styles]
    return model.stylize([photo], paintings, blend or None, alpha, preserve_colors)[0]


def translate_cyclegan(cache: ModelCache, model_dir: str, direction: str, content: str) -> np.ndarray:
    """One generator of a CycleGAN run on one photo file; uint8 [H, W, 3] of its size."""
    from tfstyle.cyclegan import inference

    def load():
        generator, config = inference.load_generator(model_dir, direction)
        return inference.translator_for(generator, config)

    translator = cache.get(("cyclegan", model_dir, direction), load)
    photo = images.read_image_uint8(content)
    translator.check_size(photo, os.path.basename(content))
    return translator([photo])[0]


def translate_saved_model(cache: ModelCache, saved_model_dir: str, content: str) -> np.ndarray:
    """A SavedModel export's `translate_bytes` signature (`tfstyle.export`) on one image file's bytes, the call
    `commands.saved_model_command` writes; uint8 [H, W, 3]."""
    import tensorflow as tf
    from PIL import Image

    from tfstyle import export

    with Image.open(content) as image:
        if image.format not in SAVED_MODEL_FORMATS:
            raise ValueError(f"a SavedModel reads {', '.join(SAVED_MODEL_FORMATS)} images, not {image.format}: "
                             "convert the photo first")
    model = cache.get(("savedmodel", saved_model_dir, ""), lambda: tf.saved_model.load(saved_model_dir))
    with open(content, "rb") as file:
        data = file.read()
    signature = model.signatures[export.BYTES_SIGNATURE]
    png = signature(**{export.IMAGE_BYTES_KEY: tf.constant([data])})[export.PNG_BYTES_KEY][0].numpy()
    return images.decode_image_uint8(png, "the SavedModel's output")


def video(args: VideoArgs, report: Report) -> str:
    """`python -m tfstyle.video`'s job (`tfstyle.video.pipeline.run`) for `args` (checked here), reporting after
    every frame (a `report` that raises stops the job there); returns `args.output`."""
    from tfstyle.video import pipeline

    args.check()
    config = OptimizeConfig().validate(len(args.style) or 1)

    @contextmanager
    def progress(frames: int):
        class Counter:
            done = 0

            def update(self, count: int = 1) -> None:
                self.done += count
                report(Update(self.done / max(frames, 1), f"frame {self.done}/{frames}"))

        report(Update(0.0, f"0/{frames} frames"))
        yield Counter()

    return pipeline.run(args, config, progress)
