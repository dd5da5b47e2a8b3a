"""Every file of the image corpus (tests/image_corpus.py) through every command that takes an image: the table.

    python experiments/harden_images.py                 # ~15 min on 2 cores (one process per case and command)
    python experiments/harden_images.py --entries stylize,translate

Entry points: `fast.stylize --input` (the bundled network), `fast.stylize --style` (Magenta's arbitrary network),
`optimize --content` and `--style` (5 iterations at 64 px), `cyclegan.translate --input` (a small run imported
from tests/fixtures/torch_generators), `evaluate style --output`, and the exported SavedModel's
`translate_bytes` signature (called in this process, the way TF Serving's REST API hands it the file's bytes).

Each (case, entry) ends in one of:

* worked: exit 0, the output exists and has the picture's shape (EXIF rotation applied: a 24 x 40 file shot
  rotated must come out 40 x 24; the ratio for resizing commands), or, for `evaluate`, finite scores;
* refused: non-zero exit, exactly one `error:` line, no traceback, nothing written (a SavedModel call that
  raises an InvalidArgumentError naming the cause counts here);
* failed: anything else (a traceback, a wrong shape, a partial output, an EXIF orientation ignored).

A decodable case may also be refused when the command has a size floor (1 x 1 px below the networks'
minimum): the table says so. Results: the table on stdout and experiments/results/harden_images_<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import benchmarking  # experiments/benchmarking.py, beside this script

sys.path.insert(0, os.path.join(benchmarking.REPO, "tests"))
import image_corpus  # noqa: E402 - tests/image_corpus.py, the one corpus the tests use too

ASTRONAUT = os.path.join(benchmarking.REPO, "tfstyle", "assets", "astronaut.jpg")
PAINTING = os.path.join(benchmarking.REPO, "tfstyle", "assets", "vangogh_starry_night.jpg")
FIXTURE = os.path.join(benchmarking.REPO, "tests", "fixtures", "torch_generators", "resnet_9blocks_instance.pth")
ENTRIES = ("stylize", "stylize_style", "optimize_content", "optimize_style", "translate", "evaluate", "serving")


def _command(entry: str, case_path: str, output: str, run_dir: str) -> list[str]:
    python = [sys.executable, "-m"]
    if entry == "stylize":
        return python + ["tfstyle.fast.stylize", "--input", case_path, "--output", output]
    if entry == "stylize_style":
        return python + ["tfstyle.fast.stylize", "--style", case_path, "--input", ASTRONAUT, "--output", output]
    if entry == "optimize_content":
        return python + ["tfstyle.optimize", "--content", case_path, "--style", PAINTING, "--output", output,
                         "--iterations", "5", "--image_size", "64"]
    if entry == "optimize_style":
        return python + ["tfstyle.optimize", "--content", ASTRONAUT, "--style", case_path, "--output", output,
                         "--iterations", "5", "--image_size", "64"]
    if entry == "translate":
        return python + ["tfstyle.cyclegan.translate", "--model_dir", run_dir, "--input", case_path,
                         "--output", output]
    if entry == "evaluate":
        return python + ["tfstyle.evaluate", "style", "--output", case_path, "--content", case_path,
                         "--style", PAINTING, "--json", output.replace(".png", ".json")]
    raise ValueError(entry)


def _shape_ok(entry: str, case, output: str) -> bool:
    from tfstyle import images

    if entry == "evaluate":
        with open(output.replace(".png", ".json")) as file:
            text = file.read()
        return "NaN" not in text and "Infinity" not in text
    got = images.read_image_uint8(output).shape[:2]
    want = case.expected.shape[:2] if case.expected is not None else None
    if want is None:
        return False
    if entry in ("stylize", "translate"):
        return tuple(got) == tuple(want)  # full size, rotation applied
    if entry == "optimize_content":
        return (got[0] > got[1]) == (want[0] > want[1]) or want[0] == want[1]  # resized, orientation kept
    return True  # the style image's shape does not reach the output


def run_cli(entry: str, case, work: str, run_dir: str) -> dict:
    output = os.path.join(work, f"{entry}-{case.name}.png")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=benchmarking.REPO)
    start = time.perf_counter()
    done = subprocess.run(_command(entry, case.path, output, run_dir), capture_output=True, text=True, env=env,
                          cwd=work, timeout=600, check=False)
    seconds = time.perf_counter() - start
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    written = os.path.exists(output) or os.path.exists(output.replace(".png", ".json"))
    if done.returncode == 0 and written and _shape_ok(entry, case, output):
        outcome = "worked"
    elif done.returncode != 0 and len(errors) == 1 and "Traceback" not in done.stderr and not written:
        outcome = "refused"
    else:
        outcome = "failed"
    message = errors[0] if errors else done.stderr.strip().splitlines()[-1:] or [""]
    return {"entry": entry, "case": case.name, "outcome": outcome, "exit": done.returncode, "seconds": seconds,
            "message": (message if isinstance(message, str) else message[0])[:240]}


def serving_rows(cases, export_dir: str) -> list[dict]:
    import io

    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from tfstyle import export

    signature = tf.saved_model.load(export_dir).signatures[export.BYTES_SIGNATURE]
    rows, upright = [], None
    for case in cases:
        if not os.path.isfile(case.path):
            rows.append({"entry": "serving", "case": case.name, "outcome": "refused", "message": "not a file: "
                         "a client has no bytes to send"})
            continue
        with open(case.path, "rb") as file:
            data = file.read()
        try:
            result = signature(**{export.IMAGE_BYTES_KEY: tf.constant([data])})
            png = result[export.PNG_BYTES_KEY].numpy()[0]
            picture = np.asarray(Image.open(io.BytesIO(png)))
            shape = picture.shape[:2]
            want = None if case.expected is None else case.expected.shape[:2]
            outcome = "worked" if want is not None and tuple(shape) == tuple(want) else "failed"
            message = f"output {shape[0]} x {shape[1]}" + ("" if outcome == "worked" else f", expected {want}")
            if case.name == "exif_orientation_1_jpg":
                upright = picture
            elif case.name.startswith("exif_orientation_") and outcome == "worked" and upright is not None \
                    and picture.shape == upright.shape and np.abs(picture.astype(int) - upright).max() <= 2:
                # The file stores the same pixels as orientation 1 with another tag: an equal output means the
                # tag was ignored (the picture comes back mirrored or upside down).
                outcome, message = "failed", "EXIF orientation ignored: the same output as orientation 1"
        except (tf.errors.InvalidArgumentError, ValueError) as error:
            outcome = "refused"
            message = " ".join(str(error).split())[:240]
        rows.append({"entry": "serving", "case": case.name, "outcome": outcome, "message": message})
        print(f"{'serving':<17} {case.name:<26} {outcome:<8} {message[:90]}", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", default=",".join(ENTRIES))
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    entries = args.entries.split(",")
    machine = benchmarking.describe_machine()
    work = tempfile.mkdtemp(prefix="harden-")
    cases = image_corpus.write_corpus(os.path.join(work, "corpus"))
    run_dir = os.path.join(work, "run")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=benchmarking.REPO)
    subprocess.run([sys.executable, "-m", "tfstyle.cyclegan.import_torch", FIXTURE, "--model_dir", run_dir],
                   check=True, env=env, capture_output=True)
    rows = []
    for entry in entries:
        if entry == "serving":
            export = os.path.join(work, "export")
            subprocess.run([sys.executable, "-m", "tfstyle.cyclegan.export", "--model_dir", run_dir, "--export_dir",
                            export], check=True, env=env, capture_output=True)
            versions = sorted(os.listdir(export))
            rows += serving_rows(cases, os.path.join(export, versions[-1]))
            continue
        for case in cases:
            row = run_cli(entry, case, work, run_dir)
            rows.append(row)
            print(f"{entry:<17} {case.name:<26} {row['outcome']:<8} {row['message'][:90]}", flush=True)
    counts = {}
    for row in rows:
        bucket = counts.setdefault(row["entry"], {"tried": 0, "worked": 0, "refused": 0, "failed": 0})
        bucket["tried"] += 1
        key = row["outcome"] if row["outcome"] in ("worked", "refused", "failed") else "refused"
        bucket[key] += 1
    lines = [f"{'entry point':<18} {'tried':>5} {'worked':>7} {'refused':>8} {'failed':>7}"]
    lines += [f"{entry:<18} {c['tried']:>5} {c['worked']:>7} {c['refused']:>8} {c['failed']:>7}"
              for entry, c in counts.items()]
    table = "\n".join(lines)
    print("\n" + table)
    failed = [f"{r['entry']} {r['case']}: {r['message']}" for r in rows if r["outcome"] == "failed"]
    print("\nfailed:\n  " + "\n  ".join(failed) if failed else "\nno case failed")

    from tfstyle import files

    date = datetime.date.today().isoformat()
    output = args.output or os.path.join(benchmarking.RESULTS_DIR, f"harden_images_cpu_{date}.json")
    files.write_text(output, json.dumps({"date": date, "machine": machine, "cases": [c.name for c in cases],
                                         "rows": rows, "counts": counts, "table": table}, indent=2) + "\n")
    print(f"wrote {os.path.relpath(output, os.getcwd())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
