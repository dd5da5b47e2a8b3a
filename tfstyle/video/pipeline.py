"""Running one video job: the engine that `VideoArgs` names, the temporal blending, and the resumable `VideoJob`.

    pipeline.run(args, optimize_config, lambda frames: cli.Progress(frames, "video", unit="frame"))

The one wiring of `python -m tfstyle.video` and the web app's Video panel (`tfstyle.app`): both call `run`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

from tfstyle.optimize.config import OptimizeConfig
from tfstyle.video.settings import VideoArgs

logger = logging.getLogger(__name__)

# frames still to do -> a context manager whose `update(count)` is called after each finished frame.
ProgressFactory = Callable[[int], AbstractContextManager]


def run(args: VideoArgs, optimize_config: OptimizeConfig, make_progress: ProgressFactory | None = None) -> str:
    """Paints `args.input` into `args.output` with `args.engine`; returns `args.output`.

    Args:
        args: checked settings (`VideoArgs.check`).
        optimize_config: the optimisation engine's settings (validated; ignored by the other engines).
        make_progress: called once with the number of frames still to do; its `update(1)` after each frame may
            raise to stop the job (the finished frames stay in the work folder: the same job continues them).

    Raises:
        ValueError / FileNotFoundError: bad input, model or settings, before the work folder is made.
    """
    from tfstyle import cli
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
        from tfstyle.fast.config import MAGENTA

        model_dir = args.model_dir or (MAGENTA if args.style else None)
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
    if make_progress is None:
        job.run(process)
    else:
        with make_progress(job.info.frames - first) as progress:
            job.run(process, progress)
    return args.output
