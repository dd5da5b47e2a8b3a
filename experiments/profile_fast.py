"""Where the feed-forward network's time and its 512 px style gap go, and what bf16 changes in its pixels.

    python experiments/profile_fast.py [--size 512] [--model_dir runs/starry]

Prints, for the bundled network (or `--model_dir`) on the bundled astronaut photo, in one process:

* stages: the cumulative float32 time of the network up to each stage (first 9x9 conv block, the two
  downsampling blocks, the residual blocks, the two upsampling blocks, the last 9x9 conv), each a traced
  `tf.function` of a sub-model, median of 5 after 2 warm-ups; the whole network also under XLA
  (`jit_compile=True`) for comparison;
* precision: |bf16 output - float32 output| in levels of 255 (mean, 99th percentile, max) through
  `tfstyle.inference.Translator`, the path `python -m tfstyle.fast.stylize` runs, for each photo;
* layers: the fixed evaluator's style loss of the network's output per style layer (block1..5_conv1, weight
  0.2 each, the Starry Night at the evaluator's 512 px), so it shows which layer the loss sits in.

A run's output is kept in experiments/results/profile_fast_<device>_<date>.txt by hand (it prints only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import benchmarking  # experiments/benchmarking.py, beside this script

REPO = benchmarking.REPO
PHOTOS = [os.path.join(REPO, "tfstyle", "assets", "astronaut.jpg")]
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data", "content")
STYLE = os.path.join(REPO, "tfstyle", "assets", "vangogh_starry_night.jpg")
STAGES = ("c9s1_32_relu", "d64_relu", "d128_relu", "r128_5_add", "u64_relu", "u32_relu", "to_unit_range")


def _median_ms(function, argument, repeats: int = 5) -> float:
    function(argument)
    function(argument)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument).numpy()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--model_dir", default="", help="a per-style run (default: the bundled network)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfstyle import tf_startup

    tf_startup.install()
    import keras
    import numpy as np
    import tensorflow as tf

    from tfstyle import features, images, loss_targets, losses
    from tfstyle.fast import inference

    machine = benchmarking.describe_machine()
    print(f"device: {', '.join(machine['gpus']) or machine['cpu_model']} ({machine['cpu_cores']} cores), "
          f"TF {machine['tensorflow']}")
    exact = inference.load_model(args.model_dir or None, precision="float32")
    half = inference.load_model(args.model_dir or None, precision="bf16")
    network = exact.network
    x = tf.constant(np.random.default_rng(0).random((1, args.size, args.size, 3), np.float32))

    print(f"\nstages at {args.size} px, float32 (cumulative ms, then the stage's own):")
    previous = 0.0
    for name in STAGES:
        sub = keras.Model(network.input, network.get_layer(name).output)
        ms = _median_ms(tf.function(lambda v, sub=sub: sub(v, training=False)), x)
        print(f"  {name:<14} {ms:7.1f} {ms - previous:7.1f}")
        previous = ms
    xla = _median_ms(tf.function(lambda v: network(v, training=False), jit_compile=True), x)
    print(f"  whole network under XLA: {xla:.1f} ms (without: {previous:.1f} ms)")

    photos = PHOTOS + [os.path.join(SHARED, name) for name in ("chelsea_cat.png", "coffee.png")
                       if os.path.isfile(os.path.join(SHARED, name))]
    print(f"\nbf16 vs float32 output at a {args.size} px long side, levels of 255:")
    outputs = {}
    for path in photos:
        photo = np.asarray(images.to_uint8(images.resize_long_side(images.load_image(path), args.size)))
        f32, b16 = exact.stylize([photo])[0].astype(int), half.stylize([photo])[0].astype(int)
        outputs[path] = (photo, f32.astype(np.uint8))
        difference = np.abs(f32 - b16)
        print(f"  {os.path.basename(path):<20} mean {difference.mean():.2f}  p99 {np.percentile(difference, 99):.0f}"
              f"  max {difference.max()}")

    layers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
    extractor = features.build_feature_extractor(layers=layers)
    style = np.asarray(images.resize_long_side(images.load_image(STYLE), 512))[None]
    grams = loss_targets.blended_grams(extractor, [style], [1.0], layers)
    print("\nfixed-evaluator style loss per layer (weight 0.2 each) of the network's output:")
    for path, (_, output) in outputs.items():
        found = extractor(images.to_float(output)[None])
        parts = [0.2 * float(losses.style_loss(found[layer], grams[layer])) for layer in layers]
        print(f"  {os.path.basename(path):<20} " + "  ".join(f"{layer[:6]} {part:.3g}"
                                                           for layer, part in zip(layers, parts, strict=True))
              + f"  ({100 * parts[3] / sum(parts):.0f} % in block4)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
