"""tfstyle's optimisation path against the TensorFlow tutorial's recipe: quality at equal wall time.

    python experiments/compare_recipe.py                          # the study: 3 pairs x 3 style weights, 256 px
    python experiments/compare_recipe.py --variants default,max=pooling:max,mean_cov=style_loss:mean_cov
    python experiments/compare_recipe.py --quick                  # smoke run: 2 pairs, 64 px, 15 s, random weights

Protocol (fixed, so that studies made on different days compare):

* pairs: real photos x public-domain paintings from ``../shared/data`` (`PAIRS`), none of them the bundled
  sample pair that the defaults were first tuned on;
* each run gets the same wall time, ``--seconds`` (default 75 s) from its own process start to the last
  finished iteration: interpreter, imports, weights, model build, targets, tracing and iterations all
  count, as they do for a user; a method iterates until its time is up (the overshoot is at most one
  iteration, recorded);
* output 256 px on the long side, aspect kept, the style image at the same long side;
* tfstyle: `tfstyle.optimize`'s `Stylizer` and `StageRun.run` (what `stylize()` runs) with the variant's
  `OptimizeConfig` (``default`` = `OptimizeConfig()`); the recipe: `recipe.py`, the tutorial's code;
* a variant may set ``ema:<decay>`` besides `OptimizeConfig` fields: its output is then the
  exponential moving average of the iterates (bias-corrected), accumulated on the host after every
  iteration (a candidate of issue 9, measured here before it is built into the solvers);
* the style weight of each method is swept over ``--multipliers`` (default x0.2, x1, x5 of its own
  default), which traces a content / style front per method;
* every output is scored by `tfstyle.evaluate.StyleEvaluator` (ImageNet VGG19 8-bit, content
  block4_conv2, style block1..5_conv1, 512 px) under **both** poolings: max (the trained network, the
  recipe's own features) and avg (tfstyle's default until issue 9);
* the comparison is at equal content loss: each front is piecewise linear in log content / log style;
  every point of one method whose content loss lies inside the other's range is compared with the other
  front interpolated there, and "style ratio" is the median of tfstyle / recipe over those points (below
  1: tfstyle reaches less style loss at the same content loss). With no overlap, the other front is held
  flat beyond its end, which is conservative when tfstyle's points lie at lower content loss (flagged).

Results: a table on stdout, ``experiments/results/compare_recipe_<device>_<date>.json``, and with
``--plot`` / ``--grid`` a fronts plot and an image grid (content, style, recipe, tfstyle at x1). Runs are
cached in ``--work_dir`` by their settings, so adding a variant reruns only its runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import os
import statistics
import sys
import time

import benchmarking  # experiments/benchmarking.py, beside this script

REPO, RESULTS_DIR = benchmarking.REPO, benchmarking.RESULTS_DIR
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
WORK_DIR = os.path.join(RESULTS_DIR, "compare_recipe_runs")  # git-ignored: outputs and per-run JSON
# (name, content, style): a portrait x Hokusai, an animal x Van Gogh, a landscape x Renoir.
PAIRS = (
    ("astronaut_wave", "content/astronaut.png", "style/hokusai_great_wave_off_kanagawa.jpg"),
    ("cat_cafe", "content/chelsea_cat.png", "style/vangogh_cafe_terrace_at_night.jpg"),
    ("palace_moulin", "content/china_summer_palace.jpg", "style/renoir_bal_du_moulin_de_la_galette.jpg"),
)
MULTIPLIERS = (0.2, 1.0, 5.0)
POOLINGS = ("max", "avg")


# ---------------------------------------------------------------------------------------------
# Child: one run (a method, a pair, a style weight) in its own process, until its time is up
# ---------------------------------------------------------------------------------------------


def _tfstyle_run(spec: dict, content, style, deadline: float) -> tuple[object, int, float | None]:
    import numpy as np

    from tfstyle.optimize import transfer
    from tfstyle.optimize.config import OptimizeConfig

    overrides = dict(spec["overrides"])
    ema = float(overrides.pop("ema", 0.0))  # a candidate, not (yet) an OptimizeConfig field: see the docstring
    base = OptimizeConfig(**overrides).resolved()  # its style weight, to scale
    requested = dataclasses.replace(base, image_size=spec["size"], iterations=100_000, scales=1,
                                    weights=spec["weights"], strategy="one_device",
                                    style_weight=base.style_weight * spec["multiplier"])
    config, strategy = transfer.resolve(requested, 1)
    stylizer = transfer.Stylizer([style], config, strategy)
    contents = np.asarray(content)[None]
    stage = stylizer.begin_stage(contents, spec["size"], stylizer.initial_images(contents))
    iterations, first_done, average = 0, None, None
    while not iterations or time.time() < deadline:  # at least one, so every run has an output
        stage.run(1)
        iterations += 1
        first_done = first_done or time.time()
        if ema:  # x_bar_t = d x_bar_(t-1) + (1 - d) x_t, bias-corrected below (as Adam corrects its moments)
            current = stage.output()
            average = (1 - ema) * current if average is None else ema * average + (1 - ema) * current
    output = average / (1 - ema**iterations) if ema else stage.output()
    return stylizer.finish(output, contents)[0], iterations, first_done


def _recipe_run(spec: dict, content, style, deadline: float) -> tuple[object, int, float | None]:
    import numpy as np
    import recipe

    from tfstyle import weights as weights_lib

    weights_path = weights_lib.resolve_weights("vgg19", spec["weights"]).path
    peer = recipe.TutorialRecipe(np.asarray(content)[None], np.asarray(style)[None], weights_path,
                                 style_weight=recipe.STYLE_WEIGHT * spec["multiplier"])
    iterations, first_done = 0, None
    while not iterations or time.time() < deadline:  # at least one, so every run has an output
        peer.train_step().numpy()
        iterations += 1
        first_done = first_done or time.time()
    return peer.image.numpy()[0], iterations, first_done


def run_child(spec: dict) -> dict:
    from tfstyle import images

    deadline = spec["spawned_at"] + spec["seconds"]
    content = images.resize_long_side(images.load_image(spec["content"]), spec["size"])
    style = images.resize_long_side(images.load_image(spec["style"]), spec["size"])
    run = _recipe_run if spec["method"] == "recipe" else _tfstyle_run
    output, iterations, first_done = run(spec, content, style, deadline)
    images.save_image(spec["output"], output)
    return {**spec, "iterations": iterations, "wall_seconds": time.time() - spec["spawned_at"],
            "startup_seconds": None if first_done is None else first_done - spec["spawned_at"]}


def evaluate_child(spec: dict) -> dict:
    """Scores every run's output under both poolings: {output path: {pooling: {content, style}}}."""
    from tfstyle.evaluate import StyleEvaluator

    scores: dict = {}
    for pooling in POOLINGS:
        evaluator = StyleEvaluator(weights=spec["weights"], pooling=pooling)
        for run in spec["runs"]:
            result = evaluator.score(run["output"], run["content"], [run["style"]])
            scores.setdefault(run["output"], {})[pooling] = {"content": result.content_loss,
                                                             "style": result.style_loss}
    return {"scores": scores}


# ---------------------------------------------------------------------------------------------
# Fronts: style loss at equal content loss
# ---------------------------------------------------------------------------------------------


def _interpolate(front: list[tuple[float, float]], content: float) -> tuple[float, bool]:
    """log-log piecewise-linear style loss of `front` [(content, style)] at `content`; (value, extrapolated)."""
    points = sorted((math.log(c), math.log(s)) for c, s in front)
    x = math.log(content)
    if len(points) == 1:
        return math.exp(points[0][1]), x != points[0][0]
    extrapolated = not points[0][0] <= x <= points[-1][0]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x <= x1 or (x1, y1) == points[-1]:
            if x1 == x0:
                return math.exp(min(y0, y1)), extrapolated
            return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0)), extrapolated
    raise AssertionError("unreachable")


def style_ratio(ours: list[tuple[float, float]], theirs: list[tuple[float, float]]) -> dict:
    """Median over the compared points of ours / theirs style loss at equal content loss (module docstring).

    Where the two content ranges do not overlap, each of our points is compared with the other front held
    flat beyond its end (its style loss at its nearest point). When ours lie at lower content loss, that is
    conservative: a front's style loss only rises as its content loss falls, so the true ratio is lower
    still ("extrapolated": "ours lower"). When ours lie at higher content loss it is not ("ours higher").

    Args:
        ours, theirs: [(content_loss, style_loss)], positive, one point per style weight.

    Returns:
        {"ratio": median, "ratios": every compared point's ratio, "extrapolated": None, "ours lower" or
        "ours higher"}.
    """
    def inside(point, front):
        contents = [c for c, _ in front]
        return min(contents) <= point[0] <= max(contents)

    ratios = [s / _interpolate(theirs, c)[0] for c, s in ours if inside((c, s), theirs)]
    ratios += [_interpolate(ours, c)[0] / s for c, s in theirs if inside((c, s), ours)]
    extrapolated = None
    if not ratios:
        low, high = min(theirs), max(theirs)  # their points of least and most content loss
        ratios = [s / (low[1] if c < low[0] else high[1]) for c, s in ours]
        extrapolated = "ours lower" if max(c for c, _ in ours) < low[0] else "ours higher"
    return {"ratio": statistics.median(ratios), "ratios": ratios, "extrapolated": extrapolated}


# ---------------------------------------------------------------------------------------------
# Parent
# ---------------------------------------------------------------------------------------------


def _key(spec: dict) -> str:
    fields = {k: spec[k] for k in ("method", "overrides", "content", "style", "size", "multiplier", "seconds",
                                   "weights")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _run_all(specs: list[dict], work_dir: str, timeout: float, force: bool) -> list[dict]:
    results = []
    for index, spec in enumerate(specs, 1):
        key = _key(spec)
        record = os.path.join(work_dir, key + ".json")
        spec = {**spec, "output": os.path.join(work_dir, key + ".png")}
        label = f"[{index}/{len(specs)}] {spec['variant']} {spec['pair']} x{spec['multiplier']:g}"
        if os.path.exists(record) and os.path.exists(spec["output"]) and not force:
            with open(record) as file:
                # The folder may have moved, and the same settings may carry another variant name.
                results.append({**json.load(file), "variant": spec["variant"], "output": spec["output"]})
            print(f"  {label}: cached", flush=True)
            continue
        spec["spawned_at"] = time.time()
        result = benchmarking.spawn_row(__file__, spec, timeout)
        if "error" in result:
            raise SystemExit(f"error: {label}: {result['error']}")
        with open(record, "w") as file:
            json.dump(result, file)
        results.append(result)
        print(f"  {label}: {result['iterations']} iterations in {result['wall_seconds']:.1f} s "
              f"(first after {result['startup_seconds']:.1f} s)", flush=True)
    return results


def compare(runs: list[dict], scores: dict, variants: list[str]) -> list[dict]:
    """One row per (variant, pair, pooling): the fronts and the style ratio against the recipe."""
    rows = []
    pairs = list(dict.fromkeys(run["pair"] for run in runs))
    for variant in variants:
        for pair in pairs:
            for pooling in POOLINGS:
                fronts = {}
                for who in (variant, "recipe"):
                    fronts[who] = [(scores[r["output"]][pooling]["content"], scores[r["output"]][pooling]["style"])
                                   for r in runs if r["variant"] == who and r["pair"] == pair]
                ratio = style_ratio(fronts[variant], fronts["recipe"])
                rows.append({"variant": variant, "pair": pair, "pooling": pooling, **ratio,
                             "front": fronts[variant], "recipe_front": fronts["recipe"]})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'variant':<22} {'pair':<16} {'pooling':<7} {'style ratio':>11}  compared points"]
    for row in rows:
        flag = f" (no overlap: {row['extrapolated']} content loss)" if row["extrapolated"] else ""
        points = " ".join(f"{r:.2f}" for r in row["ratios"])
        lines.append(f"{row['variant']:<22} {row['pair']:<16} {row['pooling']:<7} {row['ratio']:>11.2f}  "
                     f"{points}{flag}")
    return "\n".join(lines)


def plot_fronts(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = list(dict.fromkeys(row["pair"] for row in rows))
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    figure, axes = plt.subplots(len(POOLINGS), len(pairs), figsize=(4.2 * len(pairs), 3.6 * len(POOLINGS)),
                                squeeze=False)
    for i, pooling in enumerate(POOLINGS):
        for j, pair in enumerate(pairs):
            axis = axes[i][j]
            selected = [row for row in rows if row["pair"] == pair and row["pooling"] == pooling]
            recipe_front = sorted(selected[0]["recipe_front"])
            axis.plot(*zip(*recipe_front, strict=True), "o--", color="grey", label="TF tutorial recipe")
            for row in selected:
                axis.plot(*zip(*sorted(row["front"]), strict=True), "o-",
                          label=f"tfstyle {row['variant']} ({row['ratio']:.2f}x)")
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_title(f"{pair}, {pooling} pooling", fontsize=10)
            axis.set_xlabel("content loss (block4_conv2)")
            axis.set_ylabel("style loss (block1..5_conv1)")
            axis.legend(fontsize=7)
    figure.suptitle(f"Lower left is better. Equal wall time per run; variants: {', '.join(variants)}",
                    fontsize=10)
    figure.tight_layout()
    from tfstyle import files

    with files.atomic_path(path) as staged:
        figure.savefig(staged, format=os.path.splitext(path)[1][1:] or "png", dpi=90)


def image_grid(runs: list[dict], variants: list[str], path: str, multiplier: float = 1.0) -> None:
    """Rows = pairs; columns = content, style, recipe, then each variant, all at `multiplier`."""
    import numpy as np

    from tfstyle import images

    pairs = list(dict.fromkeys(run["pair"] for run in runs))
    height, gap = 200, 4
    table = []  # [row][column] cells, each resized to `height` px, aspect kept
    for pair in pairs:
        chosen = {r["variant"]: r for r in runs if r["pair"] == pair and r["multiplier"] == multiplier}
        first = chosen["recipe"]
        cells = [images.load_image(first["content"]), images.load_image(first["style"]),
                 images.load_image(chosen["recipe"]["output"])]
        cells += [images.load_image(chosen[v]["output"]) for v in variants]
        table.append([np.asarray(images.resize(c, (height, max(1, round(c.shape[1] * height / c.shape[0])))))
                      for c in cells])
    widths = [max(row[j].shape[1] for row in table) for j in range(len(table[0]))]  # one width per column
    rows = [np.concatenate([np.pad(c, ((0, gap), (0, w - c.shape[1] + gap), (0, 0)), constant_values=1.0)
                            for c, w in zip(row, widths, strict=True)], axis=1) for row in table]
    grid = np.concatenate(rows, axis=0)
    images.save_image(path, grid, quality=90)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="default",
                        help="tfstyle variants, comma-separated name[=field:value,...] (';' between variants "
                             "when a variant has several fields); default = OptimizeConfig()")
    parser.add_argument("--pairs", default=",".join(p[0] for p in PAIRS), help="subset of the pair names")
    parser.add_argument("--seconds", type=float, default=75.0, help="wall seconds per run (process start to end)")
    parser.add_argument("--size", type=int, default=256, help="output long side in px")
    parser.add_argument("--multipliers", default=",".join(f"{m:g}" for m in MULTIPLIERS),
                        help="style-weight multipliers, each method relative to its own default")
    parser.add_argument("--weights", default="auto", help="VGG weights for both methods and the evaluator")
    parser.add_argument("--work_dir", default=WORK_DIR, help="cached runs (outputs and their JSON)")
    parser.add_argument("--force", action="store_true", help="rerun cached runs")
    parser.add_argument("--plot", help="write the fronts plot here (png/svg)")
    parser.add_argument("--grid", help="write the image grid at x1 here (jpg/png)")
    parser.add_argument("--output", help="JSON path (default experiments/results/compare_recipe_<device>_<date>.json)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 pairs, 64 px, 15 s, random weights")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.seconds, args.weights = 64, 15.0, "random"
        args.pairs = ",".join(p[0] for p in PAIRS[:2])
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.row:
        spec = json.loads(args.row)
        benchmarking.print_row(evaluate_child(spec) if spec.get("evaluate") else run_child(spec))
        return 0
    if not os.path.isdir(SHARED):
        print(f"error: the study needs the shared photos and paintings in {SHARED}", file=sys.stderr)
        return 2
    variants = [benchmarking.parse_variant(v) for v in args.variants.split(";" if ";" in args.variants else ",")]
    chosen = args.pairs.split(",")
    unknown = set(chosen) - {p[0] for p in PAIRS}
    if unknown:
        print(f"error: unknown --pairs {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    multipliers = [float(m) for m in args.multipliers.split(",")]
    os.makedirs(args.work_dir, exist_ok=True)
    specs = []
    for name, content, style in (p for p in PAIRS if p[0] in chosen):
        for multiplier in multipliers:
            for variant, overrides in [("recipe", {}), *variants]:
                specs.append({"method": "recipe" if variant == "recipe" else "tfstyle", "variant": variant,
                              "overrides": overrides, "pair": name, "content": os.path.join(SHARED, content),
                              "style": os.path.join(SHARED, style), "size": args.size, "multiplier": multiplier,
                              "seconds": args.seconds, "weights": args.weights})
    machine = benchmarking.describe_machine()
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_cores']} cores); "
          f"{len(specs)} runs of {args.seconds:g} s at {args.size} px", flush=True)
    runs = _run_all(specs, args.work_dir, args.timeout, args.force)
    evaluated = benchmarking.spawn_row(__file__, {"evaluate": True, "weights": args.weights, "runs": runs},
                                       args.timeout)
    if "error" in evaluated:
        print(f"error: evaluation: {evaluated['error']}", file=sys.stderr)
        return 1
    names = [name for name, _ in variants]
    rows = compare(runs, evaluated["scores"], names)
    table = format_table(rows)
    print()
    print(table)
    from tfstyle import files

    if args.plot:
        plot_fronts(rows, args.plot)
        print(f"wrote {args.plot}")
    if args.grid:
        image_grid(runs, names, args.grid)
        print(f"wrote {args.grid}")
    date = datetime.date.today().isoformat()
    output = args.output or os.path.join(RESULTS_DIR, f"compare_recipe_{benchmarking.device_tag(machine)}_{date}.json")
    report = {"benchmark": "compare_recipe", "date": date, "machine": machine,
              "settings": {"seconds": args.seconds, "size": args.size, "multipliers": multipliers,
                           "weights": args.weights, "variants": dict(variants), "pairs": chosen},
              "runs": [{k: v for k, v in run.items() if k != "output"} | {"scores": evaluated["scores"][run["output"]]}
                       for run in runs],
              "rows": rows, "table": table}
    files.write_text(output, json.dumps(report, indent=2) + "\n")
    print(f"wrote {os.path.relpath(output, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
