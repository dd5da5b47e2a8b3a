"""Temporal consistency for one-pass engines: each stylised frame is blended with the previous output carried
along the optical flow, where the flow is reliable.

For frame t with input x_t and the engine's output y_t, and the previous input x_{t-1} and final output
o_{t-1}::

    w = flow(x_t -> x_{t-1}),  w' = flow(x_{t-1} -> x_t)
    c = consistency_mask(w, w') * [mean_rgb |x_t - warp(x_{t-1}, w)| <= tau]
    o_t = s c warp_lanczos(o_{t-1}, w) + (1 - s c) y_t

with s = `strength` in [0, 1] (0: frame by frame) and tau = `max_change` (in [0, 1] units). c is 1 where x_t's
pixel was visible in x_{t-1} (Ruder et al.'s forward-backward check) and still looks the same there (the
photometric check: a pixel whose photo changed, by light or by a deforming object, is painted anew). Pixels
that pass are carried, the rest take the new frame, so strokes stay put instead of flickering.

Why these choices (`experiments/study_temporal_carry.py`, the bundled network, 2-core AMD EPYC, 2026-12-06; its
output is in `experiments/results/`): averaging the carried and the new frame (s < 1) lowers the flicker but
blurs the texture, because the two frames' strokes do not line up (+14 to +42 % style loss at s = 0.8-0.97).
With s = 1 the resampling decides. Bilinear carrying blurs the painting a little more every frame (+42 to
+76 % style loss), cubic rings (+26 to +96 %); copying the nearest pixel keeps it sharp but moves strokes in
whole pixels, so on the sub-pixel motion of a real hand-held clip they stand still while the photo moves
(warping error 0.66x frame by frame on the "carphone" sequence). Lanczos (8 x 8 windowed sinc) keeps both:
0.15x the warping error at +1.5 % style loss on the real clip, 0.03x at +11 % on the synthetic pan-and-zoom,
where every pixel is resampled every frame. A stricter photometric check repaints more pixels each frame, which
undoes the slow blur of repeated resampling: tau = 0.06 gave 0.20x / +0.4 % (real) and 0.05x / +9.4 %
(synthetic), tau = 0.02 0.33x / -1.0 % and 0.14x / +6.4 %. So the defaults are s = 1, Lanczos, tau = 0.06.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfstyle.video import flow as flow_lib

MAX_CHANGE = 0.06


def reliable_flow(frame: np.ndarray, previous: np.ndarray, max_change: float = MAX_CHANGE
                  ) -> tuple[np.ndarray, np.ndarray]:
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
    return forward, flow_lib.consistency_mask(forward, backward) * same


@dataclasses.dataclass
class TemporalBlender:
    """Carries the previous input and output from frame to frame; `__call__(frame, stylised)` returns o_t.

    Args:
        strength: s in [0, 1]; 0 returns each stylised frame unchanged (no flow is computed).
        max_change: tau, the largest mean RGB change (in [0, 1]) of a pixel's photo along the flow for which
            its painting is carried.
        interpolation: how the previous output is resampled along the flow (`flow.warp`): lanczos (default),
            nearest, linear or cubic.
    """

    strength: float = 1.0
    max_change: float = MAX_CHANGE
    interpolation: str = "lanczos"
    _previous_input: np.ndarray | None = None
    _previous_output: np.ndarray | None = None

    def __post_init__(self):
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"--temporal_strength must be in [0, 1], got {self.strength}")

    def reset(self, previous_input: np.ndarray | None = None, previous_output: np.ndarray | None = None) -> None:
        """Starts over (a new clip), or from a known previous frame (a resumed run)."""
        self._previous_input, self._previous_output = previous_input, previous_output

    def __call__(self, frame: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        """frame: the input x_t, uint8 [H, W, 3]; stylised: y_t, uint8 [H, W, 3]. Returns o_t, uint8."""
        output = stylised
        if self.strength > 0 and self._previous_output is not None:
            forward, reliable = reliable_flow(frame, self._previous_input, self.max_change)
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
