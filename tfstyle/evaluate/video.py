"""Temporal and per-frame scores of a stylised clip against its input clip (`python -m tfstyle.evaluate video`).

* the warping error of Lai et al. 2018 (`tfstyle.video.temporal.warping_error`): how much each output frame
  differs from the previous output frame carried along the INPUT's optical flow, over the pixels the flow's
  forward-backward check trusts; lower is steadier (less flicker);
* with `styles`, the fixed evaluator's content and style loss (`StyleEvaluator`) of every `frame_step`-th
  frame: their means and the worst frame's, so that less flicker is never bought with less style: a carry that
  drags old paint over new content scores well on the warping error (a smear that stays put does not flicker)
  and badly on the worst frame;
* with a `baseline` clip of the same input made frame by frame (`--temporal none`), each scored frame's losses
  relative to the baseline's same frame, the worst of those ratios, and the warping error relative likewise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def frame_losses(evaluator, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], styles: Sequence,
                 blend: Sequence[float] | None = None, frames: Sequence[int] | None = None,
                 regions: Sequence | None = None) -> dict[int, tuple[float, float]]:
    """{frame: (style_loss, content_loss)} of `outputs[frame]` against `inputs[frame]` under `evaluator`.

    Args:
        inputs, outputs: uint8 [H, W, 3] frames, index-aligned.
        styles, blend: as `StyleEvaluator.score` takes them.
        frames: the frame indices to score (default all).
        regions: per frame, (rows, cols) slices to score that crop of the frame, or None to skip the frame
            (e.g. `tfstyle.video.clips.KnownMotionClip.entered`); default: whole frames.
    """
    frames = range(len(outputs)) if frames is None else frames
    losses = {}
    for index in frames:
        region = (slice(None), slice(None)) if regions is None else regions[index]
        if region is None:
            continue
        score = evaluator.score(outputs[index][region], inputs[index][region], styles, blend)
        losses[index] = (score.style_loss, score.content_loss)
    return losses


def worst_frames(losses: dict[int, tuple[float, float]], baseline: dict[int, tuple[float, float]] | None = None
                 ) -> dict:
    """The frames with the highest style and content loss (or, with `baseline`, the highest ratio to the
    baseline's same frame): {"worst_style": {"frame", "value"}, "worst_content": {...}}, values losses or ratios."""
    result = {}
    for position, name in ((0, "worst_style"), (1, "worst_content")):
        values = {index: pair[position] / baseline[index][position] if baseline else pair[position]
                  for index, pair in losses.items()}
        frame = max(values, key=values.get)
        result[name] = {"frame": int(frame), "value": float(values[frame])}
    return result


def evaluate_video(output: str, input_clip: str, styles: Sequence = (), blend: Sequence[float] | None = None, *,
                   frame_step: int = 1, evaluator=None, folder_fps: float = 24.0, baseline: str | None = None) -> dict:
    """Scores the clip `output` (video file or frame folder) made from `input_clip`.

    Returns:
        {"frames", "warping_error"; with styles "content_loss", "style_loss" (means over the scored frames),
        "scored_frames", "worst_style" / "worst_content" ({"frame" (0-based), "value"}: the highest loss),
        "per_frame" ([{"frame", "style_loss", "content_loss"}]); with `baseline` also "baseline_warping_error",
        "warping_error_ratio", "worst_style_ratio" / "worst_content_ratio" ({"frame", "value"}: the highest
        ratio of a frame's loss to the baseline's same frame) and per-frame "style_ratio", "content_ratio"}.

    Raises:
        ValueError: the clips differ in frame count or frame size, or have fewer than 2 frames.
    """
    from tfstyle.video import io, temporal

    info_in = io.probe(input_clip, folder_fps)
    clips = {"output": output, **({"baseline": baseline} if baseline else {})}
    for what, path in clips.items():
        info = io.probe(path, folder_fps)
        if (info.frames, info.width, info.height) != (info_in.frames, info_in.width, info_in.height):
            raise ValueError(f"{what} {path} ({info.frames} frames of {info.width}x{info.height}) does not match "
                             f"{input_clip} ({info_in.frames} frames of {info_in.width}x{info_in.height})")
    if frame_step < 1:
        raise ValueError(f"--frame_step must be >= 1, got {frame_step}")
    outputs, inputs = list(io.read_frames(output)), list(io.read_frames(input_clip))
    reference = list(io.read_frames(baseline)) if baseline else None
    result = {"output": output, "input": input_clip, "frames": len(outputs),
              "warping_error": temporal.warping_error(inputs, outputs)}
    if reference is not None:
        result["baseline"] = baseline
        result["baseline_warping_error"] = temporal.warping_error(inputs, reference)
        result["warping_error_ratio"] = result["warping_error"] / max(result["baseline_warping_error"], 1e-12)
    if styles:
        scored = range(0, len(outputs), frame_step)
        losses = frame_losses(evaluator, inputs, outputs, styles, blend, scored)
        result.update(scored_frames=len(losses),
                      style_loss=float(np.mean([pair[0] for pair in losses.values()])),
                      content_loss=float(np.mean([pair[1] for pair in losses.values()])),
                      **worst_frames(losses))
        per_frame = [{"frame": index, "style_loss": pair[0], "content_loss": pair[1]} for index, pair in losses.items()]
        if reference is not None:
            base = frame_losses(evaluator, inputs, reference, styles, blend, scored)
            result.update({f"{name}_ratio": value for name, value in worst_frames(losses, base).items()})
            for row in per_frame:
                row["style_ratio"] = row["style_loss"] / base[row["frame"]][0]
                row["content_ratio"] = row["content_loss"] / base[row["frame"]][1]
        result["per_frame"] = per_frame
    return result
