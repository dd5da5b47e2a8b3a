"""Temporal consistency for one-pass engines: each frame keeps the paint of the previous output, carried along
the optical flow, where that paint belongs to the same content, and takes the engine's new painting elsewhere.

For frame t with input x_t, the engine's output y_t, and the previous input x_{t-1}::

    w = flow(x_t -> x_{t-1}),  w' = flow(x_{t-1} -> x_t)
    c = consistency_mask(w, w') * not_from_the_edge(w, m) * [mean_rgb |x_t - warp(x_{t-1}, w)| <= tau]

c is 1 where x_t's pixel was visible in x_{t-1} (Ruder et al.'s forward-backward check), did not come from the
band of m px at x_{t-1}'s border (content that has just entered the frame, `flow.not_from_the_edge`) and
still looks the same (the photometric check: a pixel whose photo changed, by light or a deforming object, is
painted anew). Where c = 0 the output is y_t. Where c = 1, with s = `strength`:

* s = 1, carry "coordinates" (default): the pixel keeps the paint it had, found through the flow: each output
  pixel is painting_k(p) for the frame k that painted it and a float position p in that frame, p is carried
  along w from frame to frame (`_Canvas`), and the pixel is sampled once from painting_k with an 8 x 8
  Lanczos kernel. Paint the flow has magnified more than `max_stretch` times since it was painted (a zoom in)
  is painted anew.
* carry "colours", or s < 1: o_t = s c warp(o_{t-1}, w) + (1 - s c) y_t, the previous output resampled.

Why (`experiments/study_temporal_carry.py`, the bundled network in float32 on a 2-core AMD EPYC with
AVX512_BF16, 2026-12-07, results in `experiments/results/`): each variant is judged on Lai et al.'s warping
error relative to frame by frame AND on the worst frame's style and content loss relative to the same frame
painted alone, in the region that entered the frame, on pans in four directions, a zoom in and out (24 frames,
240 x 160 px) and the hand-held "carphone" clip (whole frame). A smear scores well on warping error alone.

* The network paints the outermost ~2 px of a frame unlike the same content inside (mean 74-137 levels of
  difference against 11-30). Carried inwards with the content, that band became the streaks of old paint over
  new content (worst frame 3.7-12.8x frame by frame's style loss on the pans, at 0.01x the warping error).
  The network engines now paint each frame in 16 px of reflected context (`engines.in_context`), and the edge
  rule with m = 8 repaints what the flow brings in from the border: pans 1.00-1.06x worst style, <= 1.09x
  worst content, warping error 0.18-0.38x.
* Resampling the previous output every frame (colours) softens its texture a little each time: worst frame
  1.20x on the 120-frame real clip. Carrying coordinates samples each pixel once: 1.04x, at 0.47x the warping
  error (colours 0.28x), so it is the default. One sub-pixel resampling of the network's pixel-level texture
  still costs up to +12 % style loss (a half-pixel Lanczos shift; cubic +38 %, bilinear +93 %), so Lanczos it is.
* A zoom in magnifies the carried strokes: the worst frame of a 2x zoom is 1.70x without the stretch rule and
  1.35x with max_stretch = 1.5, at 0.09x and 0.24x the warping error.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfstyle.video import flow as flow_lib

MAX_CHANGE = 0.06
EDGE_MARGIN = 8.0
MAX_STRETCH = 1.5


def reliable_flow(frame: np.ndarray, previous: np.ndarray, max_change: float = MAX_CHANGE,
                  edge_margin: float = EDGE_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Where the previous output can be carried onto `frame`: (w, c) with w = flow(frame -> previous), float32
    [H, W, 2] px, and c float32 [H, W] in {0, 1}: the forward-backward check times the photometric check (mean
    RGB change along w at most `max_change`, in [0, 1] units). Both temporal methods use it: the blend below and
    the optimisation engine's temporal loss (`engines.OptimizeEngine`).

    Args:
        frame, previous: the input frames x_t and x_{t-1}, uint8 [H, W, 3].
    """
    forward = flow_lib.flow(frame, previous)  # x_t -> x_{t-1}
    backward = flow_lib.flow(previous, frame)
    seen = flow_lib.warp(previous, forward).astype(np.float32)
    same = np.abs(frame.astype(np.float32) - seen).mean(axis=-1) <= 255.0 * max_change
    carried = flow_lib.consistency_mask(forward, backward) * flow_lib.not_from_the_edge(forward, edge_margin)
    return forward, carried * same


CARRIES = ("coordinates", "colours")
# At most this many paintings referenced by a coordinate carry; beyond, the output becomes the one painting.
MAX_PAINTINGS = 32


@dataclasses.dataclass
class _Canvas:
    """What a coordinate carry holds: each output pixel is painting[k](x, y) for its own k and float (x, y).

    paintings: {k: uint8 [H, W, 3]}; index: int32 [H, W], the k of each pixel; map_x, map_y: float32 [H, W] px.
    """

    paintings: dict
    index: np.ndarray
    map_x: np.ndarray
    map_y: np.ndarray

    @classmethod
    def of(cls, painting: np.ndarray, key: int = 0) -> _Canvas:
        height, width = painting.shape[:2]
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        return cls({key: painting}, np.full((height, width), key, np.int32), xs, ys)

    def advected(self, forward: np.ndarray) -> _Canvas:
        """This canvas carried onto the next frame along `forward` (flow next -> this, [H, W, 2] px): each pixel
        takes the painting and coordinates of its source s = x + w(x). Where the four pixels around s share a
        painting the coordinates are bilinear in them (exact for any locally affine motion), elsewhere those of
        the nearest pixel shifted by s minus it."""
        height, width = self.index.shape
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        source_x, source_y = xs + forward[..., 0], ys + forward[..., 1]
        near_x = np.clip(np.rint(source_x), 0, width - 1).astype(np.int32)
        near_y = np.clip(np.rint(source_y), 0, height - 1).astype(np.int32)
        index = self.index[near_y, near_x]
        key = self.index.astype(np.float32)
        spread = (flow_lib.sample(key * key, source_x, source_y) - np.square(flow_lib.sample(key, source_x, source_y)))
        shared = np.abs(spread) < 1e-3
        map_x = np.where(shared, flow_lib.sample(self.map_x, source_x, source_y),
                         self.map_x[near_y, near_x] + (source_x - near_x))
        map_y = np.where(shared, flow_lib.sample(self.map_y, source_x, source_y),
                         self.map_y[near_y, near_x] + (source_y - near_y))
        return _Canvas(self.paintings, index, map_x, map_y)

    def stretch(self) -> np.ndarray:
        """float32 [H, W]: how many times each pixel's paint has been magnified since it was painted, the
        inverse square root of the Jacobian determinant of (map_x, map_y); 1 where a pixel's neighbours come from
        another painting (no scale is defined across a seam)."""
        jx_x, jx_y = np.gradient(self.map_x, axis=(1, 0))
        jy_x, jy_y = np.gradient(self.map_y, axis=(1, 0))
        area = np.abs(jx_x * jy_y - jx_y * jy_x)
        padded = np.pad(self.index, 1, mode="edge")
        seam = np.zeros(self.index.shape, bool)
        for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
            seam |= padded[dy:dy + self.index.shape[0], dx:dx + self.index.shape[1]] != self.index
        return np.where(seam, 1.0, 1.0 / np.sqrt(np.maximum(area, 1e-6))).astype(np.float32)

    def render(self, interpolation: str) -> np.ndarray:
        """uint8 [H, W, 3]: every pixel sampled once from its painting."""
        height, width = self.index.shape
        out = np.empty((height, width, 3), np.uint8)
        for key, painting in self.paintings.items():
            where = self.index == key
            if where.any():
                out[where] = flow_lib.sample(painting, self.map_x[where], self.map_y[where], interpolation)
        return out

    def painted(self, where: np.ndarray, painting: np.ndarray, key: int) -> _Canvas:
        """This canvas with the pixels `where` (bool [H, W]) taken from `painting` as is; unused paintings go."""
        fresh = _Canvas.of(painting, key)
        index = np.where(where, key, self.index)
        used = set(np.unique(index).tolist())
        paintings = {k: v for k, v in {**self.paintings, key: painting}.items() if k in used}
        return _Canvas(paintings, index, np.where(where, fresh.map_x, self.map_x),
                       np.where(where, fresh.map_y, self.map_y))


@dataclasses.dataclass
class TemporalBlender:
    """Carries the previous input and output from frame to frame; `__call__(frame, stylised)` returns o_t.

    Args:
        strength: s in [0, 1]; 0 returns each stylised frame unchanged (no flow is computed).
        max_change: tau, the largest mean RGB change (in [0, 1]) of a pixel's photo along the flow for which
            its painting is carried.
        interpolation: how a painting is resampled along the flow (`flow.sample`): lanczos (default), nearest,
            linear or cubic.
        edge_margin: px; content the flow brings inwards from this band of the previous frame's border is
            painted anew (`flow.not_from_the_edge`).
        carry: "coordinates" (default, at s = 1): each pixel keeps where in which frame's painting its paint
            came from, those coordinates are carried along the flow, and every output pixel is sampled once from
            its painting, so a texture carried for many frames is as sharp as when it was painted; "colours": the
            previous output is resampled every frame (each resampling softens it a little). s < 1 mixes
            colours, so it carries colours.
        max_stretch: under the coordinate carry, paint the flow has magnified more than this many times since it
            was painted (a zoom in) is painted anew, so strokes keep the network's size (`_Canvas.stretch`).
    """

    strength: float = 1.0
    max_change: float = MAX_CHANGE
    interpolation: str = "lanczos"
    edge_margin: float = EDGE_MARGIN
    carry: str = "coordinates"
    max_stretch: float = MAX_STRETCH
    _previous_input: np.ndarray | None = None
    _previous_output: np.ndarray | None = None
    _canvas: _Canvas | None = None
    _frames: int = 0

    def __post_init__(self):
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"--temporal_strength must be in [0, 1], got {self.strength}")
        if self.max_stretch <= 1.0:
            raise ValueError(f"max_stretch must be > 1, got {self.max_stretch}")
        if self.carry not in CARRIES:
            raise ValueError(f"carry must be one of {', '.join(CARRIES)}, got {self.carry!r}")

    def reset(self, previous_input: np.ndarray | None = None, previous_output: np.ndarray | None = None) -> None:
        """Starts over (a new clip), or from a known previous frame (a resumed run: its output is the painting)."""
        self._previous_input, self._previous_output = previous_input, previous_output
        self._canvas = None if previous_output is None else _Canvas.of(previous_output)
        self._frames = 1

    def __call__(self, frame: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        """frame: the input x_t, uint8 [H, W, 3]; stylised: y_t, uint8 [H, W, 3]. Returns o_t, uint8."""
        key = self._frames
        self._frames += 1
        coordinates = self.carry == "coordinates" and self.strength == 1.0
        if self.strength == 0 or self._previous_output is None:  # nothing to carry: o_t = y_t
            output = stylised
            self._canvas = _Canvas.of(stylised, key) if coordinates else None
        else:
            forward, reliable = reliable_flow(frame, self._previous_input, self.max_change, self.edge_margin)
            if coordinates:
                canvas = self._canvas.advected(forward)
                canvas = canvas.painted((reliable < 0.5) | (canvas.stretch() > self.max_stretch), stylised, key)
                if len(canvas.paintings) > MAX_PAINTINGS:
                    canvas = _Canvas.of(canvas.render(self.interpolation), key)
                self._canvas = canvas
                output = canvas.render(self.interpolation)
            else:
                weight = self.strength * reliable[..., None]
                carried = flow_lib.warp(self._previous_output, forward, self.interpolation).astype(np.float32)
                output = np.clip(np.round(weight * carried + (1.0 - weight) * stylised), 0, 255).astype(np.uint8)
        self._previous_input, self._previous_output = frame, output
        return output


def warping_error(inputs, outputs) -> float:
    """Lai et al. 2018's temporal warping error of an output clip, in squared [0, 1] units:

        E = 1 / (T - 1) sum_{t>=1} sum_x c_t(x) ||o_t(x) - warp(o_{t-1}, w_t)(x)||^2 / (3 sum_x c_t(x))

    with w_t = flow(x_t -> x_{t-1}) and c_t the consistency mask, both from the INPUT frames (so a method
    cannot lower it by changing the flow it is judged by).

    Args:
        inputs, outputs: sequences of uint8 [H, W, 3] frames, the same length (>= 2) and sizes.
    """
    inputs, outputs = list(inputs), list(outputs)
    if len(inputs) != len(outputs) or len(inputs) < 2:
        raise ValueError(f"need two clips of the same length >= 2, got {len(inputs)} and {len(outputs)} frames")
    errors = []
    for t in range(1, len(inputs)):
        forward = flow_lib.flow(inputs[t], inputs[t - 1])
        mask = flow_lib.consistency_mask(forward, flow_lib.flow(inputs[t - 1], inputs[t]))
        carried = flow_lib.warp(outputs[t - 1], forward).astype(np.float32) / 255.0
        squared = np.square(outputs[t].astype(np.float32) / 255.0 - carried).sum(axis=-1)
        errors.append(float((mask * squared).sum() / (3.0 * max(mask.sum(), 1.0))))
    return float(np.mean(errors))
