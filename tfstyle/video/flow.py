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
else 0 (occluded or disoccluded). Pixels whose flow leaves the frame are 0 too. `not_from_the_edge(flow, m)`
marks 0 the content the flow brings inwards from the m px at the other frame's border (it has just entered).

`sample(image, map_x, map_y)` reads an image at float positions of any shape (nearest, bilinear, bicubic or 8 x 8
Lanczos); `warp` is `sample` at x + w(x).
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


_MODES = {"linear": "INTER_LINEAR", "nearest": "INTER_NEAREST", "cubic": "INTER_CUBIC", "lanczos": "INTER_LANCZOS4"}


def sample(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interpolation: str = "linear") -> np.ndarray:
    """out[i] = image(map_x[i], map_y[i]), edges replicated: `image` [H, W] or [H, W, C] (uint8 or float32) read
    at float32 px coordinates of any shape ([h, w] or [n]); out has that shape (plus C) and `image`'s dtype.
    `interpolation` as in `warp`."""
    cv2 = _cv2()
    shape, channels = np.shape(map_x), np.shape(image)[2:]
    map_x, map_y = np.asarray(map_x, np.float32), np.asarray(map_y, np.float32)
    if map_x.size == 0:
        return np.zeros((*shape, *channels), np.asarray(image).dtype)
    if len(shape) != 2:  # remap takes 2-D maps of < 32767 px a side: a list of points goes in rows of 4096
        rows = -(-map_x.size // 4096)
        map_x, map_y = (np.resize(np.ravel(m), rows * 4096).reshape(rows, 4096) for m in (map_x, map_y))
    out = cv2.remap(np.ascontiguousarray(image), map_x, map_y, interpolation=getattr(cv2, _MODES[interpolation]),
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, *channels)[:int(np.prod(shape))].reshape((*shape, *channels))


def warp(image_b: np.ndarray, flow_ab: np.ndarray, interpolation: str = "linear") -> np.ndarray:
    """Backward warp: out(x) = image_b(x + flow_ab(x)), edges replicated; same dtype and size as `image_b`
    ([H, W] or [H, W, C], uint8 or float32). `interpolation`: "linear" (bilinear), "nearest" (copies pixels),
    "cubic" or "lanczos" (8 x 8 windowed sinc: it keeps a painted texture sharper than bilinear)."""
    return sample(image_b, *_sample_grid(flow_ab), interpolation)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """float32 [H, W]: 1 where the forward flow a->b and the backward flow b->a agree (not occluded), else 0.

    Args:
        forward: flow a -> b, float32 [H, W, 2]; backward: flow b -> a, same shape.
    """
    cv2 = _cv2()
    map_x, map_y = _sample_grid(forward)
    back = cv2.remap(np.ascontiguousarray(backward), map_x, map_y, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)  # w'(x + w(x))
    round_trip = np.sum(np.square(forward + back), axis=-1)
    magnitudes = np.sum(np.square(forward), axis=-1) + np.sum(np.square(back), axis=-1)
    agree = round_trip <= 0.01 * magnitudes + 0.5
    return agree.astype(np.float32) * inside(forward)


def inside(flow_ab: np.ndarray) -> np.ndarray:
    """float32 [H, W] in {0, 1}: 1 where the source x + flow_ab(x) lies in b's frame, [0, W - 1] x [0, H - 1].

    Args:
        flow_ab: flow a -> b, float32 [H, W, 2] (dx, dy) px.
    """
    height, width = flow_ab.shape[:2]
    map_x, map_y = _sample_grid(flow_ab)
    return ((map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)).astype(np.float32)


def _edge_distance(coordinate: np.ndarray, length: int) -> np.ndarray:
    return np.minimum(coordinate, length - 1 - coordinate)


def not_from_the_edge(flow_ab: np.ndarray, margin: float, tolerance: float = 0.5) -> np.ndarray:
    """float32 [H, W] in {0, 1}: 0 where the flow brings content inwards from the band of b's frame within
    `margin` px of its border, else 1.

    Per axis, with d(x) = the distance of x to a's border and d(s) that of the source s = x + flow_ab(x) to b's:
    1 where d(s) >= min(d(x), margin) - tolerance. Content that stays as far from the border as it was (a pan
    along that border, a zoom in) keeps 1; content that was within `margin` px of b's border and is now further
    in (it entered the frame a moment ago) gets 0. A network's painting of the few px at a frame's border sees
    only padding beyond it, so it is unlike its painting of the same content further in.

    Args:
        flow_ab: flow a -> b, float32 [H, W, 2] (dx, dy) px.
        margin: px, >= 0; tolerance: px of flow error allowed.
    """
    height, width = flow_ab.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x, map_y = _sample_grid(flow_ab)
    keep_x = _edge_distance(map_x, width) >= np.minimum(_edge_distance(xs, width), margin) - tolerance
    keep_y = _edge_distance(map_y, height) >= np.minimum(_edge_distance(ys, height), margin) - tolerance
    return (keep_x & keep_y).astype(np.float32)
