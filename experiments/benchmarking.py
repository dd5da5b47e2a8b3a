"""What every benchmark script in experiments/ shares: the machine's description, memory readings
and running each row in its own process (so a row's peak memory is its own).

A script calls `spawn_row(__file__, spec, timeout)` in the parent; the child is the same script
run with `--row <json>`, which prints `print_row(result)` as its last line.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "experiments", "results")
ROW_MARKER = "BENCH_ROW_RESULT "


def read_proc(path: str, key: str) -> str | None:
    """The value of the first `key: value` line of a /proc file, or None (off Linux)."""
    try:
        with open(path) as file:
            for line in file:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def status_bytes(key: str) -> int | None:
    """A kB field of /proc/self/status ("VmRSS:", "VmHWM:") in bytes; None off Linux."""
    value = read_proc("/proc/self/status", key)
    return int(value.split()[0]) * 1024 if value else None


def describe_machine() -> dict:
    """CPU model, cores, RAM, GPU names, TensorFlow / Keras / Python versions."""
    import keras
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(details.get("device_name", device.name))
    mem_total = read_proc("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": read_proc("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cpu_cores": os.cpu_count(),
        "ram_bytes": int(mem_total.split()[0]) * 1024 if mem_total else None,
        "gpus": gpus,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def device_tag(machine: dict) -> str:
    """"cpu", or "gpu-<name>" from the first GPU's name (file-name safe)."""
    if not machine["gpus"]:
        return "cpu"
    return "gpu-" + re.sub(r"[^a-z0-9]+", "-", machine["gpus"][0].lower()).strip("-")


def print_row(result: dict) -> None:
    """The child's last line: the row's result for `spawn_row` to read."""
    print(ROW_MARKER + json.dumps(result), flush=True)


def spawn_row(script: str, spec: dict, timeout: float) -> dict:
    """Runs `script --row <spec>` in a fresh Python process; its result, or `spec` with an "error"."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    try:
        completed = subprocess.run([sys.executable, os.path.abspath(script), "--row", json.dumps(spec)],
                                   capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout:.0f} s"}
    for line in completed.stdout.splitlines()[::-1]:
        if line.startswith(ROW_MARKER):
            return json.loads(line[len(ROW_MARKER):])
    tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
    return {**spec, "error": f"exit {completed.returncode}: {tail[0][:300]}"}


def parse_variant(text: str) -> tuple[str, dict]:
    """"name" or "name=field:value,field:value" -> (name, config overrides); values parsed as JSON where they can
    be ("1e-3" -> 0.001, "true" -> True), else kept as strings."""
    name, _, rest = text.partition("=")
    overrides = {}
    for item in filter(None, rest.split(",")):
        field, sep, value = item.partition(":")
        if not sep:
            raise ValueError(f"variant {text!r}: write field:value, got {item!r}")
        try:
            overrides[field] = json.loads(value)
        except json.JSONDecodeError:
            overrides[field] = value
    return name, overrides
