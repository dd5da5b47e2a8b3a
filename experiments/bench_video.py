"""Benchmark of `python -m tfstyle.video`: frames/s, temporal cost, warping error and style loss per engine.

    python experiments/bench_video.py                 # every engine; 256 px clip of 24 frames
    python experiments/bench_video.py --quick         # smoke run: 64 px, 6 frames, the fast engine

The clip is made from a real photo with known motion (`make_clip`: a slow pan and zoom across the bundled
astronaut photo, or a `--photo`), so it needs no video file. Each row runs one engine with `--temporal flow`
and `--temporal none` the way the CLI does (`tfstyle.video.job.VideoJob` + the engine + `TemporalBlender`,
frames written and encoded to H.264), in its own subprocess after loading the model (load time excluded):

* frames/s over the whole job (stylisation, flow and blend, PNG writes, the final encode);
* the share of each frame's time spent in the temporal machinery (two flows, the mask, the warp and blend);
* Lai et al.'s warping error of the output on the input's flow (`tfstyle.video.temporal.warping_error`), and
  the fixed evaluator's style / content loss of every 4th frame (`tfstyle.evaluate.video.frame_losses`): the
  mean, and for the flow rows the worst frame's relative to the same frame painted frame by frame (a carry that
  smears old paint over new content lowers the warping error and raises that ratio).

Engines: `fast` (the bundled network, or `--model_dir`); `adain` (`--adain_model_dir`, the Starry Night as the
painting) and `cyclegan` (`--cyclegan_model_dir`, photo -> painting): without a folder the bench trains one with
the full architecture for `--train_steps` steps on `../shared`'s photos and paintings (the bundle has neither
kind), so their frames/s are the real networks' but their look is an early checkpoint's; `optimize` (the
Gatys engine with Ruder et al.'s temporal loss at its defaults) on the first `--optimize_frames` frames of the
same clip at `--optimize_size` px, because one frame by frame costs the full schedule (minutes a frame at 256
px on a 2-core CPU). The optimisation engine's temporal work lives inside its objective and its warped start,
so its "temporal %" is not separated. Results: a table and `experiments/results/bench_video_<device>_<date>.json`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time

import benchmarking  # experiments/benchmarking.py, beside this script

REPO, RESULTS_DIR = benchmarking.REPO, benchmarking.RESULTS_DIR
PHOTO = os.path.join(REPO, "tfstyle", "assets", "astronaut.jpg")
STYLE = os.path.join(REPO, "tfstyle", "assets", "vangogh_starry_night.jpg")


def make_clip(photo: str, frames: int, size: int):
    """`frames` square crops of `photo`, `size` px, moving right and down by 2 px a frame and zooming in by 0.5 %
    a frame (so the flow is not one constant shift): uint8 [size, size, 3] each."""
    import numpy as np

    from tfstyle import images

    picture = images.load_image(photo)
    height, width = picture.shape[:2]
    side = min(height, width) * 0.6
    clip = []
    for index in range(frames):
        crop = side * (1.0 - 0.005 * index)
        top, left = 0.1 * height + 2 * index * side / size, 0.1 * width + 2 * index * side / size
        window = picture[int(top):int(top + crop), int(left):int(left + crop)]
        clip.append(np.asarray(images.to_uint8(images.resize(window, (size, size)))))
    return clip


def _engine(spec: dict):
    from tfstyle import images
    from tfstyle.video import engines

    if spec["engine"] == "optimize":
        from tfstyle.optimize.config import OptimizeConfig

        return engines.OptimizeEngine([images.load_image(STYLE)], OptimizeConfig(), (spec["size"], spec["size"]),
                                      temporal=spec["temporal"] == "flow")
    if spec["engine"] == "cyclegan":
        return engines.cyclegan_engine(spec["model_dir"], "a2b")
    styles = [images.read_image_uint8(STYLE)] if spec["engine"] == "adain" else []
    return engines.fast_engine(spec["model_dir"] or None, styles)


def run_row(spec: dict) -> dict:
    import numpy as np

    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.evaluate.video import frame_losses, worst_frames
    from tfstyle.video import io, job, temporal

    clip = make_clip(spec["photo"], spec["frames"], spec["size"])
    engine = _engine(spec)
    engine(clip[0])  # tracing, untimed (the model load is not part of frames/s)
    if spec["engine"] == "optimize":
        engine.reset()  # it carries its own previous frame: start the clip afresh
        blender = lambda frame, painted: painted  # noqa: E731 - its temporal term is inside the engine
    else:
        blender = temporal.TemporalBlender(spec["strength"] if spec["temporal"] == "flow" else 0.0)
    engine_seconds, temporal_seconds = [0.0], [0.0]

    def process(index, frame):
        start = time.perf_counter()
        stylised = engine(frame)
        middle = time.perf_counter()
        output = blender(frame, stylised)
        engine_seconds[0] += middle - start
        temporal_seconds[0] += time.perf_counter() - middle
        return output

    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "in.mp4")
        io.write_video(clip, source, 24)
        output = os.path.join(folder, "out.mp4")
        start = time.perf_counter()
        job.VideoJob(source, output, {"row": spec}).run(process)
        seconds = time.perf_counter() - start
        inputs, outputs = list(io.read_frames(source)), list(io.read_frames(output))
    evaluator = StyleEvaluator(weights="random" if spec["quick"] else "auto")
    style = [STYLE] if spec["engine"] != "cyclegan" else [spec["photo"]]
    losses = frame_losses(evaluator, inputs, outputs, style, frames=range(0, len(outputs), 4))
    share = None if spec["engine"] == "optimize" else temporal_seconds[0] / (engine_seconds[0] + temporal_seconds[0])
    return {"frames_per_second": len(clip) / seconds, "seconds": seconds, "temporal_share": share,
            "warping_error": temporal.warping_error(inputs, outputs),
            "style_loss": float(np.mean([pair[0] for pair in losses.values()])),
            "content_loss": float(np.mean([pair[1] for pair in losses.values()])),
            "per_frame": {str(index): list(pair) for index, pair in losses.items()}, **worst_frames(losses)}


def plan(args, trained: dict | None = None) -> list[dict]:
    """The rows: each engine with --temporal flow and none. `trained` maps an engine to a run this bench trained
    (`train_runs`); --quick runs the fast engine only."""
    trained = trained or {}
    common = {"photo": args.photo, "frames": 6 if args.quick else args.frames, "size": 64 if args.quick else args.size,
              "strength": args.strength, "quick": args.quick}
    engines = [("fast", args.model_dir, {})]
    if not args.quick:
        for engine in ("adain", "cyclegan"):
            folder = getattr(args, f"{engine}_model_dir") or trained.get(engine, "")
            if folder:
                engines.append((engine, folder, {"trained_here": engine in trained and
                                                 not getattr(args, f"{engine}_model_dir")}))
        if args.optimize_frames:
            engines.append(("optimize", "", {"frames": args.optimize_frames, "size": args.optimize_size}))
    return [{"engine": engine, "model_dir": model_dir, "temporal": mode, **common, **extra}
            for engine, model_dir, extra in engines for mode in ("flow", "none")]


def train_runs(args, folder: str) -> dict:
    """Trains the adain and cyclegan runs that were not given, full architecture, `args.train_steps` steps each, on
    `../shared`'s photos (content) and paintings (style; domain B); returns {engine: run folder}."""
    shared = os.path.join(os.path.dirname(REPO), "shared", "data")
    photos, paintings = os.path.join(shared, "content"), os.path.join(shared, "style")
    if args.quick or not args.train_steps or not os.path.isdir(photos):
        return {}
    from tfstyle.cyclegan import config as cyclegan_config
    from tfstyle.cyclegan import trainer
    from tfstyle.fast import config as fast_config
    from tfstyle.fast import task

    runs = {}
    if not args.adain_model_dir:
        runs["adain"] = os.path.join(folder, "adain")
        task.train(fast_config.FastTrainConfig(arbitrary=True, style_dir=paintings, content_dir=photos,
                                               image_size=128, batch_size=4, steps=args.train_steps,
                                               model_dir=runs["adain"]))
    if not args.cyclegan_model_dir:
        runs["cyclegan"] = os.path.join(folder, "cyclegan")
        unpaired = os.path.join(shared, "unpaired", "photo2painting")
        trainer.train(cyclegan_config.TrainConfig(domain_a=os.path.join(unpaired, "A"),
                                                  domain_b=os.path.join(unpaired, "B"), load_size=143,
                                                  image_size=128, max_steps=args.train_steps,
                                                  model_dir=runs["cyclegan"]))
    return runs


def relative_to_frame_by_frame(rows: list[dict]) -> None:
    """Adds to each `--temporal flow` row its ratios to the same engine's `none` row: "warping_error_ratio" and
    "worst_style_ratio" / "worst_content_ratio" ({"frame", "value"}: the scored frame whose loss grew most)."""
    from tfstyle.evaluate.video import worst_frames

    alone = {row["engine"]: row for row in rows if row["temporal"] == "none" and "error" not in row}
    for row in rows:
        base = alone.get(row["engine"])
        if row["temporal"] != "flow" or "error" in row or base is None:
            continue
        row["warping_error_ratio"] = row["warping_error"] / base["warping_error"]
        ratios = worst_frames({int(k): v for k, v in row["per_frame"].items()},
                              {int(k): v for k, v in base["per_frame"].items()})
        row.update(worst_style_ratio=ratios["worst_style"], worst_content_ratio=ratios["worst_content"])


def format_table(rows: list[dict]) -> str:
    """One line a row; a flow row's last columns are its worst frame's style / content loss relative to the same
    frame painted frame by frame (`relative_to_frame_by_frame`)."""
    lines = [f"{'engine':<9} {'temporal':<8} {'frames/s':>8} {'temporal %':>10} {'warping error':>13} "
             f"{'style loss':>11} {'worst style x':>14} {'worst content x':>16}"]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['engine']:<9} {row['temporal']:<8} error: {row['error']}")
            continue
        note = ", run trained here" if row.get("trained_here") else ""
        share = "-" if row["temporal_share"] is None else f"{100 * row['temporal_share']:.0f}%"
        worst = ["-" if name not in row else f"{row[name]['value']:.2f} (f{row[name]['frame'] + 1})"
                 for name in ("worst_style_ratio", "worst_content_ratio")]
        lines.append(f"{row['engine']:<9} {row['temporal']:<8} {row['frames_per_second']:>8.2f} "
                     f"{share:>10} {row['warping_error']:>13.4g} {row['style_loss']:>11.4g} {worst[0]:>14} "
                     f"{worst[1]:>16}   {row['frames']} frames {row['size']} px{note}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, 6 frames")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=256, help="frame side, px")
    parser.add_argument("--strength", type=float, default=1.0, help="--temporal_strength of the flow rows")
    parser.add_argument("--photo", default=PHOTO, help="the photo the clip is cut from")
    parser.add_argument("--model_dir", default="", help="fast engine: a per-style run (default: the bundled one)")
    parser.add_argument("--adain_model_dir", default="", help="adds adain rows with this arbitrary-style run")
    parser.add_argument("--cyclegan_model_dir", default="", help="adds cyclegan rows with this run")
    parser.add_argument("--train_steps", type=int, default=40,
                        help="without --adain/--cyclegan_model_dir, train each this many steps here (0: skip)")
    parser.add_argument("--optimize_frames", type=int, default=8, help="frames of the optimize rows (0: skip)")
    parser.add_argument("--optimize_size", type=int, default=128, help="frame side of the optimize rows, px")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per row")
    parser.add_argument("--output", default=None, help="JSON path (default experiments/results/...)")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.row:
        from tfstyle import tf_startup

        tf_startup.install()
        spec = json.loads(args.row)
        benchmarking.print_row({**spec, **run_row(spec), "peak_rss_bytes": benchmarking.status_bytes("VmHWM:")})
        return 0
    machine = benchmarking.describe_machine()
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_cores']} cores)", flush=True)
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as runs_folder:
        trained = train_runs(args, runs_folder)
        for spec in plan(args, trained):
            rows.append(benchmarking.spawn_row(__file__, spec, args.timeout))
            print(f"  {spec['engine']} temporal {spec['temporal']}: {rows[-1].get('error', 'done')}", flush=True)
    relative_to_frame_by_frame(rows)
    print()
    print(format_table(rows))
    from tfstyle import files

    date = datetime.date.today().isoformat()
    path = args.output or os.path.join(RESULTS_DIR, f"bench_video_{benchmarking.device_tag(machine)}_{date}.json")
    files.write_text(path, json.dumps({"benchmark": "bench_video", "date": date,
                                       "machine": machine, "settings": vars(args),
                                       "wall_seconds": time.perf_counter() - started, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
