"""Stylise images with a trained per-style network, at their full size, in one pass each.

    python -m tfstyle.fast.stylize                                   # the bundled sample, bundled model
    python -m tfstyle.fast.stylize --model_dir runs/starry --input photo.jpg --output out.png
    python -m tfstyle.fast.stylize --model_dir runs/starry --input photos/ --output stylised/

With no `--model_dir` the bundled Starry Night network is used (`tfstyle.fast.inference.BUNDLED_MODEL`);
with no `--input` the bundled astronaut photo, written to `astronaut_<model>.png` unless `--output` says
otherwise. `--input` is an image file or a folder; outputs are all-or-nothing and keep the input's size,
exactly as CycleGAN's `translate` (whose path planning, padding and staged writes this command shares).
The network runs on every local GPU (`tfstyle.distribute.make_strategy("auto")`).
"""

from __future__ import annotations

import dataclasses
import logging
import os

from tfstyle import cli, distribute, options

logger = logging.getLogger(__name__)

DEFAULT_INPUT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "astronaut.jpg")


@dataclasses.dataclass(frozen=True)
class StylizeArgs:
    """Flags of `python -m tfstyle.fast.stylize`."""

    model_dir: str = options.option("", "training run folder of tfstyle.fast.train (default: the bundled model)")
    input: str = options.option("", "image file or folder of images (default: the bundled astronaut photo)")
    output: str = options.option("", "output file, or folder for a folder input (default: <input>_<model>.png)")
    batch_size: int = options.option(4, "images of equal size per step (the global batch, split over GPUs)")


cli.define_flags(StylizeArgs)


def default_output(input_path: str, model_dir: str) -> str:
    """`<input stem>_<model name>.png` in the working folder, e.g. astronaut_starry_night.png."""
    from tfstyle.fast import inference

    model = os.path.basename(os.path.normpath(model_dir or inference.BUNDLED_MODEL))
    return f"{os.path.splitext(os.path.basename(input_path))[0]}_{model}.png"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging()
    args = cli.config_from_flags(StylizeArgs)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1, got {args.batch_size}")
    if args.model_dir and not os.path.isdir(args.model_dir):
        raise FileNotFoundError(f"--model_dir does not exist: {args.model_dir}")
    input_path = args.input or DEFAULT_INPUT
    output_path = args.output or (default_output(input_path, args.model_dir) if not os.path.isdir(input_path) else "")
    from tfstyle import inference as image_inference  # shared with CycleGAN's translate

    inputs, outputs, folder_mode = image_inference.plan_outputs(input_path, output_path)
    from tfstyle.fast import inference, models

    strategy = distribute.make_strategy("auto")  # every local GPU
    transformer, _ = inference.load_transformer(args.model_dir or None, strategy=strategy)
    translator = image_inference.Translator(transformer, strategy, models.VALUE_RANGE)
    created = folder_mode and not os.path.isdir(output_path)
    if created:
        os.makedirs(output_path)
    try:
        with cli.Progress(len(inputs), "stylize", unit="img") as progress:
            image_inference.translate_paths(translator, inputs, outputs, args.batch_size, progress)
    except BaseException:
        if created and not os.listdir(output_path):
            os.rmdir(output_path)
        raise
    logger.info("wrote %d image(s) to %s", len(outputs), output_path if folder_mode else outputs[0])
    if not folder_mode:
        print(outputs[0])


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
