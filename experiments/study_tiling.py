"""How close a tiled run comes to the untiled one, at a size where both fit.

    python experiments/study_tiling.py                  # 256 px, coarse to fine, the 256 px stage in 128 px tiles
    python experiments/study_tiling.py > experiments/results/study_tiling_<device>_<date>.txt

Runs `stylize()` on the bundled pair untiled and with `--tile_size` (the same schedule otherwise) and prints the
fixed evaluator's style and content loss of each, of the photo itself, and how far each run went from the photo's
style loss; also the gradient across the tile cuts relative to the image mean, for both images at the same lines
(the seam check of `tests/test_tiling.py`).
"""

from __future__ import annotations

import argparse
import sys
import time

import benchmarking  # noqa: F401  (puts the repo on sys.path)
import numpy as np


def cut_ratio(image: np.ndarray, row_cuts, col_cuts) -> float:
    grey = image.mean(axis=-1)
    columns, rows = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    border = np.concatenate([columns[:, c - 1] for c in col_cuts] + [rows[r - 1] for r in row_cuts])
    return float(border.mean() / np.concatenate([columns.ravel(), rows.ravel()]).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tile_size", type=int, default=128)
    parser.add_argument("--tile_overlap", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args(argv)
    from tfstyle import images
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.optimize import tiling, transfer
    from tfstyle.optimize.config import OptimizeConfig

    photo = images.load_image(transfer.DEFAULT_CONTENT, long_side=args.size)
    evaluator = StyleEvaluator(long_side=args.size)
    results = {}
    seconds = {}
    for name, tile in (("untiled", None), ("tiled", args.tile_size)):
        started = time.perf_counter()
        config = OptimizeConfig(image_size=args.size, iterations=args.iterations, scales=2, precision="float32",
                                tile_size=tile, tile_overlap=args.tile_overlap)
        results[name] = transfer.stylize(photo, [transfer.DEFAULT_STYLE], config)
        seconds[name] = time.perf_counter() - started
    cores = tiling.plan_grid(*photo.shape[:2], args.tile_size, args.tile_overlap).cores()
    row_cuts = sorted({bottom for _, _, bottom, _ in cores})[:-1]
    col_cuts = sorted({right for _, _, _, right in cores})[:-1]
    start = evaluator.score(photo, photo, [transfer.DEFAULT_STYLE]).style_loss
    print(f"{args.size} px, {args.iterations} iterations, 2 scales; tiles {args.tile_size} + {args.tile_overlap} px")
    print(f"photo    style loss {start:.3g}")
    for name, image in results.items():
        score = evaluator.score(image, photo, [transfer.DEFAULT_STYLE])
        print(f"{name:<8} style loss {score.style_loss:.3g} ({100 * (1 - score.style_loss / start):.1f} % of the way "
              f"from the photo's), content loss {score.content_loss:.3g}, gradient across the cuts "
              f"{cut_ratio(image, row_cuts, col_cuts):.2f}x the mean; {seconds[name]:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
