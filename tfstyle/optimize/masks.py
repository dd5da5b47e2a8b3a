"""Spatial control of the optimisation path (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer"): which style paints which part of the output, and which part stays the photo.

Masks are greyscale images, float32 [H, W] in [0, 1] here (0 black: outside, 1 white: inside; RGB files are
averaged over their channels). From K style masks m_k and an optional preserve mask p, `regions` makes

    r_k = m_k / max(1, sum_j m_j) * (1 - p)      (overlaps share their weight; p takes the region back)
    keep = 1 - sum_k r_k                         (where no style reaches: the photo)

The optimisation gives region k the guided Gram loss of style k (`tfstyle.losses.guided_style_loss`, the
masks resized to each VGG layer by `tfstyle.loss_targets.guided_targets`), and the result is composited
with the photo by `keep` (`composite`), so a preserved or uncovered pixel is the photo's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from tfstyle import images

logger = logging.getLogger(__name__)


def load_mask(path: str | os.PathLike, what: str = "mask") -> np.ndarray:
    """A mask file as float32 [H, W] in [0, 1].

    Raises:
        FileNotFoundError / ValueError: no such file, not an image, or a mask that is 0 everywhere.
    """
    pixels = images.read_image_uint8(images.check_file(path))
    mask = pixels.astype(np.float32).mean(axis=-1) / 255.0
    if not np.any(mask > 0):
        raise ValueError(f"{what} {os.fspath(path)} is black everywhere: it selects nothing")
    return mask


def fit(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`mask` float32 [h, w] resized (bilinear, antialiased) to `size` = (H, W), in [0, 1]."""
    if mask.shape == tuple(size):
        return mask
    import tensorflow as tf

    resized = tf.image.resize(mask[None, :, :, None], size, method="bilinear", antialias=True)
    return np.clip(np.asarray(resized)[0, :, :, 0], 0.0, 1.0)


def log_resizes(masks: Sequence[tuple[str, np.ndarray]], size: tuple[int, int]) -> None:
    """One info line per (name, mask) whose aspect ratio differs from the output's `size` (H, W): it will be
    stretched to fit."""
    for name, mask in masks:
        height, width = mask.shape
        if abs(width / height - size[1] / size[0]) > 0.01:
            logger.info("%s is %dx%d px, the output %dx%d px: it is stretched to the output's shape", name, width,
                        height, size[1], size[0])


def regions(style_masks: Sequence[np.ndarray], preserve: np.ndarray | None, size: tuple[int, int],
            styles: int) -> tuple[np.ndarray, np.ndarray]:
    """(r float32 [H, W, K], keep float32 [H, W]) at `size` (see the module docstring).

    Args:
        style_masks: K masks, one per style (any sizes), or empty: one region for the (blended) styles.
        preserve: the preserve mask p, or None.
        size: (H, W) of the stage.
        styles: the number of styles (used when `style_masks` is empty: K = 1).
    """
    if style_masks:
        stacked = np.stack([fit(mask, size) for mask in style_masks], axis=-1)
        stacked = stacked / np.maximum(1.0, stacked.sum(axis=-1, keepdims=True))
    else:
        stacked = np.ones((*size, 1), np.float32)
    if preserve is not None:
        stacked = stacked * (1.0 - fit(preserve, size))[..., None]
    stacked = stacked.astype(np.float32)
    return stacked, np.clip(1.0 - stacked.sum(axis=-1), 0.0, 1.0).astype(np.float32)


def composite(result: np.ndarray, photo: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """keep * photo + (1 - keep) * result: float32 [B, H, W, 3] results and photos, keep [H, W]."""
    keep = keep[None, :, :, None]
    return (keep * photo + (1.0 - keep) * result).astype(np.float32)
