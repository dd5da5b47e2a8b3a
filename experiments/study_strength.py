"""Does `--strength` mean the same on every pair? The spread of the style-loss ratio over every content x style
pair of `../shared`, at one fixed `--style_weight` and at one `--strength`.

    python experiments/study_strength.py                    # every pair, 64 px, 40 L-BFGS iterations
    python experiments/study_strength.py --limit 3          # a smoke run: 3 photos x 3 paintings

For each pair (the photos of `../shared/data/content` x the paintings of `../shared/data/style`, top level,
centre-cropped square so one traced step serves them all) the optimisation runs twice: with the default style
weight (5e-3) and with `--strength 0.5` (which gives the bundled pair that same weight). The fixed evaluator
(`tfstyle.evaluate.StyleEvaluator`, `--eval_size` px) scores the style loss of the output and of the photo; the
ratio output / photo says how much of the way to the painting a run went. The spread is max / min of the ratio
over the pairs; the issue's target: the spread at one strength at most half the spread at one weight. A few pairs
also run at strengths 0.25 and 0.75, to show the dial is monotone.

Results: a table and `experiments/results/study_strength_<device>_<date>.json`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import benchmarking  # experiments/benchmarking.py, beside this script
import numpy as np

SHARED = os.path.join(os.path.dirname(benchmarking.REPO), "shared", "data")


def square(image: np.ndarray, size: int) -> np.ndarray:
    from tfstyle import images

    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return np.asarray(images.resize(image[top:top + side, left:left + side], (size, size)))


def run(photos: list[str], paintings: list[str], args) -> dict:
    from tfstyle import images
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.optimize import transfer
    from tfstyle.optimize.config import OptimizeConfig

    evaluator = StyleEvaluator(long_side=args.eval_size)
    contents = {path: square(images.load_image(path), args.size) for path in photos}
    settings = {"weight": {}, "strength": {"strength": 0.5}}
    extra = {"strength 0.25": {"strength": 0.25}, "strength 0.75": {"strength": 0.75}}
    ratios: dict[str, dict[str, float]] = {name: {} for name in [*settings, *extra]}
    weights: dict[str, float] = {}
    starts: dict[tuple[str, str], float] = {}  # the photo's own style loss, once per pair
    for index, painting in enumerate(paintings):
        style = images.load_image(painting)
        runs = {**settings, **(extra if index < args.monotone_styles else {})}
        for name, overrides in runs.items():
            config, strategy = transfer.resolve(OptimizeConfig(image_size=args.size, iterations=args.iterations,
                                                               scales=1, precision="float32", **overrides), 1)
            stylizer = transfer.Stylizer([style], config, strategy)
            for photo, content in contents.items():
                if name in extra and photo not in list(contents)[: args.monotone_photos]:
                    continue
                result = stylizer.optimize_batch(content[None], None, args.iterations)[0]
                if (photo, painting) not in starts:
                    starts[(photo, painting)] = evaluator.score(content, content, [painting]).style_loss
                start = starts[(photo, painting)]
                key = f"{os.path.basename(photo)} x {os.path.basename(painting)}"
                ratios[name][key] = evaluator.score(result, content, [painting]).style_loss / start
                if name == "strength":
                    weights[key] = stylizer.last_style_weight
        print(f"  {index + 1}/{len(paintings)} {os.path.basename(painting)}: weight "
              f"{np.median(list(ratios['weight'].values())):.3f}, strength "
              f"{np.median(list(ratios['strength'].values())):.3f} (median ratio so far)", flush=True)
    return {"ratios": ratios, "strength_style_weights": weights}


def summary(ratios: dict[str, dict[str, float]]) -> dict:
    out = {}
    for name, values in ratios.items():
        if values:
            array = np.array(list(values.values()))
            out[name] = {"pairs": len(array), "min": float(array.min()), "median": float(np.median(array)),
                         "max": float(array.max()), "spread": float(array.max() / array.min())}
    if "weight" in out and "strength" in out:
        out["spread_ratio"] = out["strength"]["spread"] / out["weight"]["spread"]
    monotone = [key for key in ratios.get("strength 0.25", {})
                if ratios["strength 0.25"][key] > ratios["strength"][key] > ratios["strength 0.75"].get(key, -1)]
    out["monotone_pairs"] = f"{len(monotone)} of {len(ratios.get('strength 0.25', {}))}"
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, help="square output side, px")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--eval_size", type=int, default=64, help="the evaluator's long side, px (the output's)")
    parser.add_argument("--limit", type=int, default=0, help="use the first N photos and paintings (0: all)")
    parser.add_argument("--monotone_styles", type=int, default=3, help="paintings also run at 0.25 and 0.75")
    parser.add_argument("--monotone_photos", type=int, default=3, help="photos also run at 0.25 and 0.75")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfstyle import images

    if not os.path.isdir(SHARED):
        print(f"needs {SHARED} (the shared photos and paintings)")
        return 1
    photos = [p for p in images.list_images(os.path.join(SHARED, "content"))]
    paintings = [p for p in images.list_images(os.path.join(SHARED, "style"))]
    if args.limit:
        photos, paintings = photos[: args.limit], paintings[: args.limit]
    machine = benchmarking.describe_machine()
    print(f"device: {machine['cpu_model']} ({machine['cpu_cores']} cores); {len(photos)} photos x "
          f"{len(paintings)} paintings, {args.size} px, {args.iterations} iterations", flush=True)
    started = time.perf_counter()
    results = run(photos, paintings, args)
    stats = summary(results["ratios"])
    for name in ("weight", "strength", "strength 0.25", "strength 0.75"):
        if name in stats:
            row = stats[name]
            print(f"{name:>14}: {row['pairs']:>4} pairs, style-loss ratio min {row['min']:.3f} median "
                  f"{row['median']:.3f} max {row['max']:.3f}, spread {row['spread']:.2f}")
    if "spread_ratio" in stats:
        print(f"spread at --strength 0.5 / spread at the default --style_weight: {stats['spread_ratio']:.2f} "
              "(target <= 0.5)")
    print(f"monotone (0.25 > 0.5 > 0.75 in style-loss ratio): {stats['monotone_pairs']} pairs")
    from tfstyle import files

    date = datetime.date.today().isoformat()
    path = args.output or os.path.join(benchmarking.RESULTS_DIR,
                                       f"study_strength_{benchmarking.device_tag(machine)}_{date}.json")
    files.write_text(path, json.dumps({"study": "study_strength", "date": date, "machine": machine,
                                       "settings": vars(args), "wall_seconds": time.perf_counter() - started,
                                       "summary": stats, **results}, indent=2) + "\n")
    print(f"wrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
