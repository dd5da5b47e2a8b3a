"""Stylise or translate a video, frame by frame, with flow-guided temporal consistency.

    python -m tfstyle.video --input clip.mp4 --output starry.mp4                       # bundled Starry Night
    python -m tfstyle.video --input clip.mp4 --output wave.mp4 --engine adain --model_dir runs/adain \\
        --style wave.jpg --alpha 0.8
    python -m tfstyle.video --input frames/ --output painted/ --engine cyclegan --model_dir runs/p2p --direction a2b
    python -m tfstyle.video --input clip.mp4 --output gatys.mp4 --engine optimize --style wave.jpg --image_size 256

`--input` is a video file (anything FFmpeg reads) or a folder of numbered frames (`--fps`, default 24);
`--output` is a video file (H.264; frame rate, size and duration kept, audio copied through) or a folder of
frames. Each engine's output frame is blended with the previous output carried along the optical flow
where the flow is reliable (`tfstyle.video.temporal`; `--temporal none` for frame by frame). Frames are kept
as they finish: run the same command again after a crash or Ctrl-C and it continues from the last finished
frame; the output appears only when complete.

Engines: `fast` (a per-style network: `--model_dir`, or the bundled one), `adain` (an arbitrary-style network:
`--model_dir`, `--style`, `--alpha`), `cyclegan` (a run folder and `--direction`), `optimize` (Gatys et al. per
frame, with every flag of `python -m tfstyle.optimize`: `--style` (default the bundled Starry Night),
`--image_size`, `--iterations`, `--style_weight`, ...). With `--temporal flow` the optimisation engine does what
Ruder et al. 2016 do instead of blending: each frame after the first starts from the previous painting carried
along the flow and runs `--frame_iterations` with their temporal loss (`--temporal_weight`) on the reliable pixels
(`tfstyle.video.engines.OptimizeEngine`).
"""

from __future__ import annotations

import dataclasses
import logging
import os

from absl import flags

from tfstyle import cli, options
from tfstyle.optimize.config import OptimizeConfig
from tfstyle.video.engines import ENGINES, FRAME_ITERATIONS, TEMPORAL_WEIGHT, check_temporal_settings

logger = logging.getLogger(__name__)

TEMPORAL_MODES = ("flow", "none")


@dataclasses.dataclass(frozen=True)
class VideoArgs:
    """Flags of `python -m tfstyle.video`."""

    input: str = options.option("", "video file or folder of numbered frames (required)")
    output: str = options.option("", "video file (.mp4, .mov, .mkv, ...) or folder for the frames (required)")
    engine: str = options.option("fast", "fast: per-style network; adain: arbitrary style; cyclegan: a generator; "
                                         "optimize: Gatys et al. per frame (every tfstyle.optimize flag applies)",
                                 list(ENGINES))
    model_dir: str = options.option("", "the engine's run folder (fast: default the bundled network)")
    style: tuple[str, ...] = options.option((), "adain / optimize: comma-separated painting(s) (optimize: default "
                                                "the bundled Starry Night)")
    style_blend: tuple[float, ...] = options.option((), "adain / optimize: weights of the --style paintings")
    alpha: float = options.option(1.0, "adain: strength in [0, 1]")
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
        from tfstyle.fast.config import BUNDLED_ARBITRARY

        if self.engine == "adain" and not self.model_dir and not os.path.isdir(BUNDLED_ARBITRARY):
            raise ValueError("--engine adain needs --model_dir (an arbitrary-style run of python -m "
                             "tfstyle.fast.train --arbitrary; none ships with this version)")
        if self.engine not in ("adain", "optimize") and (self.style or self.style_blend):
            raise ValueError(f"--style and --style_blend are for --engine adain or optimize, not {self.engine}")
        if self.engine != "adain" and self.alpha != 1.0:
            raise ValueError(f"--alpha is for --engine adain, not {self.engine}")
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
        if self.model_dir and not os.path.isdir(self.model_dir):
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


cli.define_flags(VideoArgs)
# --engine optimize takes every flag of python -m tfstyle.optimize but two that are VideoArgs' own and the batch
# size of its folder mode (a video goes frame by frame).
NOT_OPTIMIZE_FLAGS = ("style_blend", "preserve_colors", "batch_size")
cli.define_flags(OptimizeConfig, skip=NOT_OPTIMIZE_FLAGS)
OPTIMIZE_FLAGS = tuple(f.name for f in dataclasses.fields(OptimizeConfig)
                       if f.name not in NOT_OPTIMIZE_FLAGS and f.metadata.get("cli") is not False)


def _optimize_config(args: VideoArgs) -> OptimizeConfig:
    """The optimisation settings from the flags; refuses them for the other engines (they would be ignored)."""
    given = [name for name in OPTIMIZE_FLAGS if flags.FLAGS[name].present and name != "precision"]
    if args.engine != "optimize" and given:
        raise ValueError(f"--{given[0]} is a flag of --engine optimize, not {args.engine}")
    config = cli.config_from_flags(OptimizeConfig, style_blend=args.style_blend,
                                   preserve_colors=args.preserve_colors)
    return config.validate(len(args.style) or 1)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging()
    args = cli.config_from_flags(VideoArgs)
    args.check()
    optimize_config = _optimize_config(args)
    from tfstyle.video import job as job_lib

    settings = args.settings()
    if args.engine == "optimize":
        settings["optimize"] = dataclasses.asdict(optimize_config)
    try:
        job = job_lib.VideoJob(args.input, args.output, settings, folder_fps=args.fps)
    except ImportError as error:
        raise cli.UserError(str(error)) from None
    from tfstyle import images
    from tfstyle.video import engines, temporal

    blender = temporal.TemporalBlender(args.temporal_strength if args.temporal == "flow" else 0.0)
    if args.engine == "cyclegan":
        engine = engines.cyclegan_engine(args.model_dir, args.direction)
    elif args.engine == "optimize":
        from tfstyle.optimize.transfer import DEFAULT_STYLE

        styles = [images.load_image(path) for path in args.style or (DEFAULT_STYLE,)]
        engine = engines.OptimizeEngine(styles, optimize_config, (job.info.height, job.info.width),
                                        temporal=args.temporal == "flow", temporal_weight=args.temporal_weight,
                                        frame_iterations=args.frame_iterations)
        blender = engine  # it carries the previous frame itself, through its objective
    else:
        from tfstyle.fast.config import BUNDLED_ARBITRARY

        model_dir = args.model_dir or (BUNDLED_ARBITRARY if args.engine == "adain" else None)
        styles = [images.read_image_uint8(path) for path in args.style]
        engine = engines.fast_engine(model_dir or None, styles, args.alpha, args.style_blend or None,
                                     args.preserve_colors, optimize_config.precision)
    # The work folder is made only now: an engine that fails to build (a bad model, mask or painting) leaves
    # nothing behind.
    first = job.start()
    logger.info("%s: %dx%d px, %d frames at %.3g fps%s; %s", args.input, job.info.width, job.info.height,
                job.info.frames, float(job.info.fps), ", audio" if job.info.has_audio else "",
                f"continuing at frame {first + 1}" if first else "starting")
    previous = job.previous(first)
    if previous is not None:
        blender.reset(*previous)
    process = (lambda index, frame: engine(frame)) if blender is engine else (
        lambda index, frame: blender(frame, engine(frame)))
    with cli.Progress(job.info.frames - first, "video", unit="frame") as progress:
        job.run(process, progress)
    print(args.output)


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
