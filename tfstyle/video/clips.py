"""Clips with known motion, cut from one photo, and the region of each frame that entered it.

A temporal method is judged on two things: how little its output flickers (`temporal.warping_error`) and
whether content that enters the frame is painted as well as frame by frame. The second needs to know where the
new content is; a camera move synthesised from a still photo says so exactly:

    clip = clips.pan(photo, frames=12, size=(120, 160), step=(0, 6))   # the window moves 6 px right a frame
    clip.frames[t]      # uint8 [120, 160, 3]
    clip.entered[t]     # (rows, cols) slices of frame t that show content outside frame 0, or None

`entered[t]` is the largest full-height or full-width strip of frame t whose content frame 0 did not show
(for a pan the side it moves towards; for a zoom out the wider of the four borders); for a zoom in nothing
enters and it is the whole frame (every pixel is the previous frame's content, magnified). It is None on frames
where the strip is still thinner than `min_strip` px.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

MIN_STRIP = 24


@dataclasses.dataclass(frozen=True)
class KnownMotionClip:
    """frames: uint8 [H, W, 3] each; entered: per frame, (rows, cols) slices or None; name: what moves how."""

    name: str
    frames: list[np.ndarray]
    entered: list[tuple[slice, slice] | None]


def _sampled(photo: np.ndarray, size: tuple[int, int], centre: tuple[float, float], scale: float) -> np.ndarray:
    """The frame of `size` (h, w) whose pixel (y, x) shows the photo at centre + scale * ((y, x) - frame centre),
    bicubic; `photo` has been prefiltered for `scale` near 1."""
    import cv2

    height, width = size
    cy, cx = centre
    matrix = np.array([[scale, 0.0, cx - scale * (width - 1) / 2.0],
                       [0.0, scale, cy - scale * (height - 1) / 2.0]], np.float32)
    return cv2.warpAffine(np.ascontiguousarray(photo), matrix, (width, height),
                          flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)


def _fitted(photo: np.ndarray, size: tuple[int, int], reach: tuple[float, float]) -> np.ndarray:
    """`photo` resized (antialiased) so that a window of `size` plus `reach` (px of motion, y and x) fits in
    it with the least downscaling."""
    from tfstyle import images

    need_h, need_w = int(math.ceil(size[0] + reach[0])), int(math.ceil(size[1] + reach[1]))
    factor = min(photo.shape[0] / need_h, photo.shape[1] / need_w)
    if factor <= 1.0:
        return photo
    target = (max(need_h, round(photo.shape[0] / factor)), max(need_w, round(photo.shape[1] / factor)))
    return np.asarray(images.to_uint8(images.resize(images.to_float(photo), target)))


def _strip(size: tuple[int, int], side: str, thickness: float, min_strip: int) -> tuple[slice, slice] | None:
    height, width = size
    thick = int(math.floor(thickness))
    if thick < min_strip:
        return None
    return {"right": (slice(0, height), slice(width - thick, width)), "left": (slice(0, height), slice(0, thick)),
            "down": (slice(height - thick, height), slice(0, width)), "up": (slice(0, thick), slice(0, width))}[side]


def pan(photo: np.ndarray, frames: int, size: tuple[int, int], step: tuple[int, int],
        min_strip: int = MIN_STRIP) -> KnownMotionClip:
    """A window of `size` (h, w) px moving `step` (dy, dx) whole px a frame across `photo` (uint8 [H, W, 3]),
    so the content moves by -step; one of dy, dx is 0."""
    dy, dx = step
    if (dy == 0) == (dx == 0):
        raise ValueError(f"a pan moves along one axis, got step {step}")
    height, width = size
    fitted = _fitted(photo, size, (abs(dy) * (frames - 1), abs(dx) * (frames - 1)))
    top = (fitted.shape[0] - height) // 2 - dy * (frames - 1) // 2
    left = (fitted.shape[1] - width) // 2 - dx * (frames - 1) // 2
    side = "right" if dx > 0 else "left" if dx < 0 else "down" if dy > 0 else "up"
    clip, entered = [], []
    for t in range(frames):
        y, x = top + dy * t, left + dx * t
        clip.append(np.ascontiguousarray(fitted[y:y + height, x:x + width]))
        entered.append(_strip(size, side, abs(dy or dx) * t, min_strip))
    return KnownMotionClip(f"pan {side}", clip, entered)


def zoom(photo: np.ndarray, frames: int, size: tuple[int, int], rate: float,
         min_strip: int = MIN_STRIP) -> KnownMotionClip:
    """A window of `size` (h, w) px over the centre of `photo`, its side scaled by (1 - rate) each frame: rate > 0
    zooms in (the content grows), rate < 0 zooms out (new content enters at every border)."""
    height, width = size
    scales = [(1.0 - rate) ** t for t in range(frames)]
    reach = max(scales)
    fitted = _fitted(photo, (int(math.ceil(height * reach)), int(math.ceil(width * reach))), (0, 0))
    centre = ((fitted.shape[0] - 1) / 2.0, (fitted.shape[1] - 1) / 2.0)
    clip, entered = [], []
    for scale in scales:
        clip.append(_sampled(fitted, size, centre, scale))
        if rate > 0:
            entered.append((slice(0, height), slice(0, width)))
        else:  # frame 0 covers the central 1 / scale of this frame
            border_x, border_y = width * (1 - 1 / scale) / 2, height * (1 - 1 / scale) / 2
            entered.append(_strip(size, "right", border_x, min_strip) if border_x >= border_y
                           else _strip(size, "down", border_y, min_strip))
    return KnownMotionClip(f"zoom {'in' if rate > 0 else 'out'}", clip, entered)


def known_motion_clips(photo: np.ndarray, frames: int = 12, size: tuple[int, int] = (120, 160), step: int = 6,
                       zoom_rate: float = 0.03) -> list[KnownMotionClip]:
    """The six clips the temporal tests and studies use: pans right, left, down and up by `step` px a frame, a
    zoom in and a zoom out by `zoom_rate` a frame."""
    pans = [pan(photo, frames, size, move) for move in ((0, step), (0, -step), (step, 0), (-step, 0))]
    return [*pans, zoom(photo, frames, size, zoom_rate), zoom(photo, frames, size, -zoom_rate)]
