"""Where the start-up of a default `python -m tfstyle.optimize` run goes, phase by phase.

    python experiments/profile_startup.py               # 256 px, the default config
    python experiments/profile_startup.py --size 512 --precision float32

Runs in this process, as the CLI does: import TensorFlow the CLIs' way (`tfstyle.tf_startup`) and
tfstyle, read the images, build the VGG extractor with its weights, compute the targets, trace and
run the stage's first chunk, then a second iteration for comparison. Each line is the seconds since
the interpreter started (`time.perf_counter` is read first thing; the interpreter's own start,
~0.05 s, is not counted) and the phase's share.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import sys  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="output long side in px")
    parser.add_argument("--precision", default="auto", help="OptimizeConfig.precision")
    parser.add_argument("--optimizer", default=None, help="OptimizeConfig.optimizer (default: its default)")
    args = parser.parse_args(argv)
    from tfstyle import tf_startup  # what `tfstyle.cli` installs before any CLI imports TensorFlow

    tf_startup.install()
    marks = []

    def mark(name):
        marks.append((name, time.perf_counter() - STARTED))

    mark("argument parsing")
    import tensorflow as tf  # noqa: F401

    mark("import tensorflow")
    import numpy as np

    from tfstyle import images
    from tfstyle.optimize import transfer
    from tfstyle.optimize.config import OptimizeConfig

    mark("import tfstyle.optimize")
    overrides = {"optimizer": args.optimizer} if args.optimizer else {}
    config, strategy = transfer.resolve(OptimizeConfig(image_size=args.size, precision=args.precision, **overrides), 1)
    mark(f"resolve config + strategy ({config.precision}, {config.optimizer})")
    content = images.load_image(transfer.DEFAULT_CONTENT)
    style = images.load_image(transfer.DEFAULT_STYLE)
    contents = np.asarray(images.resize_long_side(content, config.image_size))[None]
    mark("read and resize the images")
    stylizer = transfer.Stylizer([style], config, strategy)
    mark("build the extractor and load its weights")
    stage = stylizer.begin_stage(contents, config.image_size, stylizer.initial_images(contents))
    mark("targets + solver init (trace, optimise, run)")
    stage.run(1)
    mark("first iteration (trace, optimise, run)")
    start = time.perf_counter()
    stage.run(1)
    second = time.perf_counter() - start
    mark("a second iteration")
    previous = 0.0
    print(f"{'seconds':>8} {'phase':>7}  phase")
    for name, at in marks:
        print(f"{at:8.2f} {at - previous:7.2f}  {name}")
        previous = at
    first_done = marks[-2][1]
    print(f"start-up (to the first iteration done): {first_done:.2f} s; an iteration: {second:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
