"""An exported SavedModel served from many threads: loaded once in a fresh process, called from N threads with real
images through both signatures; results must equal the one-thread results, and p50 / p99 per image are printed.

    python experiments/serve_threads.py --export_dir saved_models/horse2zebra          # newest version
    python experiments/serve_threads.py --export_dir saved_models/horse2zebra/1 --threads 8 --calls 4 --size 256

Images: the bundled astronaut and Starry Night, and with ../shared present its content photos, each resized to
--size on the long side (PNG-encoded for the bytes signature). Every thread calls `serving_default` (uint8
[1, H, W, 3]) and `translate_bytes` (one encoded image) `--calls` times per image, in its own order; each result
is compared with the same image's one-thread result (uint8, exact). Latency is wall time per call from the
calling thread (which includes waiting for the other threads' work: with 2 cores, 8 threads queue).

Results: stdout and experiments/results/serve_threads_<device>_<date>.json (unless --output -).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import io
import json
import os
import statistics
import sys
import time

import benchmarking  # experiments/benchmarking.py, beside this script
import numpy as np

ASSETS = os.path.join(benchmarking.REPO, "tfstyle", "assets")
SHARED = os.path.join(os.path.dirname(benchmarking.REPO), "shared", "data", "content", "animals")


def load_images(size: int, limit: int) -> list[tuple[str, np.ndarray, bytes]]:
    """(name, uint8 [H, W, 3], PNG bytes) of up to `limit` real photos resized to `size` px on the long side."""
    from PIL import Image

    from tfstyle import images

    paths = [os.path.join(ASSETS, "astronaut.jpg"), os.path.join(ASSETS, "vangogh_starry_night.jpg")]
    if os.path.isdir(SHARED):
        paths += images.list_images(SHARED)
    loaded = []
    for path in paths[:limit]:
        picture = Image.fromarray(images.read_image_uint8(path))
        picture.thumbnail((size, size), Image.LANCZOS)
        array = np.asarray(picture)
        encoded = io.BytesIO()
        picture.save(encoded, "PNG")
        loaded.append((os.path.basename(path), array, encoded.getvalue()))
    return loaded


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def serve(export_dir: str, threads: int, calls: int, size: int, limit: int) -> dict:
    import tensorflow as tf
    from PIL import Image

    from tfstyle import export

    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):  # a base folder: its newest version
        versions = sorted((int(v) for v in os.listdir(export_dir) if v.isdigit()), reverse=True)
        if not versions:
            raise SystemExit(f"error: no SavedModel in {export_dir}")
        export_dir = os.path.join(export_dir, str(versions[0]))
    loaded = tf.saved_model.load(export_dir)
    tensor_fn = loaded.signatures[export.SERVING_SIGNATURE]
    bytes_fn = loaded.signatures[export.BYTES_SIGNATURE]
    pictures = load_images(size, limit)

    def call_tensor(array):
        return tensor_fn(**{export.IMAGES_KEY: tf.constant(array[None])})[export.IMAGES_KEY].numpy()[0]

    def call_bytes(data):
        png = bytes(bytes_fn(**{export.IMAGE_BYTES_KEY: tf.constant([data])})[export.PNG_BYTES_KEY].numpy()[0])
        return np.asarray(Image.open(io.BytesIO(png)))

    reference = {name: (call_tensor(array), call_bytes(data)) for name, array, data in pictures}  # one thread
    serial_s = []
    for _, array, _ in pictures:
        start = time.perf_counter()
        call_tensor(array)
        serial_s.append(time.perf_counter() - start)

    def worker(index: int) -> dict:
        rng = np.random.default_rng(index)
        latencies, mismatches = {"tensor": [], "bytes": []}, []
        for _ in range(calls):
            for position in rng.permutation(len(pictures)):
                name, array, data = pictures[position]
                for kind, call, argument, expected in (("tensor", call_tensor, array, reference[name][0]),
                                                       ("bytes", call_bytes, data, reference[name][1])):
                    start = time.perf_counter()
                    result = call(argument)
                    latencies[kind].append(time.perf_counter() - start)
                    if result.shape != expected.shape or not np.array_equal(result, expected):
                        mismatches.append(f"{kind} {name}")
        return {"latencies": latencies, "mismatches": mismatches}

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(worker, range(threads)))
    wall = time.perf_counter() - start
    report = {"export_dir": export_dir, "threads": threads, "calls_per_image": calls, "images": len(pictures),
              "size": size, "serial_ms_per_image": 1e3 * statistics.median(serial_s), "wall_s": wall,
              "mismatches": sorted({m for r in results for m in r["mismatches"]})}
    for kind in ("tensor", "bytes"):
        values = [v for r in results for v in r["latencies"][kind]]
        report[kind] = {"calls": len(values), "p50_ms": 1e3 * _percentile(values, 50),
                        "p99_ms": 1e3 * _percentile(values, 99)}
    report["images_per_second"] = (report["tensor"]["calls"] + report["bytes"]["calls"]) / wall
    report["equal_to_one_thread"] = not report["mismatches"]
    return report


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export_dir", required=True, help="a SavedModel version folder, or its base folder")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=3, help="calls per image per thread and signature")
    parser.add_argument("--size", type=int, default=256, help="long side of the images, px")
    parser.add_argument("--images", type=int, default=8, help="at most this many images")
    parser.add_argument("--output", default="", help="JSON path; '-' for none")
    args = parser.parse_args(argv)
    machine = benchmarking.describe_machine()
    report = serve(args.export_dir, args.threads, args.calls, args.size, args.images)
    print(f"{machine['cpu_model']} ({machine['cpu_cores']} cores): {report['threads']} threads x "
          f"{report['images']} images x {report['calls_per_image']} calls x 2 signatures in {report['wall_s']:.1f} s")
    for kind in ("tensor", "bytes"):
        print(f"  {kind:<6} p50 {report[kind]['p50_ms']:.0f} ms  p99 {report[kind]['p99_ms']:.0f} ms per image")
    print(f"  one thread {report['serial_ms_per_image']:.0f} ms per image; {report['images_per_second']:.1f} "
          f"images/s under load; results equal to one thread's: {report['equal_to_one_thread']}")
    if args.output != "-":
        from tfstyle import files

        date = datetime.date.today().isoformat()
        output = args.output or os.path.join(benchmarking.RESULTS_DIR,
                                             f"serve_threads_{benchmarking.device_tag(machine)}_{date}.json")
        files.write_text(output, json.dumps({"machine": machine, **report}, indent=2) + "\n")
        print(f"wrote {os.path.relpath(output, os.getcwd())}")
    print("RESULT " + json.dumps({"equal": report["equal_to_one_thread"], "mismatches": report["mismatches"]}))
    return 0 if report["equal_to_one_thread"] else 1


if __name__ == "__main__":
    sys.exit(main())
