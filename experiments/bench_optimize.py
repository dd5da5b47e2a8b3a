"""Benchmark of the optimisation path: time per iteration, throughput, peak memory and loss reached.

    python experiments/bench_optimize.py                  # 256 and 512 px (and 1024 with a GPU)
    python experiments/bench_optimize.py --quick          # smoke run, 64 px, a few iterations
    python experiments/bench_optimize.py --sizes 1024 --methods adam,lbfgs --iterations 2 --warmup 1
    python experiments/bench_optimize.py --sizes 32 --methods adam --xla off --weights random  # smoke test

Rows, for every size (square images: the bundled astronaut photo in the bundled Starry Night's style,
VGG19 with the real weights unless --weights says otherwise, the default `OptimizeConfig` objective
and layers, one stage):

* ``adam`` / ``lbfgs``: what `stylize()` runs, XLA off and on: `tfstyle.optimize.transfer.Stylizer`
  builds the targets and the compiled chunk over `strategy.run` (`begin_stage`), and each timed
  iteration is one `StageRun.run(1)` call, the very function `stylize()` calls between progress reports;
* ``floor``: a bare `tf.GradientTape` step over the same feature model and the same precomputed
  targets in one `tf.function`, with the Adam update written inline: the least any Adam loop can cost;
* ``recompute``: a `tf.Variable` image with `keras`' Adam whose step recomputes the content and
  style targets from the images every time (a common pattern, and what precomputing them saves; not
  the TensorFlow tutorial, which computes its targets once);
* ``scipy``: `scipy.optimize.minimize(method="L-BFGS-B")` with the [0, 1] box, driving the same
  loss+gradient `tf.function`; every evaluation goes device -> host (float64) -> device.

Every row runs in its own subprocess, so its peak memory is its own: peak RSS (VmHWM of
/proc/self/status) on CPU, `tf.config.experimental.get_memory_info` on GPU. A row takes `warmup`
untimed iterations, then `iterations` timed ones, all from the content image; "ms/it" is the median
time of the timed iterations, "loss" the total loss of the clipped image after all of them divided
by the loss at the start (same objective and the same iteration count for every row).

FLOPs are counted from the layer shapes: the 3x3 convolutions of VGG19 up to the deepest layer used
(block5_conv1), 2 FLOPs per multiply-add, pooling, Gram matrices and the losses left out. One
loss+gradient evaluation costs forward + backward = 2x forward here, not the usual 3x: the weights are
frozen, so the backward pass computes only each convolution's input gradient (about one forward),
never its weight gradient. An L-BFGS iteration costs (evaluations per iteration) evaluations; a
recompute step adds two forward passes (content and style targets).

Results: a table on stdout and ``experiments/results/bench_optimize_<device>_<date>.json`` with the
machine's description.
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
CONTENT_IMAGE = os.path.join(REPO, "tfstyle", "assets", "astronaut.jpg")  # the bundled sample pair
STYLE_IMAGE = os.path.join(REPO, "tfstyle", "assets", "vangogh_starry_night.jpg")

# (method, jit) in table order; the references and scipy run with XLA off only.
ROWS = (("adam", False), ("adam", True), ("lbfgs", False), ("lbfgs", True),
        ("floor", False), ("recompute", False), ("scipy", False))
METHODS = ("adam", "lbfgs", "floor", "recompute", "scipy")
STYLIZE_METHODS = ("adam", "lbfgs")  # the rows that run stylize()'s own code, with XLA off and on


# ---------------------------------------------------------------------------------------------
# Machine description and analytic FLOPs (parent process; no TensorFlow needed for these)
# ---------------------------------------------------------------------------------------------






def vgg_forward_flops(height: int, width: int, deepest: str = "block5_conv1") -> int:
    """FLOPs of one VGG19 forward pass on a [1, height, width, 3] image up to `deepest`, convs only.

    Each 3x3 'same' convolution costs 2 * h * w * 9 * C_in * C_out (multiply + add); each 2x2 pool
    halves the sides (floor) between blocks.
    """
    convs_per_block, filters_per_block = (2, 2, 4, 4, 4), (64, 128, 256, 512, 512)
    flops, channels, h, w = 0, 3, height, width
    for block, (count, filters) in enumerate(zip(convs_per_block, filters_per_block, strict=True), start=1):
        for index in range(1, count + 1):
            flops += 2 * h * w * 9 * channels * filters
            channels = filters
            if f"block{block}_conv{index}" == deepest:
                return flops
        h, w = h // 2, w // 2
    return flops






# ---------------------------------------------------------------------------------------------
# One row (child process)
# ---------------------------------------------------------------------------------------------


def _problem(spec: dict):
    """The problem `stylize()` would set up for this row: (stylizer, content [1, size, size, 3] in [0, 1],
    the style image as the stage sees it, and the stage's loss function on one device).

    The config is `OptimizeConfig()` with the row's solver, XLA setting and weights, one stage, on one
    device (`one_device`: the first GPU, else the CPU).
    """
    import numpy as np

    from tfstyle import images
    from tfstyle.optimize import transfer
    from tfstyle.optimize.config import OptimizeConfig

    size = spec["size"]
    optimizer = spec["method"] if spec["method"] in STYLIZE_METHODS else "adam"
    requested = OptimizeConfig(image_size=size, iterations=spec["warmup"] + spec["iterations"], scales=1,
                               optimizer=optimizer, jit=spec["jit"], weights=spec.get("weights", "auto"),
                               strategy="one_device")
    config, strategy = transfer.resolve(requested, 1)
    style = images.load_image(STYLE_IMAGE)
    stylizer = transfer.Stylizer([style], config, strategy)
    content = np.asarray(images.resize(images.load_image(CONTENT_IMAGE), (size, size)))[None]
    (style_batch,) = stylizer.style_images(content[0], size)
    loss_fn = stylizer.loss_function(content, size)
    return stylizer, content, style_batch, loss_fn


def _stylize_row(stylizer, content, total: int):
    """stylize()'s own stage: (seconds per iteration, evaluations per iteration, final images)."""
    stage = stylizer.begin_stage(content, content.shape[2], content)  # init "content", as stylize() starts
    times, evaluations = [], [stage.evaluations]
    for _ in range(total):
        start = time.perf_counter()
        stage.run(1)  # returns the loss as a float: waits for the device
        times.append(time.perf_counter() - start)
        evaluations.append(stage.evaluations)
    per_iteration = [b - a for a, b in zip(evaluations, evaluations[1:], strict=False)]
    return times, per_iteration, stage.images()


def _floor_row(loss_fn, x0, total: int, jit: bool, learning_rate: float):
    """Bare GradientTape step in one tf.function, the Adam update inline (Kingma & Ba, alg. 1)."""
    import tensorflow as tf

    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7

    @tf.function(jit_compile=jit)
    def step(x, m, v, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss, _ = loss_fn(x)
        grad = tape.gradient(loss, x)
        m = beta_1 * m + (1.0 - beta_1) * grad
        v = beta_2 * v + (1.0 - beta_2) * tf.square(grad)
        alpha = learning_rate * tf.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
        x = tf.clip_by_value(x - alpha * m / (tf.sqrt(v) + epsilon), 0.0, 1.0)
        return x, m, v, loss

    x, m, v = x0, tf.zeros_like(x0), tf.zeros_like(x0)
    times = []
    for t in range(1, total + 1):
        start = time.perf_counter()
        x, m, v, loss = step(x, m, v, tf.constant(float(t)))
        float(loss)
        times.append(time.perf_counter() - start)
    return times, [1] * total, x


def _recompute_row(stylizer, content, style, total: int, learning_rate: float):
    """tf.Variable image, keras Adam, and the content/style targets recomputed inside each step."""
    import keras
    import tensorflow as tf

    from tfstyle import losses

    config, extractor = stylizer.config, stylizer.extractor
    content_layers, style_layers = config.resolved_content_layers, config.resolved_style_layers
    layer_weights = stylizer.style_layer_weights
    image = tf.Variable(content)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def train_step():
        content_targets = extractor(content, training=False)  # recomputed every step
        style_outputs = extractor(style, training=False)
        style_targets = {layer: losses.gram_matrix(style_outputs[layer]) for layer in style_layers}
        with tf.GradientTape() as tape:
            outputs = extractor(image, training=False)
            content_loss = tf.add_n([losses.content_loss(outputs[layer], content_targets[layer])
                                     for layer in content_layers]) / len(content_layers)
            style_loss = tf.add_n([layer_weights[layer] * losses.style_loss(outputs[layer], style_targets[layer])
                                   for layer in style_layers])
            loss = (config.content_weight * content_loss + config.style_weight * style_loss
                    + config.tv_weight * losses.total_variation_loss(image))
        grad = tape.gradient(loss, image)
        optimizer.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return loss

    times = []
    for _ in range(total):
        start = time.perf_counter()
        float(train_step())
        times.append(time.perf_counter() - start)
    return times, [1] * total, tf.convert_to_tensor(image)


def _scipy_row(loss_fn, x0, total: int, history_size: int):
    """scipy L-BFGS-B on the [0, 1] box; per-iteration times from the callback's timestamps."""
    import numpy as np
    import scipy.optimize
    import tensorflow as tf

    from tfstyle.optimize import solvers

    @tf.function
    def value_and_grad(x):
        loss, _, grad = solvers._evaluate(loss_fn, x)
        return loss, grad

    shape = x0.shape
    evaluations = [0]

    def fun(flat):
        evaluations[0] += 1
        loss, grad = value_and_grad(tf.constant(flat.reshape(shape), tf.float32))
        return float(loss), grad.numpy().ravel().astype(np.float64)

    stamps, evaluations_at = [time.perf_counter()], [0]

    def callback(*_):
        stamps.append(time.perf_counter())
        evaluations_at.append(evaluations[0])

    result = scipy.optimize.minimize(
        fun, np.asarray(x0, np.float64).ravel(), jac=True, method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(0.0, 1.0), callback=callback,
        options={"maxiter": total, "maxfun": 100 * total, "maxcor": history_size, "ftol": 0.0, "gtol": 0.0})
    times = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # The first interval also holds the evaluation at x0 and the tracing: a warm-up iteration drops it.
    per_iteration = [b - a for a, b in zip(evaluations_at, evaluations_at[1:], strict=False)]
    return times, per_iteration, tf.constant(result.x.reshape(shape), tf.float32), result.message


def run_row(spec: dict) -> dict:
    """Runs one benchmark row in this process and returns its measurements."""
    import tensorflow as tf

    baseline_rss = benchmarking.status_bytes("VmRSS:")
    gpus = tf.config.list_logical_devices("GPU")
    stylizer, content, style, loss_fn = _problem(spec)
    config = stylizer.config
    loss_eval = tf.function(lambda x: loss_fn(x)[0])
    start_loss = float(loss_eval(content))
    total = spec["warmup"] + spec["iterations"]
    method, jit, note = spec["method"], spec["jit"], ""
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    if method in STYLIZE_METHODS:
        times, evaluations, x = _stylize_row(stylizer, content, total)
    elif method == "floor":
        times, evaluations, x = _floor_row(loss_fn, content, total, jit, config.learning_rate)
    elif method == "recompute":
        times, evaluations, x = _recompute_row(stylizer, content, style, total, config.learning_rate)
    elif method == "scipy":
        times, evaluations, x, note = _scipy_row(loss_fn, content, total, config.lbfgs_history)
    else:
        raise ValueError(f"unknown method {method!r}")
    final_loss = float(loss_eval(tf.clip_by_value(x, 0.0, 1.0)))
    timed = times[spec["warmup"]:] or times
    timed_evaluations = evaluations[spec["warmup"]:] or evaluations
    seconds = statistics.median(timed)
    evaluations_per_iteration = sum(timed_evaluations) / len(timed_evaluations)
    forward = vgg_forward_flops(spec["size"], spec["size"])
    flops = evaluations_per_iteration * 2 * forward + (2 * forward if method == "recompute" else 0)
    row = {
        **spec,
        "iterations_done": len(times),
        "ms_per_iteration": 1e3 * seconds,
        "ms_per_iteration_all": [1e3 * t for t in times],
        "evaluations_per_iteration": evaluations_per_iteration,
        "gflop_per_iteration": flops / 1e9,
        "gflops": flops / seconds / 1e9,
        "start_loss": start_loss,
        "final_loss": final_loss,
        "relative_loss": final_loss / start_loss,
        "baseline_rss_bytes": baseline_rss,
        "peak_rss_bytes": benchmarking.status_bytes("VmHWM:"),
        "note": str(note),
    }
    if gpus:
        row["gpu_peak_bytes"] = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return row


# ---------------------------------------------------------------------------------------------
# Parent: one subprocess per row, the table and the JSON
# ---------------------------------------------------------------------------------------------




def _gib(value) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


def format_table(rows: list[dict], gpu: bool) -> str:
    memory = "GPU peak GiB" if gpu else "peak RSS GiB"
    header = (f"{'size':>5} {'method':<9} {'xla':<3} {'ms/it':>9} {'evals/it':>8} {'GFLOP/s':>8} "
              f"{memory:>12} {'loss/start':>10}")
    lines = [header, "-" * len(header)]
    for row in rows:
        name = f"{row['size']:>5} {row['method']:<9} {'on' if row['jit'] else 'off':<3}"
        if "error" in row:
            lines.append(f"{name} error: {row['error']}")
            continue
        peak = row.get("gpu_peak_bytes") if gpu else row["peak_rss_bytes"]
        lines.append(f"{name} {row['ms_per_iteration']:>9.1f} {row['evaluations_per_iteration']:>8.2f} "
                     f"{row['gflops']:>8.1f} {_gib(peak):>12} {row['relative_loss']:>10.4f}")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=None, help="comma-separated square sizes in px "
                        "(default 256,512, plus 1024 with a GPU; --quick: 64)")
    parser.add_argument("--iterations", type=int, default=None, help="timed iterations per row (default 10)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed iterations first (default 2)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    parser.add_argument("--xla", default="off,on", help="off, on or off,on (the adam / lbfgs rows only)")
    parser.add_argument("--weights", default="auto", help="VGG weights (OptimizeConfig.weights): auto (the real "
                        "ImageNet weights), random (smoke tests: same cost, meaningless loss), or a path")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, 3 iterations, 1 warm-up")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per row")
    parser.add_argument("--output", default=None, help="JSON path (default experiments/results/...)")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row, print its JSON
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or "64"
        args.iterations = args.iterations or 3
        args.warmup = 1 if args.warmup is None else args.warmup
    args.iterations = args.iterations or 10
    args.warmup = 2 if args.warmup is None else args.warmup
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be >= 1 and --warmup >= 0")
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"unknown --methods {', '.join(sorted(unknown))}: use {', '.join(METHODS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.row:
        benchmarking.print_row(run_row(json.loads(args.row)))
        return 0

    machine = benchmarking.describe_machine()
    gpu = bool(machine["gpus"])
    sizes = [int(s) for s in (args.sizes or ("256,512,1024" if gpu else "256,512")).split(",")]
    xla = {"off": [False], "on": [True], "off,on": [False, True], "on,off": [False, True]}[args.xla]
    methods = args.methods.split(",")
    specs = [{"size": size, "method": method, "jit": jit, "warmup": args.warmup,
              "iterations": args.iterations}
             for size in sizes for method, jit in ROWS
             if method in methods and (jit in xla or method not in STYLIZE_METHODS)]
    for spec in specs:
        spec["weights"] = args.weights
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_cores']} cores, "
          f"{_gib(machine['ram_bytes'])} GiB RAM), TF {machine['tensorflow']}, Keras {machine['keras']}")
    print(f"{len(specs)} rows, {args.warmup} warm-up + {args.iterations} timed iterations each; "
          f"loss/start after {args.warmup + args.iterations} iterations", flush=True)
    rows, started = [], time.perf_counter()
    for spec in specs:
        row_start = time.perf_counter()
        row = benchmarking.spawn_row(__file__, spec, args.timeout)
        rows.append(row)
        outcome = row["error"] if "error" in row else f"{row['ms_per_iteration']:.1f} ms/it"
        print(f"  {spec['size']} px {spec['method']} xla={'on' if spec['jit'] else 'off'}: {outcome} "
              f"({time.perf_counter() - row_start:.0f} s)", flush=True)
    table = format_table(rows, gpu)
    print()
    print(table)
    print("\nGFLOP/s: VGG19 3x3 convs up to block5_conv1, forward + backward = 2x forward per evaluation "
          "(frozen weights: no weight gradients); loss/start: total loss of the clipped image relative "
          "to the content start.")

    from tfstyle import files

    date = datetime.date.today().isoformat()
    output = args.output or os.path.join(RESULTS_DIR, f"bench_optimize_{benchmarking.device_tag(machine)}_{date}.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    report = {
        "benchmark": "bench_optimize",
        "date": date,
        "machine": machine,
        "settings": {"sizes": sizes, "warmup": args.warmup, "iterations": args.iterations, "methods": methods,
                     "xla": args.xla, "quick": args.quick, "weights": args.weights},
        "flops_note": "3x3 convs of VGG19 up to block5_conv1, 2 FLOPs per multiply-add; per evaluation "
                      "2x forward (input gradients only); recompute steps add 2 forwards",
        "wall_seconds": time.perf_counter() - started,
        "rows": rows,
        "table": table,
    }
    files.write_text(output, json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(output, os.getcwd())}")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
