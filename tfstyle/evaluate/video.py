"""Temporal and per-frame scores of a stylised clip against its input clip (`python -m tfstyle.evaluate video`).

* the warping error of Lai et al. 2018 (`tfstyle.video.temporal.warping_error`): how much each output frame
  differs from the previous output frame carried along the INPUT's optical flow, over the pixels the flow's
  forward-backward check trusts; lower is steadier (less flicker);
* with `styles`, the fixed evaluator's content and style loss (`StyleEvaluator`) averaged over the frames
  (every `frame_step`-th frame), so that less flicker is never bought with less style.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def evaluate_video(output: str, input_clip: str, styles: Sequence = (), blend: Sequence[float] | None = None, *,
                   frame_step: int = 1, evaluator=None, folder_fps: float = 24.0) -> dict:
    """Scores the clip `output` (video file or frame folder) made from `input_clip`.

    Returns:
        {"frames", "warping_error", and with styles "content_loss", "style_loss" (means over the scored frames),
        "scored_frames"}.

    Raises:
        ValueError: the clips differ in frame count or frame size, or have fewer than 2 frames.
    """
    from tfstyle.video import io, temporal

    info_out, info_in = io.probe(output, folder_fps), io.probe(input_clip, folder_fps)
    if (info_out.frames, info_out.width, info_out.height) != (info_in.frames, info_in.width, info_in.height):
        raise ValueError(f"{output} ({info_out.frames} frames of {info_out.width}x{info_out.height}) does not match "
                         f"{input_clip} ({info_in.frames} frames of {info_in.width}x{info_in.height})")
    if frame_step < 1:
        raise ValueError(f"--frame_step must be >= 1, got {frame_step}")
    outputs, inputs = list(io.read_frames(output)), list(io.read_frames(input_clip))
    result = {"output": output, "input": input_clip, "frames": len(outputs),
              "warping_error": temporal.warping_error(inputs, outputs)}
    if styles:
        scored = range(0, len(outputs), frame_step)
        scores = [evaluator.score(outputs[index], inputs[index], styles, blend) for index in scored]
        result.update(scored_frames=len(scores),
                      content_loss=float(np.mean([score.content_loss for score in scores])),
                      style_loss=float(np.mean([score.style_loss for score in scores])))
    return result
