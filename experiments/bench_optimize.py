"""Benchmark of the optimisation path: time per iteration, throughput, peak memory and loss reached.

    python experiments/bench_optimize.py                  # 256 and 512 px (and 1024 with a GPU)
    python experiments/bench_optimize.py --quick          # smoke run, 64 px, a few iterations
    python experiments/bench_optimize.py --sizes 1024 --methods adam,lbfgs --iterations 2 --warmup 1
    python experiments/bench_optimize.py --sizes 32 --methods adam --xla off --weights random  # smoke test
    python experiments/bench_optimize.py --sizes 256 --methods adam,lbfgs --xla off --precision float32,bf16

Rows, for every size (square images: the bundled astronaut photo in the bundled Starry Night's style,
VGG19 with the real weights unless --weights says otherwise, the default `OptimizeConfig` objective
and layers, one stage):

* ``adam`` / ``lbfgs``: what `stylize()` runs, XLA off and on: `tfstyle.optimize.transfer.Stylizer`
  builds the targets and the compiled chunk over `strategy.run` (`begin_stage`), and each timed
  iteration is one `StageRun.run(1)` call, the very function `stylize()` calls between progress reports;
  `--precision float32,bf16` runs each of them with `OptimizeConfig.precision` float32 and bf16 (the
  other rows are float32);
* ``floor``: a bare `tf.GradientTape` step over the same feature model and the same precomputed
  targets in one `tf.function`, with the Adam update written inline: the least any Adam loop can cost;
* ``recompute``: a `tf.Variable` image with `keras`' Adam whose step recomputes the content and
  style targets from the images every time (a common pattern, and what precomputing them saves; not
  the TensorFlow tutorial, which computes its targets once);
* ``scipy``: `scipy.optimize.minimize(method="L-BFGS-B")` with the [0, 1] box, driving the same
  loss+gradient `tf.function`; every evaluation goes device -> host (float64) -> device.
* ``masked``: stylize()'s L-BFGS with spatial control (`--style_masks`): the painting twice, one per half of
  the image (soft-edged masks), so the guided Gram loss of two regions runs where ``lbfgs`` runs one
  plain Gram loss; its ms/it over the ``lbfgs`` row's (XLA off, same precision) is the cost of masks;
* ``tiled`` (``--tiled SIZE``): a whole `stylize()` run at a SIZE px long side larger than memory allows in one
  step (4096 on a 24 GiB CPU machine), on a landscape photo of `../shared` (the bundled astronaut without it),
  `OptimizeConfig(image_size=SIZE, iterations=--tiled_iterations)` otherwise default: the stages that do not fit
  have their VGG passes done window by window (`tfstyle.optimize.tiling`). It reports wall time, seconds per
  iteration of each stage, peak RSS, the windows and the untiled step's memory estimate, and the seam check of
  the tests (mean gradient across the cuts between cores over the mean gradient everywhere);
* ``recipe``: the peer anyone can copy, the TensorFlow style-transfer tutorial's recipe written the way
  the tutorial writes it (`recipe.py`, beside this script: Keras VGG19 with max pooling, its layers and
  weights, targets computed once, its Adam step and clipping), sharing nothing with tfstyle but the image
  files, the weights file and the image sizes. Its loss/start is on its own objective (it optimises
  another one); its FLOPs go to block5_conv2.

The ``lbfgs`` row with XLA off (stylize()'s defaults) and the ``recipe`` row also give a start-up
figure: wall seconds from the row's process start (the parent's clock just before it spawns the
child: interpreter, imports, weights, model build, targets, tracing) to the end of the first
iteration, printed below the table and stored as "startup". tfstyle's rows import TensorFlow as its CLIs
do (`tfstyle.tf_startup`: matplotlib kept out of that import); the recipe's as the tutorial does.

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
TILED_CONTENT = os.path.join(os.path.dirname(REPO), "shared", "data", "content", "china_summer_palace.jpg")

# (method, jit) in table order; the references and scipy run with XLA off only.
ROWS = (("adam", False), ("adam", True), ("lbfgs", False), ("lbfgs", True), ("masked", False),
        ("floor", False), ("recompute", False), ("scipy", False), ("recipe", False))
METHODS = ("adam", "lbfgs", "masked", "floor", "recompute", "scipy", "recipe")
STYLIZE_METHODS = ("adam", "lbfgs")  # the rows that run stylize()'s own code, with XLA off and on
RUN_ITERATIONS = 100  # the whole-run comparison of the start-up table: the same iterations for both
STARTUP_ROW = ("lbfgs", False)  # stylize()'s default path (OptimizeConfig's optimizer and jit), against the recipe


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
    """The problem `stylize()` would set up for this row: (stylizer, content [1, size, size, 3] in [0, 1]).

    The config is `OptimizeConfig()` with the row's solver, XLA setting and weights, one stage, on one
    device (`one_device`: the first GPU, else the CPU).
    """
    import numpy as np

    from tfstyle import images
    from tfstyle.optimize import transfer
    from tfstyle.optimize.config import OptimizeConfig

    size = spec["size"]
    masked = spec["method"] == "masked"
    optimizer = "lbfgs" if masked else spec["method"] if spec["method"] in STYLIZE_METHODS else "adam"
    requested = OptimizeConfig(image_size=size, iterations=spec["warmup"] + spec["iterations"], scales=1,
                               optimizer=optimizer, jit=spec["jit"], weights=spec.get("weights", "auto"),
                               strategy="one_device", precision=spec.get("precision", "float32"))
    config, strategy = transfer.resolve(requested, 1)
    style = images.load_image(STYLE_IMAGE)
    if masked:  # the left and right halves, each with a soft 16 px edge
        left = np.clip((size / 2 + 8 - np.arange(size)) / 16, 0, 1)[None, :].repeat(size, 0).astype(np.float32)
        stylizer = transfer.Stylizer([style, style], config, strategy, style_masks=[left, 1 - left])
    else:
        stylizer = transfer.Stylizer([style], config, strategy)
    content = np.asarray(images.resize(images.load_image(CONTENT_IMAGE), (size, size)))[None]
    return stylizer, content


def _tiled_row(spec: dict) -> dict:
    """One whole stylize() run at spec["size"] px, the finest stages tile by tile (see the module docstring)."""
    import numpy as np

    from tfstyle import distribute
    from tfstyle.optimize import multiscale, tiling, transfer
    from tfstyle.optimize.config import OptimizeConfig

    content = TILED_CONTENT if os.path.isfile(TILED_CONTENT) else CONTENT_IMAGE
    config = OptimizeConfig(image_size=spec["size"], iterations=spec["run_iterations"], scales=spec.get("scales"))
    stages: dict = {}

    last = {"step": 0, "time": time.perf_counter()}

    def on_chunk(info):
        stage = stages.setdefault(info.stage, {"size": list(info.size), "iterations": 0, "seconds": 0.0})
        now = time.perf_counter()
        stage["iterations"] += info.step - last["step"]
        stage["seconds"] += now - last["time"]  # the chunk's time (the first includes the stage's start)
        stage["seconds_per_iteration"] = stage["seconds"] / stage["iterations"]
        last.update(step=info.step, time=now)

    start = time.perf_counter()
    result = transfer.stylize(content, [STYLE_IMAGE], config, on_chunk)
    seconds = time.perf_counter() - start
    height, width = result.shape[:2]
    tile = transfer.tile_side(config)
    grey = result.mean(axis=-1)
    columns, rows = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    grid = tiling.plan_grid(height, width, tile, config.tile_overlap)
    cores = grid.cores()
    cuts = ([columns[:, c - 1] for c in sorted({r for _, _, _, r in cores})[:-1]]
            + [rows[r - 1] for r in sorted({b for _, _, b, _ in cores})[:-1]])
    everywhere = float(np.concatenate([columns.ravel(), rows.ravel()]).mean())
    return {**spec, "content": os.path.basename(content), "output_size": [height, width], "seconds": seconds,
            "stages": stages, "tiles_finest": grid.tiles, "window": list(grid.window),
            "untiled_step_estimate_bytes": multiscale.estimate_bytes(height, width, 1),
            "available_bytes": multiscale.available_bytes(distribute.has_gpu()),
            "seam_gradient_ratio": float(np.concatenate(cuts).mean()) / everywhere if cuts else None,
            "peak_rss_bytes": benchmarking.status_bytes("VmHWM:")}


def _stylize_row(stylizer, content, total: int):
    """stylize()'s own stage: (seconds per iteration, evaluations per iteration, final images, wall
    clock `time.time()` when the first iteration was done)."""
    stage = stylizer.begin_stage(content, content.shape[2], content)  # init "content", as stylize() starts
    times, evaluations, first_done = [], [stage.evaluations], None
    for _ in range(total):
        start = time.perf_counter()
        stage.run(1)  # returns the loss as a float: waits for the device
        times.append(time.perf_counter() - start)
        first_done = first_done or time.time()
        evaluations.append(stage.evaluations)
    per_iteration = [b - a for a, b in zip(evaluations, evaluations[1:], strict=False)]
    return times, per_iteration, stage.images(), first_done


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


def _recipe_row(spec: dict, total: int):
    """The tutorial's recipe (`recipe.py`), on its own: (seconds per iteration, evaluations per
    iteration, start loss, final loss, wall clock when the first iteration was done)."""
    import numpy as np
    import recipe  # experiments/recipe.py, beside this script

    from tfstyle import images  # file reading and resizing only, so the inputs are the other rows' pixels
    from tfstyle import weights as weights_lib  # which file: the one tfstyle's rows load

    size = spec["size"]
    content_image = np.asarray(images.resize(images.load_image(CONTENT_IMAGE), (size, size)))[None]
    style_image = np.asarray(images.resize_long_side(images.load_image(STYLE_IMAGE), size))[None]
    weights_path = weights_lib.resolve_weights("vgg19", spec.get("weights", "auto")).path  # None: random
    peer = recipe.TutorialRecipe(content_image, style_image, weights_path)

    times, first_done = [], None
    for _ in range(total):
        start = time.perf_counter()
        peer.train_step().numpy()
        times.append(time.perf_counter() - start)
        first_done = first_done or time.time()
    return (times, [1] * total, float(peer.total_loss(peer.content_image)), float(peer.total_loss(peer.image)),
            first_done)


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
    if spec["method"] == "tiled":
        return _tiled_row(spec)
    import tensorflow as tf

    baseline_rss = benchmarking.status_bytes("VmRSS:")
    gpus = tf.config.list_logical_devices("GPU")
    total = spec["warmup"] + spec["iterations"]
    method, jit, note, first_done = spec["method"], spec["jit"], "", None
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    if method == "recipe":  # nothing of tfstyle's objective is built in its process
        times, evaluations, start_loss, final_loss, first_done = _recipe_row(spec, total)
    else:
        stylizer, content = _problem(spec)
        config = stylizer.config
        if method in (*STYLIZE_METHODS, "masked"):  # first: its start-up is stylize()'s and nothing else's
            times, evaluations, x, first_done = _stylize_row(stylizer, content, total)
        loss_fn = stylizer.loss_function(content, spec["size"])
        loss_eval = tf.function(lambda x: loss_fn(x)[0])
        if method == "floor":
            times, evaluations, x = _floor_row(loss_fn, content, total, jit, config.learning_rate)
        elif method == "recompute":
            (style,) = stylizer.style_images(content[0], spec["size"])
            times, evaluations, x = _recompute_row(stylizer, content, style, total, config.learning_rate)
        elif method == "scipy":
            times, evaluations, x, note = _scipy_row(loss_fn, content, total, config.lbfgs_history)
        elif method not in (*STYLIZE_METHODS, "masked"):
            raise ValueError(f"unknown method {method!r}")
        start_loss = float(loss_eval(content))
        final_loss = float(loss_eval(tf.clip_by_value(x, 0.0, 1.0)))
    timed = times[spec["warmup"]:] or times
    timed_evaluations = evaluations[spec["warmup"]:] or evaluations
    seconds = statistics.median(timed)
    evaluations_per_iteration = sum(timed_evaluations) / len(timed_evaluations)
    forward = vgg_forward_flops(spec["size"], spec["size"], "block5_conv2" if method == "recipe" else "block5_conv1")
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
    if first_done is not None and "spawned_at" in spec:
        row["startup_seconds"] = first_done - spec["spawned_at"]
    if gpus:
        row["gpu_peak_bytes"] = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return row


# ---------------------------------------------------------------------------------------------
# Parent: one subprocess per row, the table and the JSON
# ---------------------------------------------------------------------------------------------




def _gib(value) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


def mask_costs(rows: list[dict]) -> list[dict]:
    """Per size and precision: the ``masked`` row's ms/it over the ``lbfgs`` row's with XLA off."""
    plain = {(r["size"], r.get("precision")): r for r in rows
             if (r["method"], r["jit"]) == ("lbfgs", False) and "error" not in r}
    return [{"size": r["size"], "precision": r.get("precision"),
             "ratio": r["ms_per_iteration"] / plain[(r["size"], r.get("precision"))]["ms_per_iteration"]}
            for r in rows if r["method"] == "masked" and "error" not in r and (r["size"], r.get("precision")) in plain]


def format_table(rows: list[dict], gpu: bool) -> str:
    memory = "GPU peak GiB" if gpu else "peak RSS GiB"
    header = (f"{'size':>5} {'method':<9} {'xla':<3} {'dtype':<7} {'ms/it':>9} {'evals/it':>8} {'GFLOP/s':>8} "
              f"{memory:>12} {'loss/start':>10}")
    lines = [header, "-" * len(header)]
    for row in rows:
        name = (f"{row['size']:>5} {row['method']:<9} {'on' if row['jit'] else 'off':<3} "
                f"{row.get('precision', 'float32'):<7}")
        if "error" in row:
            lines.append(f"{name} error: {row['error']}")
            continue
        peak = row.get("gpu_peak_bytes") if gpu else row["peak_rss_bytes"]
        lines.append(f"{name} {row['ms_per_iteration']:>9.1f} {row['evaluations_per_iteration']:>8.2f} "
                     f"{row['gflops']:>8.1f} {_gib(peak):>12} {row['relative_loss']:>10.4f}")
    return "\n".join(lines)


def startup_rows(rows: list[dict], default_precision: str = "float32") -> list[dict]:
    """Per size: seconds from process start to the first iteration done, stylize()'s default path (its
    optimizer and XLA setting, at `default_precision` when that row ran, else another precision) and the recipe."""
    found = {}
    for row in rows:
        if "startup_seconds" not in row:
            continue
        entry = found.setdefault(row["size"], {})
        if (row["method"], row["jit"]) == STARTUP_ROW:
            precision = row.get("precision", "float32")
            if "tfstyle" not in entry or precision == default_precision:
                entry["tfstyle"], entry["precision"] = row["startup_seconds"], precision
                entry["tfstyle_ms"] = row["ms_per_iteration"]
        elif row["method"] == "recipe":
            entry["recipe"], entry["recipe_ms"] = row["startup_seconds"], row["ms_per_iteration"]
    startup = []
    for size, value in sorted(found.items()):
        entry = {"size": size, "tfstyle_seconds": value.get("tfstyle"), "tfstyle_precision": value.get("precision"),
                 "recipe_seconds": value.get("recipe")}
        if "tfstyle" in value and "recipe" in value:  # a whole run of RUN_ITERATIONS, start-up included
            for who in ("tfstyle", "recipe"):
                entry[f"{who}_run_seconds"] = value[who] + (RUN_ITERATIONS - 1) * value[f"{who}_ms"] / 1e3
            entry["run_ratio"] = entry["tfstyle_run_seconds"] / entry["recipe_run_seconds"]
        startup.append(entry)
    return startup


def format_startup(startup: list[dict]) -> str:
    def seconds(value):
        return "-" if value is None else f"{value:.1f} s"

    method, jit = STARTUP_ROW
    lines = [f"start-up (process start -> first iteration done): tfstyle = stylize()'s default path "
             f"({method}, xla {'on' if jit else 'off'}), recipe = the tutorial's recipe"]
    for row in startup:
        line = (f"{row['size']:>5} tfstyle {seconds(row['tfstyle_seconds']):>8} ({row['tfstyle_precision']})  "
                f"recipe {seconds(row['recipe_seconds']):>8}")
        if "run_ratio" in row:
            line += (f"   a {RUN_ITERATIONS}-iteration run (start-up + {RUN_ITERATIONS - 1} x median ms/it): "
                     f"tfstyle {row['tfstyle_run_seconds']:.1f} s, recipe {row['recipe_run_seconds']:.1f} s "
                     f"({row['run_ratio']:.2f}x)")
        lines.append(line)
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
    parser.add_argument("--precision", default="float32,bf16", help="float32, bf16 or float32,bf16 (OptimizeConfig."
                        "precision of the adam / lbfgs rows; the others run in float32; --quick: float32)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, 3 iterations, 1 warm-up")
    parser.add_argument("--tiled", type=int, default=0, help="also run a whole stylize() at this long side (px), "
                        "tile by tile where it does not fit (e.g. 4096); 0: no")
    parser.add_argument("--tiled_iterations", type=int, default=100, help="--iterations of the tiled run")
    parser.add_argument("--tiled_scales", type=int, default=None, help="--scales of the tiled run (default: the "
                        "machine's; 1 with a few --tiled_iterations measures the full-size tiles alone)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per row")
    parser.add_argument("--output", default=None, help="JSON path (default experiments/results/...)")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row, print its JSON
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or "64"
        args.iterations = args.iterations or 3
        args.warmup = 1 if args.warmup is None else args.warmup
        args.precision = "float32" if args.precision == "float32,bf16" else args.precision
    args.iterations = args.iterations or 10
    args.warmup = 2 if args.warmup is None else args.warmup
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be >= 1 and --warmup >= 0")
    unknown = set(args.methods.split(",")) - set(METHODS) - {""}  # --methods "" with --tiled: that row only
    if set(args.precision.split(",")) - {"float32", "bf16"}:
        parser.error(f"unknown --precision {args.precision}: use float32, bf16 or float32,bf16")
    if unknown:
        parser.error(f"unknown --methods {', '.join(sorted(unknown))}: use {', '.join(METHODS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.row:
        spec = json.loads(args.row)
        if spec["method"] != "recipe":  # tfstyle's rows import TensorFlow the way its CLIs do
            from tfstyle import tf_startup

            tf_startup.install()
        benchmarking.print_row(run_row(spec))
        return 0

    machine = benchmarking.describe_machine()
    gpu = bool(machine["gpus"])
    from tfstyle import distribute
    from tfstyle.optimize.config import OptimizeConfig

    fast, why = distribute.fast_bf16()
    default_precision = OptimizeConfig().resolved(gpu, fast).precision  # what stylize() runs here
    machine["default_precision"] = f"{default_precision} ({why})"
    sizes = [int(s) for s in (args.sizes or ("256,512,1024" if gpu else "256,512")).split(",")]
    xla = {"off": [False], "on": [True], "off,on": [False, True], "on,off": [False, True]}[args.xla]
    methods = [m for m in args.methods.split(",") if m]
    precisions = args.precision.split(",")
    specs = [{"size": size, "method": method, "jit": jit, "precision": precision, "warmup": args.warmup,
              "iterations": args.iterations}
             for size in sizes for method, jit in ROWS
             if method in methods and (jit in xla or method not in STYLIZE_METHODS)
             for precision in (precisions if method in (*STYLIZE_METHODS, "masked") else ["float32"])]
    for spec in specs:
        spec["weights"] = args.weights
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_cores']} cores, "
          f"{_gib(machine['ram_bytes'])} GiB RAM), TF {machine['tensorflow']}, Keras {machine['keras']}")
    print(f"{len(specs)} rows, {args.warmup} warm-up + {args.iterations} timed iterations each; "
          f"loss/start after {args.warmup + args.iterations} iterations", flush=True)
    rows, started = [], time.perf_counter()
    for spec in specs:
        row_start = time.perf_counter()
        spec["spawned_at"] = time.time()  # the child's start-up clock starts here
        row = benchmarking.spawn_row(__file__, spec, args.timeout)
        rows.append(row)
        outcome = row["error"] if "error" in row else f"{row['ms_per_iteration']:.1f} ms/it"
        print(f"  {spec['size']} px {spec['method']} xla={'on' if spec['jit'] else 'off'} {spec['precision']}: "
              f"{outcome} "
              f"({time.perf_counter() - row_start:.0f} s)", flush=True)
    tiled = None
    if args.tiled:
        tiled = benchmarking.spawn_row(__file__, {"method": "tiled", "size": args.tiled, "scales": args.tiled_scales,
                                                  "run_iterations": args.tiled_iterations}, args.timeout)
    table = format_table(rows, gpu)
    startup = startup_rows(rows, default_precision)
    print()
    print(table)
    if startup:
        print()
        print(format_startup(startup))
    for cost in mask_costs(rows):
        print(f"spatial control at {cost['size']} px ({cost['precision']}): {cost['ratio']:.2f}x the time of an "
              "unmasked L-BFGS iteration")
    if tiled is not None and "error" in tiled:
        print(f"tiled {args.tiled} px: error: {tiled['error']}")
    elif tiled is not None:
        untiled = _gib(tiled["untiled_step_estimate_bytes"])
        print(f"tiled: {tiled['output_size'][1]}x{tiled['output_size'][0]} px in {tiled['seconds'] / 60:.1f} min, "
              f"peak RSS {_gib(tiled['peak_rss_bytes'])} GiB (one untiled step: ~{untiled} GiB); "
              f"{tiled['tiles_finest']} windows of {tiled['window'][1]}x{tiled['window'][0]} px at full size; "
              f"gradient across the cuts {tiled['seam_gradient_ratio']:.2f}x the mean")
        for index, stage in sorted(tiled["stages"].items(), key=lambda item: int(item[0])):  # JSON keys: str
            print(f"  stage {int(index) + 1}: {stage['size'][1]}x{stage['size'][0]} px, {stage['iterations']} "
                  f"iterations, {stage['seconds_per_iteration']:.1f} s each")
    print("\nGFLOP/s: VGG19 3x3 convs up to block5_conv1 (recipe: block5_conv2), forward + backward = 2x forward "
          "per evaluation "
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
                     "xla": args.xla, "precision": args.precision, "quick": args.quick, "weights": args.weights},
        "flops_note": "3x3 convs of VGG19 up to block5_conv1 (recipe: block5_conv2), 2 FLOPs per multiply-add; "
                      "per evaluation "
                      "2x forward (input gradients only); recompute steps add 2 forwards",
        "wall_seconds": time.perf_counter() - started,
        "rows": rows,
        "mask_cost": mask_costs(rows),
        "tiled": tiled,
        "startup": startup,
        "table": table,
        "startup_table": format_startup(startup) if startup else "",
    }
    files.write_text(output, json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(output, os.getcwd())}")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
