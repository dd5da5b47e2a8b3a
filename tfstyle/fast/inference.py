"""Load a trained per-style network (from its run folder, or the bundled one) and stylise images of any size.

`load_transformer(model_dir)` rebuilds the network from `<model_dir>/config.json` (task "fast_style") and
restores it from the newest readable checkpoint (`tfstyle.training.rundir.RunDir`). `load_transformer()`
with no folder loads the bundled model (`BUNDLED_MODEL`: a network of the bundled Starry Night, trained by
`python -m tfstyle.fast.train`, its weights stored in float16; its MODEL_CARD.md says how).

Images of any size are stylised by `tfstyle.inference.Translator` (the same padding, batching over replicas and
uint8 handling as `translate` and the exports, `tfstyle.export.translate_uint8`), told that the network
works in [0, 1] (`models.VALUE_RANGE`).
"""

from __future__ import annotations

import logging
import os

import keras
import numpy as np
import tensorflow as tf

from tfstyle.fast import models
from tfstyle.fast.config import TASK, FastTrainConfig
from tfstyle.training import rundir

logger = logging.getLogger(__name__)

ASSETS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets")
BUNDLED_MODEL = os.path.join(ASSETS, "models", "starry_night")  # config.json, weights.npz, MODEL_CARD.md
WEIGHTS_FILE = "weights.npz"  # a bundled model's weights: float16 arrays "0", "1", ... in `model.weights` order


def load_transformer(model_dir: str | os.PathLike | None = None,
                     strategy: tf.distribute.Strategy | None = None) -> tuple[keras.Model, FastTrainConfig]:
    """Rebuilds a trained transformer: float32 [B, H, W, 3] in [0, 1] -> [0, 1] (H, W multiples of 4).

    Args:
        model_dir: a training run folder (config.json of a fast_style run, checkpoints/), a bundled-model
            folder (config.json + weights.npz), or None for `BUNDLED_MODEL`.
        strategy: the variables are created in its scope (default: the current strategy).

    Returns:
        (transformer, its training config).

    Raises:
        FileNotFoundError: no such folder, no config.json, or no checkpoint.
        ValueError: a run folder of another trainer (a CycleGAN run, say), or weights that do not fit.
    """
    folder = os.fspath(model_dir) if model_dir is not None else BUNDLED_MODEL
    run_dir = rundir.RunDir(folder)
    run_dir.check_exists()
    config = run_dir.load_config(FastTrainConfig, task=TASK)
    bundled = os.path.isfile(os.path.join(folder, WEIGHTS_FILE))
    if not bundled:
        run_dir.check_has_checkpoint(f"train first with python -m tfstyle.fast.train --model_dir {folder} ...")
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        transformer = models.build_transformer(config.filters, config.residual_blocks, name="transformer")
        if bundled:
            load_weights(transformer, os.path.join(folder, WEIGHTS_FILE))
            logger.info("loaded the model in %s", folder)
        else:
            path = run_dir.restore_required(tf.train.Checkpoint(transformer=transformer), partial=True)
            logger.info("restored the transformer from %s", path)
    return transformer, config


def save_weights(model: keras.Model, path: str | os.PathLike) -> str:
    """Writes `model`'s weights as float16 arrays in a compressed .npz (half the size of float32), atomically."""
    from tfstyle import files

    arrays = {str(index): np.asarray(weight, np.float16) for index, weight in enumerate(model.get_weights())}
    with files.atomic_path(os.fspath(path)) as temp_path, open(temp_path, "wb") as file:
        np.savez_compressed(file, **arrays)
    return os.fspath(path)


def load_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Reads `save_weights`' file into `model` (cast back to float32); ValueError if the shapes do not fit."""
    with np.load(os.fspath(path)) as stored:
        arrays = [stored[str(index)] for index in range(len(stored.files))]
    expected = [tuple(weight.shape) for weight in model.weights]
    if [array.shape for array in arrays] != expected:
        raise ValueError(f"{path} does not fit a {model.name} of this configuration "
                         f"({len(arrays)} arrays, the model has {len(expected)} weights)")
    model.set_weights([array.astype(np.float32) for array in arrays])


def stylize_images(transformer: keras.Model, images_uint8, batch_size: int = 1,
                   strategy: tf.distribute.Strategy | None = None) -> list[np.ndarray]:
    """Stylises uint8 [H_i, W_i, 3] images of any sizes (>= 8 px a side); returns uint8 images of the same sizes."""
    from tfstyle import inference

    return inference.translate_images(transformer, images_uint8, batch_size=batch_size, strategy=strategy,
                                      value_range=models.VALUE_RANGE)
