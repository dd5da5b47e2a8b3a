"""How the optimisation engine's temporal settings trade flicker, style and time (`--temporal_weight`,
`--frame_iterations`), beside frame-by-frame optimisation.

    python experiments/study_video_optimize.py                      # the sweep behind the engine's defaults
    python experiments/study_video_optimize.py 1e7:50 1e6:25        # weight:iterations pairs of your own

Each setting runs `tfstyle.video.engines.OptimizeEngine` (Starry Night, `OptimizeConfig()` defaults for the
machine) over the first 8 frames of `bench_video.make_clip` at 128 px, and prints Lai et al.'s warping error,
seconds per frame and the fixed evaluator's mean style / content loss over frames 0, 2, 4, 6. A negative weight
means `--temporal none` (every frame the full schedule from its own photo).
"""

from __future__ import annotations

import sys
import time

import benchmarking  # noqa: F401  (puts the repo on sys.path)
import numpy as np
from bench_video import PHOTO, STYLE, make_clip

SETTINGS = ("-1:1", "1e4:50", "1e6:50", "1e7:50", "1e6:25")


def main(argv=None) -> int:
    from tfstyle import images
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.optimize.config import OptimizeConfig
    from tfstyle.video import engines, temporal

    clip = make_clip(PHOTO, 8, 128)
    style = images.load_image(STYLE)
    evaluator = StyleEvaluator()
    print(f"{'weight':>8} {'iters':>5} {'warp err':>9} {'s/frame':>8} {'style':>10} {'content':>10}")
    for setting in (argv if argv is not None else sys.argv[1:]) or SETTINGS:
        weight, iterations = (float(v) for v in setting.split(":"))
        engine = engines.OptimizeEngine([style], OptimizeConfig(), (128, 128), temporal=weight >= 0,
                                        temporal_weight=max(weight, 0.0), frame_iterations=int(iterations))
        start = time.perf_counter()
        outputs = [engine(frame) for frame in clip]
        seconds = (time.perf_counter() - start) / len(clip)
        scores = [evaluator.score(outputs[i], clip[i], [STYLE]) for i in range(0, len(clip), 2)]
        print(f"{'none' if weight < 0 else f'{weight:g}':>8} {int(iterations):>5} "
              f"{temporal.warping_error(clip, outputs):9.5f} {seconds:8.2f} "
              f"{np.mean([s.style_loss for s in scores]):10.4g} {np.mean([s.content_loss for s in scores]):10.4g}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
