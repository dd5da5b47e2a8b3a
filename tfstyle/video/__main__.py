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

from absl import flags

from tfstyle import cli
from tfstyle.optimize.config import OptimizeConfig
from tfstyle.video import pipeline
from tfstyle.video.settings import VideoArgs

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
    pipeline.run(args, optimize_config, lambda frames: cli.Progress(frames, "video", unit="frame"))
    print(args.output)


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
