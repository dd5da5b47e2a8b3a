"""One painting's feed-forward network: Magenta's pretrained transformer fine-tuned (`--init magenta`) against
Johnson et al.'s trained from scratch, at equal CPU time, and the fine-tuning recipe's choices.

    python experiments/study_finetune.py --content_dir PHOTOS --budget_s 600
    python experiments/study_finetune.py --content_dir PHOTOS --arm magenta-all --budget_s 900   # train on

Each arm is a `tfstyle.fast.train` run (`task.train`, the training core) with the arm's `FastTrainConfig` fields,
in its own process, stopped by SIGTERM `--budget_s` seconds after it was started (build and tracing included),
which the core answers as it answers a user: a checkpoint, then return. Runs live in `--work_dir/<arm>`: running
an arm again resumes it for another budget, and its row reports the training seconds of all its runs.

Arms (`--arm`, repeated; each a name of `ARMS` or `name=field:value,field:value`):
``scratch`` (Johnson et al.'s network, random start, its defaults), ``magenta-all`` (every weight of Magenta's
transformer moves), ``magenta-norms`` (only its conditional instance norms' projections); every arm at
`--image_size` crops and `--batch_size`.

Scores: every arm's network, Magenta's unmodified network with the painting (the fine-tuning's start), the bundled
network and the optimisation path's defaults (`tfstyle.optimize.stylize` via `bench_magenta.optimised`, computed
once and kept in `--work_dir`), on held-out photos at each `--sizes` long side, by `tfstyle.evaluate`'s fixed
protocol under max and average pooling; style and content loss relative to the optimisation result's (geometric
mean over the photos), and ms per image (float32, median of warm calls at the largest size). Writes a table on
stdout and ``experiments/results/study_finetune_<device>_<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import signal
import sys
import threading
import time

import bench_magenta  # experiments/bench_magenta.py, beside this script
import benchmarking

REPO, RESULTS_DIR = benchmarking.REPO, benchmarking.RESULTS_DIR
HELD_OUT = [os.path.join(bench_magenta.SHARED, name) for name in bench_magenta.SHARED_PHOTOS]
ARMS = {
    "scratch": {"init": "scratch"},
    "magenta-all": {"init": "magenta"},
    "magenta-norms": {"init": "magenta", "finetune": "norms"},
}
BUDGET_FILE = "study_seconds.json"  # in each run folder: the training seconds of all its runs


def parse_arm(text: str) -> tuple[str, dict]:
    """A name of `ARMS`, or "name=field:value,field:value" (`benchmarking.parse_variant`) -> (name, fields)."""
    name, fields = benchmarking.parse_variant(text)
    if not fields and name not in ARMS:
        raise ValueError(f"unknown arm {name!r}: one of {', '.join(ARMS)}, or name=field:value,...")
    return name, fields or dict(ARMS[name])


def _train(spec: dict) -> dict:
    """Trains (or resumes) the arm for `budget_s` seconds; returns its step and training seconds so far."""
    from tfstyle.fast import task
    from tfstyle.fast.config import FastTrainConfig

    fields = {"style": spec["style"], "content_dir": spec["content_dir"], "model_dir": spec["model_dir"],
              "image_size": spec["image_size"], "batch_size": spec["batch_size"], "steps": 100000,
              "mixed_precision": spec["mixed_precision"], "checkpoint_every_steps": 100000,
              "image_every_steps": 100000, "log_every_steps": 25, **spec["fields"]}
    config = FastTrainConfig(**fields).validate()
    ledger = os.path.join(spec["model_dir"], BUDGET_FILE)
    before = json.load(open(ledger)) if os.path.isfile(ledger) else {"seconds": 0.0, "runs": 0}
    timer = threading.Timer(spec["budget_s"], lambda: os.kill(os.getpid(), signal.SIGTERM))
    start = time.perf_counter()
    timer.start()
    try:
        result = task.train(config)
    finally:
        timer.cancel()
    seconds = before["seconds"] + time.perf_counter() - start
    with open(ledger, "w") as file:
        json.dump({"seconds": seconds, "runs": before["runs"] + 1}, file)
    return {"step": result.step, "train_seconds": seconds, "stopped": result.stopped,
            "final_losses": result.losses, "config": {k: v for k, v in fields.items() if k in spec["fields"]}}


def _outputs(spec: dict) -> dict:
    """{size: [uint8 output per held-out photo]} of the row's network, and its warm ms/image at the largest size."""
    import numpy as np

    from tfstyle import images
    from tfstyle.fast import inference

    painting = images.read_image_uint8(spec["style"])
    if spec["kind"] == "magenta":
        model, styles = inference.load_model(inference.MAGENTA), [painting]
    else:
        model, styles = inference.load_model(spec.get("model_dir")), []
    outputs = {size: [model.stylize([bench_magenta.photo_at(path, size)], styles)[0] for path in spec["photos"]]
               for size in spec["sizes"]}
    largest = bench_magenta.photo_at(spec["photos"][0], max(spec["sizes"]))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.stylize([largest], styles)
        times.append(time.perf_counter() - start)
    return {"outputs": outputs, "ms_per_image": 1e3 * float(np.median(times[1:]))}


def _row(spec: dict) -> dict:
    from tfstyle import images

    extra = _train(spec) if spec["kind"] == "arm" else {}
    painting = images.read_image_uint8(spec["style"])
    scored = {}
    if spec["kind"] == "optimize":
        outputs = {size: [bench_magenta.optimised(path, spec["style"], size, spec["work_dir"])[0]
                          for path in spec["photos"]] for size in spec["sizes"]}
    else:
        made = _outputs(spec)
        outputs, extra["ms_per_image"] = made["outputs"], made["ms_per_image"]
    for size, results in outputs.items():
        for path, output in zip(spec["photos"], results, strict=True):
            scores = bench_magenta.scores(output, bench_magenta.photo_at(path, size), painting)
            scored[f"{os.path.basename(path)}@{size}"] = scores
            if spec.get("save_dir") and size == max(spec["sizes"]):
                images.save_image(os.path.join(spec["save_dir"], f"{spec['name']}_{os.path.basename(path)}.png"),
                                  output)
    return {**extra, "scores": scored}


def relative(rows: list[dict]) -> list[dict]:
    """Per row and size: geometric means over the photos of its losses relative to the optimisation result's."""
    reference = next(row for row in rows if row["kind"] == "optimize" and "error" not in row)["scores"]
    lines = []
    for row in rows:
        if "error" in row:
            continue
        by_size: dict = {}
        for key, scores in row["scores"].items():
            size = int(key.rsplit("@", 1)[1])
            for name, value in scores.items():
                by_size.setdefault(size, {}).setdefault(name, []).append(value / reference[key][name])
        for size, ratios in sorted(by_size.items()):
            lines.append({"name": row["name"], "size": size, "step": row.get("step"),
                          "train_seconds": row.get("train_seconds"), "ms_per_image": row.get("ms_per_image"),
                          **{f"{name}_vs_optimize": math.exp(sum(map(math.log, v)) / len(v))
                             for name, v in ratios.items()}})
    return lines


def format_table(lines: list[dict]) -> str:
    out = [f"{'row':16} {'size':>5} {'step':>6} {'train s':>8} {'ms/img':>7} {'style max':>9} {'content max':>11} "
           f"{'style avg':>9} {'content avg':>11}   (losses: x the optimisation result's)"]
    def optional(line, key, spec):
        return format(line[key], spec) if line.get(key) is not None else "-"

    for line in lines:
        out.append(f"{line['name']:16} {line['size']:>5} {optional(line, 'step', 'd'):>6} "
                   f"{optional(line, 'train_seconds', '.0f'):>8} {optional(line, 'ms_per_image', '.0f'):>7} "
                   f"{line['max_style_loss_vs_optimize']:>9.2f} "
                   f"{line['max_content_loss_vs_optimize']:>11.2f} {line['avg_style_loss_vs_optimize']:>9.2f} "
                   f"{line['avg_content_loss_vs_optimize']:>11.2f}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--content_dir", default="", help="training photos (none of the held-out ones)")
    parser.add_argument("--style", default=bench_magenta.STARRY, help="the painting")
    parser.add_argument("--arm", action="append", help="an arm to train, repeated (default: scratch, magenta-all, "
                                                       "magenta-norms; see above)")
    parser.add_argument("--budget_s", type=float, default=600, help="seconds each arm trains in this run")
    parser.add_argument("--image_size", type=int, default=512, help="training crop size, px")
    parser.add_argument("--batch_size", type=int, default=1, help="training batch")
    parser.add_argument("--mixed_precision", default="none", help="training precision policy (none, bf16)")
    parser.add_argument("--sizes", default="256,512", help="long sides, px, of the held-out photos scored")
    parser.add_argument("--photos", default=",".join(HELD_OUT), help="held-out photos, comma-separated")
    parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "study_finetune"), help="run folders")
    parser.add_argument("--no_references", action="store_true", help="skip the magenta / bundled rows")
    parser.add_argument("--tag", default="", help="suffix of the results file (one study, several runs a day)")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row:
        spec = json.loads(args.row)
        benchmarking.print_row({**spec, **_row(spec)})
        return 0
    os.makedirs(args.work_dir, exist_ok=True)
    photos = [path for path in args.photos.split(",") if os.path.isfile(path)]
    if not photos:
        parser.error("no held-out photo found (give --photos)")
    common = {"style": os.path.abspath(args.style), "photos": photos, "work_dir": args.work_dir,
              "sizes": [int(size) for size in args.sizes.split(",")], "save_dir": args.work_dir}
    specs = [{"kind": "optimize", "name": "optimize", **common}]
    if not args.no_references:
        specs += [{"kind": "magenta", "name": "magenta (start)", **common},
                  {"kind": "bundled", "name": "bundled", **common}]
    for arm in args.arm or list(ARMS):
        if not args.content_dir:
            parser.error("training arms need --content_dir")
        name, fields = parse_arm(arm)
        specs.append({"kind": "arm", "name": name, "fields": fields, "content_dir": os.path.abspath(args.content_dir),
                      "model_dir": os.path.join(args.work_dir, name), "budget_s": args.budget_s,
                      "image_size": args.image_size, "batch_size": args.batch_size,
                      "mixed_precision": args.mixed_precision, **common})
    rows = []
    for spec in specs:
        rows.append(benchmarking.spawn_row(__file__, spec, timeout=args.budget_s + 3600))
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("photos", "scores")}), flush=True)
    lines = relative(rows)
    print(format_table(lines))
    machine = benchmarking.describe_machine()
    date = datetime.date.today().isoformat()
    os.makedirs(RESULTS_DIR, exist_ok=True)
    tag = f"_{args.tag}" if args.tag else ""
    out = os.path.join(RESULTS_DIR, f"study_finetune_{benchmarking.device_tag(machine)}_{date}{tag}.json")
    with open(out, "w") as file:
        json.dump({"study": "study_finetune", "date": date, "machine": machine, "args": vars(args), "summary": lines,
                   "rows": rows}, file, indent=1)
    print(f"wrote {out}")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
