"""What oneDNN's custom CPU kernels are worth to a real command: the whole `python -m tfstyle.optimize` process
timed with TF_ENABLE_ONEDNN_OPTS=0 and =1.

    python experiments/bench_onednn.py                 # 3 runs each: 40 Adam iterations at 256 px
    python experiments/bench_onednn.py --quick         # smoke run: 1 run each, 2 iterations at 64 px
    python experiments/bench_onednn.py --resummarise experiments/results/onednn_cpu_<date>.json

Each run is the CLI exactly as a user starts it (`--optimizer adam --iterations 40 --image_size 256`, the
bundled content and style images, VGG19 with the offline ImageNet weights), so its wall time includes Python
and TensorFlow start-up, building the feature model and writing the PNG: the figure a user sees. One untimed
warm-up run first fills the file cache; then the settings alternate (off, on, off, on, ...) so slow drift
of the machine hits both alike. The table gives the median wall time and the median CPU time (the run's own
user + system time) of each setting and their ratios on/off (below 1: oneDNN is faster); the final loss of
each run shows the two settings reach the same result.

The CPU may be shared: for every run the script also counts the CPU time the rest of the machine used
meanwhile (busy time in /proc/stat minus the run's own user+system time). When that exceeds
`--noisy_cpu_fraction` of one core over the run, the run is marked noisy, and so is the report.

Results: a table on stdout and ``experiments/results/onednn_<device>_<date>.json`` with the machine's
description and every run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import benchmarking  # experiments/benchmarking.py, beside this script

REPO, RESULTS_DIR = benchmarking.REPO, benchmarking.RESULTS_DIR
SETTINGS = ("0", "1")  # TF_ENABLE_ONEDNN_OPTS: off, on
# The CLI's last progress line: "I stylize 40/40 size=256x256 loss=1.2e+05 ... 1.07 it/s".
_FINAL_LINE = re.compile(r"stylize (\d+)/(\d+) .*?loss=(\S+) .*?([\d.]+) it/s")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per setting")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="1 run each, 2 iterations at 64 px (smoke test)")
    parser.add_argument("--noisy_cpu_fraction", type=float, default=0.1,
                        help="mark a run noisy when other processes used more than this many cores on average")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--output", help="JSON path (default experiments/results/onednn_<device>_<date>.json)")
    parser.add_argument("--resummarise", metavar="JSON", help="only recompute the summary of a stored report")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.iterations, args.image_size = 1, 2, 64
    return args


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (all cores), from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as file:
            fields = [int(value) for value in file.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10])  # already counted in user / nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(onednn: str, args: argparse.Namespace, output: str) -> dict:
    """One whole `python -m tfstyle.optimize` process; its wall time, CPU time and the others' CPU time."""
    command = [sys.executable, "-m", "tfstyle.optimize", "--optimizer", "adam", "--iterations", str(args.iterations),
               "--image_size", str(args.image_size), "--output", output]
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn,
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    busy_before, own_before = busy_cpu_seconds(), children_cpu_seconds()
    start = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env, cwd=REPO,
                                   check=False)
    except subprocess.TimeoutExpired:
        return {"onednn": onednn, "error": f"timed out after {args.timeout:.0f} s"}
    wall = time.perf_counter() - start
    own = children_cpu_seconds() - own_before
    run = {"onednn": onednn, "wall_s": round(wall, 3), "cpu_s": round(own, 3)}
    if busy_before is not None:
        others = max(busy_cpu_seconds() - busy_before - own, 0.0)
        run["others_cpu_s"] = round(others, 3)
        run["noisy"] = others / wall > args.noisy_cpu_fraction
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        return {**run, "error": f"exit {completed.returncode}: {tail[0][:300]}"}
    finals = [_FINAL_LINE.search(line) for line in completed.stderr.splitlines()]
    finals = [match for match in finals if match and match[1] == match[2]]
    if finals:
        run["loss"] = float(finals[-1][3])
        run["reported_it_per_s"] = float(finals[-1][4])
    return run


def summarise(runs: list[dict]) -> dict:
    """Median wall and CPU time per setting and the ratios on/off (None where a setting has no good run).

    The run's own CPU time (user + system) moves less than its wall time when other processes share the
    cores, so its ratio is the steadier figure on a busy machine.
    """
    summary = {}
    for key in ("wall_s", "cpu_s"):
        medians = {}
        for onednn in SETTINGS:
            values = [run[key] for run in runs if run["onednn"] == onednn and "error" not in run]
            medians[onednn] = statistics.median(values) if values else None
        off, on = medians["0"], medians["1"]
        name = key.removesuffix("_s")
        summary[f"median_{name}_s_off"], summary[f"median_{name}_s_on"] = off, on
        summary[f"ratio_{name}_on_off"] = round(on / off, 3) if off and on else None
    summary["ratio_on_off"] = summary["ratio_wall_on_off"]
    summary["noisy_runs"] = sum(bool(run.get("noisy")) for run in runs)
    return summary


def format_table(runs: list[dict], summary: dict) -> str:
    lines = [f"{'oneDNN':<7} {'runs':>4} {'median wall s':>14} {'min':>7} {'max':>7} {'cpu s':>7} "
             f"{'others cpu s':>12} {'loss':>10}"]
    for onednn, name in zip(SETTINGS, ("off", "on"), strict=True):
        good = [run for run in runs if run["onednn"] == onednn and "error" not in run]
        if not good:
            lines.append(f"{name:<7} {0:>4} {'failed':>14}")
            continue
        walls = [run["wall_s"] for run in good]
        others = [run.get("others_cpu_s", float("nan")) for run in good]
        losses = [run.get("loss", float("nan")) for run in good]
        lines.append(f"{name:<7} {len(good):>4} {statistics.median(walls):>14.1f} {min(walls):>7.1f} "
                     f"{max(walls):>7.1f} {statistics.median(run['cpu_s'] for run in good):>7.1f} "
                     f"{statistics.median(others):>12.1f} {statistics.median(losses):>10.4g}")
    wall, cpu = summary["ratio_wall_on_off"], summary["ratio_cpu_on_off"]
    lines.append(f"ratio on/off: {wall:.3f} (median wall), {cpu:.3f} (median cpu)" if wall and cpu
                 else "ratio on/off: n/a")
    return "\n".join(lines)


def _git_commit() -> str | None:
    """The commit of the code timed, with "+dirty" when tfstyle/ has uncommitted changes; None outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO,
                                check=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "tfstyle"], capture_output=True, text=True,
                               cwd=REPO, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _conclusions(runs: list[dict], noisy_cpu_fraction: float) -> tuple[dict, str, str]:
    """(summary, table, note) of the runs."""
    summary = summarise(runs)
    note = (f"NOISY: other processes used more than {noisy_cpu_fraction:g} cores on average during "
            f"{summary['noisy_runs']} of {len(runs)} runs (the CPU was shared); treat the ratios as approximate, "
            "the CPU-time one as the steadier" if summary["noisy_runs"]
            else "quiet: no other process used a noticeable share of the CPU during the runs")
    return summary, format_table(runs, summary), note


def resummarise(path: str) -> int:
    """Recomputes the summary, table and note of a stored report from its runs (after a change to them here)."""
    from tfstyle import files

    with open(path) as file:
        report = json.load(file)
    summary, table, note = _conclusions(report["runs"], report["settings"]["noisy_cpu_fraction"])
    report.update(summary=summary, cpu_shared=summary["noisy_runs"] > 0, note=note, table=table)
    files.write_text(path, json.dumps(report, indent=2) + "\n")
    print(table)
    print(note)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.resummarise:
        return resummarise(args.resummarise)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # tfstyle.cli before describe_machine imports TensorFlow: no start-up notices above the table.
    from tfstyle import cli, files  # noqa: F401

    machine = benchmarking.describe_machine()
    print(f"device: {machine['cpu_model']} ({machine['cpu_cores']} cores), TF {machine['tensorflow']}, "
          f"Keras {machine['keras']}")
    print(f"python -m tfstyle.optimize --optimizer adam --iterations {args.iterations} --image_size "
          f"{args.image_size}: whole process, {args.runs} runs per setting, interleaved, after 1 warm-up run",
          flush=True)
    runs, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_onednn-") as scratch:
        output = os.path.join(scratch, "stylized.png")
        warmup = run_once("1", args, output)
        print(f"  warm-up: {warmup.get('error') or format(warmup['wall_s'], '.1f') + ' s'}", flush=True)
        for index in range(args.runs if "error" not in warmup else 0):
            for onednn in SETTINGS:
                run = run_once(onednn, args, output)
                run["index"] = index
                runs.append(run)
                outcome = run.get("error") or f"{run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s cpu"
                noisy = f", others used {run['others_cpu_s']:.1f} cpu s" if run.get("others_cpu_s") else ""
                print(f"  run {index + 1} oneDNN={'on' if onednn == '1' else 'off'}: {outcome}{noisy}", flush=True)
            if any("error" in run for run in runs):
                break  # a broken command: the figures would not be comparable, stop here
    summary, table, note = _conclusions(runs, args.noisy_cpu_fraction)
    print()
    print(table)
    print(note)

    date = datetime.date.today().isoformat()
    tag = benchmarking.device_tag(machine)
    output = args.output or os.path.join(RESULTS_DIR, f"onednn_{tag}_{date}{'_quick' if args.quick else ''}.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    report = {
        "benchmark": "bench_onednn",
        "date": date,
        "commit": _git_commit(),
        "machine": machine,
        "command": f"python -m tfstyle.optimize --optimizer adam --iterations {args.iterations} "
                   f"--image_size {args.image_size} --output <tmp>.png",
        "settings": {"runs": args.runs, "iterations": args.iterations, "image_size": args.image_size,
                     "warmup_runs": 1, "order": "interleaved off, on", "quick": args.quick,
                     "noisy_cpu_fraction": args.noisy_cpu_fraction},
        "summary": summary,
        "cpu_shared": summary["noisy_runs"] > 0,
        "note": note,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "warmup": warmup,
        "runs": runs,
        "table": table,
    }
    files.write_text(output, json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(output, os.getcwd())}")
    return 1 if "error" in warmup or any("error" in run for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
