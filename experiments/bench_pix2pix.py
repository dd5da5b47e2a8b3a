"""Benchmark of the pix2pix training step against the TensorFlow tutorial's recipe, in one run.

    python experiments/bench_pix2pix.py                    # 256 px, batch 1, 3 rows x 2 repeats: ~10 min on 2 cores
    python experiments/bench_pix2pix.py --precisions none  # float32 only

Rows (each in its own process, `benchmarking.spawn_row`, so a row's peak memory is its own):

* ``tfstyle``: the step `python -m tfstyle.pix2pix.train` runs (`pix2pix.trainer.build_training`: unet_256
  with ngf 64 and dropout, the conditional 70x70 PatchGAN, batch norm, vanilla GAN + 100 L1, two Adams on the
  linear-decay schedule, D then G) under each mixed-precision policy asked for (none, bf16);
* ``tutorial``: `experiments/pix2pix_tutorial.py`, the tutorial's models and `train_step` as it writes
  them (float32, one forward pass for both tapes).

Both are fed random [-1, 1] 256 x 256 pairs from a `tf.data` pipeline (batch 1) and wait for their losses
every step. Timing as `bench_cyclegan`: `warmup` untimed steps (the first traces), then up to `steps` timed
ones within `row_budget` seconds; ms/step is the median. Every row runs `--repeats` times, interleaved
(tutorial, tfstyle, tfstyle bf16, tutorial, ...), because a shared CPU drifts by 20 % within minutes; the ratio
is of the medians over the repeats. The parameter counts printed are trainable ones
(BatchNorm's statistics left out), the figures the tutorial and the reference print.

Results: a table and ``experiments/results/bench_pix2pix_<device>_<date>.json`` with the machine (CPU model
and the flags that decide bf16 speed: avx512_bf16, amx_bf16).
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
from bench_cyclegan import _time_calls  # the same warm-up / budgeted timing loop

SIZE = 256


def _pairs(batch: int):
    import tensorflow as tf

    x = tf.random.stateless_uniform([4, SIZE, SIZE, 3], seed=[1, 2], minval=-1.0, maxval=1.0)
    y = tf.random.stateless_uniform([4, SIZE, SIZE, 3], seed=[3, 4], minval=-1.0, maxval=1.0)
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch, drop_remainder=True).prefetch(2)


def _trainable(model) -> int:
    return int(sum(int(v.shape.num_elements()) for v in model.trainable_variables))


def run_row(spec: dict) -> dict:
    import keras

    from tfstyle import distribute

    keras.utils.set_random_seed(0)
    if spec["peer"] == "tfstyle":
        from tfstyle.pix2pix import config as config_lib
        from tfstyle.pix2pix import trainer

        config = config_lib.Pix2PixConfig(mixed_precision=spec["precision"], batch_size=spec["batch"],
                                          image_size=SIZE, strategy="auto")
        strategy = distribute.make_strategy(config.strategy)
        built = trainer.build_training(config, strategy, steps_per_epoch=1000)
        iterator = iter(strategy.experimental_distribute_dataset(_pairs(spec["batch"])))
        generator, discriminator = built.state.models["generator_ab"], built.state.models["discriminator_b"]

        def step():
            return built.train_step(next(iterator))
    else:
        import pix2pix_tutorial

        recipe = pix2pix_tutorial.Recipe()
        iterator = iter(_pairs(spec["batch"]))
        generator, discriminator = recipe.generator, recipe.discriminator

        def step():
            x, y = next(iterator)
            return recipe.train_step(x, y)

    last = {}

    def call():
        last.update({name: float(value) for name, value in step().items()})  # waits for the step

    warm, timed = _time_calls(call, spec["warmup"], spec["steps"], spec["row_budget"])
    return {**spec, "g_params_trainable": _trainable(generator), "d_params_trainable": _trainable(discriminator),
            "first_call_s": warm[0] if warm else None, "steps_timed": len(timed),
            "ms_per_step": 1e3 * statistics.median(timed), "ms_per_step_all": [1e3 * t for t in warm + timed],
            "losses_finite": all(v == v and abs(v) != float("inf") for v in last.values()),
            "peak_rss_bytes": benchmarking.status_bytes("VmHWM:")}


def cpu_flags() -> list[str]:
    flags = (benchmarking.read_proc("/proc/cpuinfo", "flags") or "").split()
    return [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--precisions", default="none,bf16", help="tfstyle rows: none, bf16 (comma-separated)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--row_budget", type=float, default=60.0, help="seconds of timed steps per row")
    parser.add_argument("--repeats", type=int, default=2,
                        help="run every row this many times, interleaved (the machine is noisy); ratios use "
                             "the median over the repeats")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    if args.row:
        benchmarking.print_row(run_row(json.loads(args.row)))
        return 0

    machine = benchmarking.describe_machine()
    machine["cpu_flags"] = cpu_flags()
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_cores']} cores, "
          f"flags {' '.join(machine['cpu_flags'])}), TF {machine['tensorflow']}", flush=True)
    common = {"batch": args.batch, "warmup": args.warmup, "steps": args.steps, "row_budget": args.row_budget}
    specs = [{"peer": "tutorial", "precision": "none", **common}] + [
        {"peer": "tfstyle", "precision": precision, **common} for precision in args.precisions.split(",")]
    specs = [dict(spec, repeat=repeat) for repeat in range(args.repeats) for spec in specs]
    rows, started = [], time.perf_counter()
    for spec in specs:
        row = benchmarking.spawn_row(__file__, spec, args.timeout)
        rows.append(row)
        print(f"  {row['peer']} {row['precision']}: "
              + (f"error: {row['error']}" if "error" in row else f"{row['ms_per_step']:.0f} ms/step"), flush=True)

    medians = {}
    for row in rows:
        if "error" not in row:
            medians.setdefault((row["peer"], row["precision"]), []).append(row["ms_per_step"])
    medians = {key: statistics.median(values) for key, values in medians.items()}
    tutorial = medians.get(("tutorial", "none"))
    lines = [f"{'row':<22} {'ms/step (each repeat)':>24} {'median':>7} {'vs tutorial':>12} {'G params':>11} "
             f"{'D params':>10} {'peak MiB':>9}"]
    for (peer, precision), median in medians.items():
        group = [r for r in rows if (r["peer"], r["precision"]) == (peer, precision) and "error" not in r]
        each = " ".join(f"{r['ms_per_step']:.0f}" for r in group)
        ratio = f"{median / tutorial:.2f}x" if tutorial else "-"
        lines.append(f"{peer + ' ' + precision:<22} {each:>24} {median:>7.0f} {ratio:>12} "
                     f"{group[0]['g_params_trainable']:>11,} {group[0]['d_params_trainable']:>10,} "
                     f"{max(r['peak_rss_bytes'] for r in group) / 2**20:>9.0f}")
    lines += [f"{row['peer']} {row['precision']}: error: {row['error']}" for row in rows if "error" in row]
    table = "\n".join(lines)
    print("\n" + table)

    from tfstyle import files

    date = datetime.date.today().isoformat()
    output = args.output or os.path.join(benchmarking.RESULTS_DIR,
                                         f"bench_pix2pix_{benchmarking.device_tag(machine)}_{date}.json")
    report = {"benchmark": "bench_pix2pix", "date": date, "machine": machine, "image_size": SIZE,
              "settings": {**common, "precisions": args.precisions, "repeats": args.repeats},
              "wall_seconds": time.perf_counter() - started,
              "rows": rows, "table": table}
    files.write_text(output, json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(output, os.getcwd())}")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
