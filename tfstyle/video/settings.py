"""`VideoArgs`: the settings of one video job (`python -m tfstyle.video`'s flags, and the web app's Video panel).

TensorFlow-free: `check()` refuses bad settings before anything loads.
"""

from __future__ import annotations

import dataclasses
import os

from tfstyle import options
from tfstyle.video.engines import ENGINES, FRAME_ITERATIONS, TEMPORAL_WEIGHT, check_temporal_settings

TEMPORAL_MODES = ("flow", "none")


@dataclasses.dataclass(frozen=True)
class VideoArgs:
    """Flags of `python -m tfstyle.video`."""

    input: str = options.option("", "video file or folder of numbered frames (required)")
    output: str = options.option("", "video file (.mp4, .mov, .mkv, ...) or folder for the frames (required)")
    engine: str = options.option("fast", "fast: a feed-forward network (per-style, or with --style Magenta's "
                                         "arbitrary-style one); adain: an arbitrary-style network (default magenta); "
                                         "cyclegan: a generator; optimize: Gatys et al. per frame (every "
                                         "tfstyle.optimize flag applies)",
                                 list(ENGINES))
    model_dir: str = options.option("", "the engine's run folder, or magenta (fast: default the bundled network, "
                                        "with --style magenta)")
    style: tuple[str, ...] = options.option((), "fast / adain / optimize: comma-separated painting(s) (optimize: "
                                                "default the bundled Starry Night)")
    style_blend: tuple[float, ...] = options.option((), "fast / adain / optimize: weights of the --style paintings")
    alpha: float = options.option(1.0, "fast / adain with --style: strength in [0, 1]")
    preserve_colors: str = options.option("none", "fast / adain / optimize: keep the frames' colours",
                                          options.PRESERVE_COLORS)
    direction: str = options.option("a2b", "cyclegan: a2b or b2a", ["a2b", "b2a"])
    temporal: str = options.option("flow", "flow: blend with the previous output along the optical flow; none: "
                                           "frame by frame", list(TEMPORAL_MODES))
    temporal_strength: float = options.option(1.0, "how much of the carried previous output is kept where the flow "
                                                   "is reliable, in [0, 1] (below 1 also blurs the strokes)")
    temporal_weight: float = options.option(TEMPORAL_WEIGHT, "optimize: weight of Ruder et al.'s temporal loss "
                                                             "(squared [0, 1] pixel units; 0: only the warped start)")
    frame_iterations: int = options.option(FRAME_ITERATIONS, "optimize: iterations of each frame after the first "
                                                             "with --temporal flow (the first runs --iterations)")
    fps: float = options.option(24.0, "frame rate of a frame-folder --input")

    def check(self) -> None:
        """What can be checked before TensorFlow loads."""
        from tfstyle import images

        if not self.input:
            raise ValueError("--input is required (a video file or a folder of frames)")
        if not self.output:
            raise ValueError("--output is required (a video file or a folder)")
        if self.engine == "cyclegan" and not self.model_dir:
            raise ValueError("--engine cyclegan needs --model_dir (a CycleGAN run folder)")
        if self.engine == "adain" and not self.style:
            raise ValueError("--engine adain needs --style (one or more paintings)")
        if self.engine == "cyclegan" and (self.style or self.style_blend):
            raise ValueError("--style and --style_blend are for --engine fast, adain or optimize, not cyclegan")
        if self.engine not in ("fast", "adain") and self.alpha != 1.0:
            raise ValueError(f"--alpha is for --engine fast or adain with --style, not {self.engine}")
        if self.engine == "fast" and self.alpha != 1.0 and not self.style:
            raise ValueError("--alpha needs --style (an arbitrary-style network)")
        if self.style_blend and not self.style:
            raise ValueError("--style_blend weighs --style paintings: give --style too")
        if self.engine == "optimize" and self.model_dir:
            raise ValueError("--engine optimize takes no --model_dir (it optimises each frame; use --style)")
        check_temporal_settings(self.temporal_weight, self.frame_iterations)
        options.check_alpha(self.alpha)
        if not 0.0 <= self.temporal_strength <= 1.0:
            raise ValueError(f"--temporal_strength must be in [0, 1], got {self.temporal_strength}")
        if self.fps <= 0:
            raise ValueError(f"--fps must be > 0, got {self.fps}")
        options.check_blend(self.style_blend, len(self.style))
        for path in self.style:
            images.check_file(path)
        if self.model_dir and self.model_dir != "magenta" and not os.path.isdir(self.model_dir):
            raise FileNotFoundError(f"--model_dir does not exist: {self.model_dir}")

    def settings(self) -> dict:
        """What makes a job this job (a resumed run must match it)."""
        absolute = lambda path: os.path.abspath(path) if path else ""  # noqa: E731
        return {"engine": self.engine, "model_dir": absolute(self.model_dir),
                "style": [absolute(p) for p in self.style], "style_blend": list(self.style_blend),
                "alpha": self.alpha, "preserve_colors": self.preserve_colors, "direction": self.direction,
                "temporal": self.temporal, "temporal_strength": self.temporal_strength,
                **({"temporal_weight": self.temporal_weight, "frame_iterations": self.frame_iterations}
                   if self.engine == "optimize" else {})}
