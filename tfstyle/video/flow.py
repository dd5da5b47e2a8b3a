"""Optical flow between video frames, backward warping and the occlusion mask, on the CPU with OpenCV.

Conventions (Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos"): a flow w from frame a to
frame b is float32 [H, W, 2] (dx, dy) in pixels, such that the content at (x, y) in a is at (x, y) + w(x, y)
in b. `warp(image_b, flow_ab)` pulls b back onto a's grid: out(x) = image_b(x + w(x)), bilinear, edges
replicated. So the previous stylised frame is carried onto the current one by `warp(previous, flow(current,
previous))`.

The flow is OpenCV's DIS (Kroeger et al. 2016, "Fast Optical Flow using Dense Inverse Search"), preset
MEDIUM: 3.8 ms for a 256 x 256 pair on the 2-core Xeon of 2026-12-06 (Farneback with OpenCV's usual
parameters: 12.5 ms, measured beside it), with sub-pixel accuracy on a real photo's pan (`tests/test_video.py`);
the learned flows Ruder et al. used (DeepFlow, EpicFlow) take seconds a frame. It runs on grey images.

`consistency_mask(forward, backward)` marks the pixels whose forward and backward flows agree (Sundaram,
Brox & Keutzer 2010, as in Ruder et al. eq. 6): 1 where |w(x) + w'(x + w(x))|^2 <= 0.01 (|w|^2 + |w'|^2) + 0.5,
else 0 (occluded or disoccluded). Pixels whose flow leaves the frame are 0 too.
"""

from __future__ import annotations

import numpy as np

PRESET = "medium"


def _cv2():
    try:
        import cv2
    except ImportError as error:
        raise ImportError('optical flow needs OpenCV: pip install "tfstyle[video]"') from error
    return cv2


def _grey(image: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def flow(image_a: np.ndarray, image_b: np.ndarray) -> np.ndarray:
    """Dense optical flow from `image_a` to `image_b` (uint8 [H, W, 3] RGB, or float in [0, 1]): float32
    [H, W, 2] (dx, dy) px, content at x in a is at x + flow(x) in b."""
    cv2 = _cv2()
    grey_a, grey_b = _grey(image_a), _grey(image_b)
    if grey_a.shape != grey_b.shape:
        raise ValueError(f"frames of different sizes: {grey_a.shape} and {grey_b.shape}")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(grey_a, grey_b, None).astype(np.float32)


def _sample_grid(flow_ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = flow_ab.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs + flow_ab[..., 0], ys + flow_ab[..., 1]


def warp(image_b: np.ndarray, flow_ab: np.ndarray, interpolation: str = "linear") -> np.ndarray:
    """Backward warp: out(x) = image_b(x + flow_ab(x)), edges replicated; same dtype and size as `image_b`
    ([H, W] or [H, W, C], uint8 or float32). `interpolation`: "linear" (bilinear), "nearest" (copies pixels),
    "cubic" or "lanczos" (8 x 8 windowed sinc: carried frame after frame it keeps a painted texture sharp
    where bilinear blurs it a little each time; `temporal.TemporalBlender`)."""
    cv2 = _cv2()
    map_x, map_y = _sample_grid(flow_ab)
    modes = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC,
             "lanczos": cv2.INTER_LANCZOS4}
    return cv2.remap(np.ascontiguousarray(image_b), map_x, map_y, interpolation=modes[interpolation],
                     borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """float32 [H, W]: 1 where the forward flow a->b and the backward flow b->a agree (not occluded), else 0.

    Args:
        forward: flow a -> b, float32 [H, W, 2]; backward: flow b -> a, same shape.
    """
    cv2 = _cv2()
    height, width = forward.shape[:2]
    map_x, map_y = _sample_grid(forward)
    back = cv2.remap(np.ascontiguousarray(backward), map_x, map_y, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)  # w'(x + w(x))
    round_trip = np.sum(np.square(forward + back), axis=-1)
    magnitudes = np.sum(np.square(forward), axis=-1) + np.sum(np.square(back), axis=-1)
    agree = round_trip <= 0.01 * magnitudes + 0.5
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return (agree & inside).astype(np.float32)
