"""Benchmark of the feed-forward path: stylisation time per image, a training step, and the optimisation path beside it.

    python experiments/bench_fast.py                 # 256, 512, 1024 px; float32 and bf16; batch 1 and 16
    python experiments/bench_fast.py --quick         # smoke run: 64 px, batch 1, a tiny network

Rows (each in its own subprocess, so its start-up and memory are its own):

* ``stylize``: `tfstyle.inference.Translator` on the network, what `python -m tfstyle.fast.stylize` runs
  (uint8 in, padding, network, uint8 out), at each size, float32 and bf16 (the network built under
  `mixed_bfloat16`), batch 1 and 16 (batch 16 at 1024 px is left out on a CPU: 16 x 1024^2 px); "ms/img" is
  the median over timed batches after `warmup` untimed ones, divided by the batch;
* ``litert`` / ``onnx``: the network exported by `tfstyle.export.export_model` and run by `ai_edge_litert` or
  `onnxruntime` (CPU) at 512 px, batch 1, uint8 in and out;
* ``train``: one training step of `tfstyle.fast.task` at 256 px, batch 4 (float32 and bf16), the step
  `python -m tfstyle.fast.train` runs (`task.build_training`);
* ``adain``: the arbitrary-style network (`--adain_model_dir`, else Magenta's pretrained one once fetched) with the
  Starry Night at a 512 px long side, float32, batch 1, at 256 and 512 px: what `stylize --style` runs;
* ``optimize``: `tfstyle.optimize.stylize` with its defaults on the same photo at 512 px, start to end
  (start-up excluded: a warm-up run at 32 px first), for the time ratio against the network in float32 and in
  the precision `stylize` picks by default on this machine (`--precision auto`); both results are scored by
  `tfstyle.evaluate`'s fixed protocol (style and content loss).

The network is the bundled Starry Night model (`--model_dir` for another run); photo: the bundled astronaut.
Results: a table on stdout and ``experiments/results/bench_fast_<device>_<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time

import benchmarking  # experiments/benchmarking.py, beside this script

REPO, RESULTS_DIR = benchmarking.REPO, benchmarking.RESULTS_DIR
PHOTO = os.path.join(REPO, "tfstyle", "assets", "astronaut.jpg")
STYLE = os.path.join(REPO, "tfstyle", "assets", "vangogh_starry_night.jpg")


def _photo(size: int):
    import numpy as np

    from tfstyle import images

    return np.asarray(images.to_uint8(images.resize(images.load_image(PHOTO), (size, size))))


def _network(spec: dict):
    """The bundled (or `model_dir`) network in the row's precision, loaded the way `fast.stylize` loads it."""
    from tfstyle import distribute
    from tfstyle.fast import inference, models

    if spec.get("tiny"):
        with distribute.dtype_policy("none" if spec["precision"] == "float32" else spec["precision"]):
            return models.build_transformer(8, 1)
    return inference.load_model(spec.get("model_dir") or None, precision=spec["precision"]).network


def _adain_model(spec: dict):
    """(the arbitrary-style network with the Starry Night set, its size multiple)."""
    from tfstyle import features, images
    from tfstyle.fast import config, inference, models

    if spec.get("tiny"):
        encoder = features.build_feature_extractor(layers=(models.ENCODER_LAYER,), weights="random")
        decoder = models.build_decoder(4)
        model = inference.FastModel(config.FastTrainConfig(arbitrary=True), "tiny",
                                    models.build_arbitrary(encoder, decoder), encoder, decoder)
    else:
        model = inference.load_model(spec["adain_model_dir"] or inference.MAGENTA)
    return model.stylizer([images.read_image_uint8(STYLE)]), model.multiple


def _stylize_row(spec: dict) -> dict:
    import numpy as np

    from tfstyle import geometry, inference
    from tfstyle.fast.models import VALUE_RANGE

    network, multiple = _adain_model(spec) if spec["kind"] == "adain" else (_network(spec), geometry.SIZE_MULTIPLE)
    translator = inference.Translator(network, value_range=VALUE_RANGE, multiple=multiple)
    batch = [_photo(spec["size"])] * spec["batch"]
    times = []
    for _ in range(spec["warmup"] + spec["iterations"]):
        start = time.perf_counter()
        outputs = translator(batch, batch_size=spec["batch"])
        times.append(time.perf_counter() - start)
    assert all(np.asarray(o).shape == batch[0].shape for o in outputs)
    seconds = statistics.median(times[spec["warmup"]:])
    return {"ms_per_image": 1e3 * seconds / spec["batch"], "images_per_second": spec["batch"] / seconds}


def _runtime_row(spec: dict) -> dict:
    """The network exported to `spec["runtime"]` ("litert" or "onnx") and run by that runtime on one image."""
    import tempfile

    from tfstyle import export, geometry
    from tfstyle.fast.models import VALUE_RANGE

    photo = _photo(spec["size"])[None]
    with tempfile.TemporaryDirectory() as folder:
        path = export.export_model(_network(spec), folder, spec["runtime"], multiple=geometry.SIZE_MULTIPLE,
                                   min_size=geometry.MIN_SIZE, value_range=VALUE_RANGE)
        if spec["runtime"] == "litert":
            from ai_edge_litert.interpreter import Interpreter

            runner = Interpreter(model_path=path).get_signature_runner()
            run = lambda: runner(images=photo)["images"]  # noqa: E731
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            run = lambda: session.run(None, {"images": photo})[0]  # noqa: E731
        times = []
        for _ in range(spec["warmup"] + spec["iterations"]):
            start = time.perf_counter()
            output = run()
            times.append(time.perf_counter() - start)
    assert output.shape == photo.shape
    seconds = statistics.median(times[spec["warmup"]:])
    return {"ms_per_image": 1e3 * seconds, "images_per_second": 1.0 / seconds}


def _train_row(spec: dict) -> dict:
    import tensorflow as tf

    from tfstyle import images
    from tfstyle.fast import config as config_lib
    from tfstyle.fast import task

    config = config_lib.FastTrainConfig(style=STYLE, content_dir=os.path.dirname(PHOTO), model_dir="unused",
                                        image_size=spec["size"], batch_size=spec["batch"],
                                        mixed_precision="none" if spec["precision"] == "float32" else "bf16",
                                        weights="random" if spec.get("tiny") else "auto")
    built = task.build_training(config, tf.distribute.OneDeviceStrategy("/cpu:0"), steps_per_epoch=1)
    batch = tf.constant(images.to_signed(images.resize(images.load_image(PHOTO), (spec["size"],) * 2)))
    batch = tf.repeat(batch[None], spec["batch"], axis=0)
    times = []
    for _ in range(spec["warmup"] + spec["iterations"]):
        start = time.perf_counter()
        float(built.train_step(batch)["total"])
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[spec["warmup"]:])
    return {"ms_per_step": 1e3 * seconds, "images_per_second": spec["batch"] / seconds}


def default_precision() -> str:
    """The precision `python -m tfstyle.fast.stylize` picks on this machine (`--precision auto`)."""
    from tfstyle.fast import inference

    return inference.resolve_precision("auto")[0]


def _optimize_row(spec: dict) -> dict:
    import numpy as np

    from tfstyle import images, inference
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.fast.models import VALUE_RANGE
    from tfstyle.optimize import OptimizeConfig, stylize

    weights = "random" if spec.get("tiny") else "auto"
    stylize(PHOTO, [STYLE], OptimizeConfig(image_size=32, iterations=2, weights=weights))  # start-up, untimed
    start = time.perf_counter()
    optimized = stylize(PHOTO, [STYLE], OptimizeConfig(image_size=spec["size"], weights=weights))
    optimize_seconds = time.perf_counter() - start
    photo = _photo(spec["size"])
    seconds, outputs = {}, {}
    for precision in ("float32", default_precision()):  # float32, and what `fast.stylize` runs by default here
        translator = inference.Translator(_network({**spec, "precision": precision}), value_range=VALUE_RANGE)
        translator([photo])  # tracing, untimed, like the optimisation path's start-up
        start = time.perf_counter()
        outputs[precision] = translator([photo])[0]
        seconds[precision] = time.perf_counter() - start
    fast = outputs["float32"]
    fast_seconds, default_seconds = seconds["float32"], seconds[default_precision()]
    evaluator = StyleEvaluator(weights=weights)
    scores = {name: evaluator.score(image, photo, [STYLE])
              for name, image in (("optimize", np.asarray(images.to_uint8(optimized))), ("fast", fast))}
    return {"optimize_seconds": optimize_seconds, "fast_seconds": fast_seconds,
            "speedup": optimize_seconds / fast_seconds, "default_precision": default_precision(),
            "fast_default_seconds": default_seconds, "speedup_default": optimize_seconds / default_seconds,
            **{f"{name}_{key}": float(getattr(scores[name], key)) for name in scores
               for key in ("content_loss", "style_loss")}}


ROWS = {"stylize": _stylize_row, "adain": _stylize_row, "runtime": _runtime_row, "train": _train_row,
        "optimize": _optimize_row}


def run_row(spec: dict) -> dict:
    return {**spec, **ROWS[spec["kind"]](spec), "peak_rss_bytes": benchmarking.status_bytes("VmHWM:")}


def plan(args) -> list[dict]:
    common = {"warmup": args.warmup, "iterations": args.iterations, "tiny": args.quick, "model_dir": args.model_dir}
    sizes = [64] if args.quick else [256, 512, 1024]
    specs = [{"kind": "stylize", "size": size, "precision": precision, "batch": batch, **common}
             for precision in ("float32", "bf16") for size in sizes for batch in ((1,) if args.quick else (1, 16))
             if not (size == 1024 and batch == 16)]
    specs += [{"kind": "runtime", "runtime": runtime, "size": 64 if args.quick else 512, "precision": "float32",
               "batch": 1, **common} for runtime in ("litert", "onnx")]
    specs += [{"kind": "train", "size": 64 if args.quick else 256, "batch": 4, "precision": precision, **common}
              for precision in ("float32", "bf16")]
    from tfstyle.weights import magenta, resolve  # TensorFlow-free

    fetched = os.path.isfile(os.path.join(resolve.default_cache_dir(), magenta.CONVERTED))
    if args.quick or args.adain_model_dir or fetched:
        specs += [{"kind": "adain", "size": size, "precision": "float32", "batch": 1,
                   "adain_model_dir": args.adain_model_dir, **common} for size in ([64] if args.quick else [256, 512])]
    specs.append({"kind": "optimize", "size": 64 if args.quick else 512, "precision": "float32", **common})
    return specs


def format_table(rows: list[dict]) -> str:
    lines = [f"{'row':<9} {'size':>5} {'dtype':<7} {'batch':>5} {'ms':>10} {'img/s':>8} {'peak RSS GiB':>12}"]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['kind']:<9} {row['size']:>5} error: {row['error']}")
        elif row["kind"] in ("stylize", "adain", "runtime", "train"):
            ms = row.get("ms_per_image", row.get("ms_per_step"))
            unit = "/step" if row["kind"] == "train" else "/img"
            name = row.get("runtime", row["kind"])
            lines.append(f"{name:<9} {row['size']:>5} {row['precision']:<7} {row['batch']:>5} "
                         f"{ms:>7.1f}{unit:<5} {row['images_per_second']:>6.1f} {row['peak_rss_bytes'] / 2**30:>12.2f}")
    for row in rows:
        if row["kind"] == "optimize" and "error" not in row:
            lines.append(f"\nat {row['size']} px: optimisation path {row['optimize_seconds']:.1f} s, feed-forward "
                         f"{1e3 * row['fast_seconds']:.0f} ms float32 ({row['speedup']:.0f}x faster), "
                         f"{1e3 * row['fast_default_seconds']:.0f} ms {row['default_precision']} (stylize's default "
                         f"here, {row['speedup_default']:.0f}x); fixed evaluator "
                         f"style / content loss: optimisation {row['optimize_style_loss']:.4g} / "
                         f"{row['optimize_content_loss']:.4g}, feed-forward {row['fast_style_loss']:.4g} / "
                         f"{row['fast_content_loss']:.4g} ({row['fast_style_loss'] / row['optimize_style_loss']:.2f}x"
                         f" / {row['fast_content_loss'] / row['optimize_content_loss']:.2f}x)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, a tiny random network")
    parser.add_argument("--model_dir", default="", help="a fast.train run (default: the bundled model)")
    parser.add_argument("--adain_model_dir", default="", help="an --arbitrary fast.train run (default: Magenta's "
                                                              "pretrained network, once fetched)")
    parser.add_argument("--iterations", type=int, default=None, help="timed repeats per row (default 5)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed repeats first (default 2)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per row")
    parser.add_argument("--output", default=None, help="JSON path (default experiments/results/...)")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.iterations = args.iterations or (2 if args.quick else 5)
    args.warmup = (1 if args.quick else 2) if args.warmup is None else args.warmup
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.row:
        from tfstyle import tf_startup

        tf_startup.install()
        benchmarking.print_row(run_row(json.loads(args.row)))
        return 0
    machine = benchmarking.describe_machine()
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_cores']} cores), "
          f"TF {machine['tensorflow']}, Keras {machine['keras']}", flush=True)
    rows, started = [], time.perf_counter()
    for spec in plan(args):
        row_start = time.perf_counter()
        rows.append(benchmarking.spawn_row(__file__, spec, args.timeout))
        print(f"  {spec['kind']} {spec['size']} px {spec['precision']} batch {spec.get('batch', 1)}: "
              f"{rows[-1].get('error', 'done')} ({time.perf_counter() - row_start:.0f} s)", flush=True)
    table = format_table(rows)
    print()
    print(table)
    from tfstyle import files

    date = datetime.date.today().isoformat()
    output = args.output or os.path.join(RESULTS_DIR, f"bench_fast_{benchmarking.device_tag(machine)}_{date}.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    files.write_text(output, json.dumps({"benchmark": "bench_fast", "date": date, "machine": machine,
                                         "settings": vars(args), "wall_seconds": time.perf_counter() - started,
                                         "rows": rows, "table": table}, indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(output, os.getcwd())}")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
