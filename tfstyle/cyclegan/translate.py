"""Translate images with a trained CycleGAN generator, at their full size.

    python -m tfstyle.cyclegan.translate --model_dir runs/horse2zebra --direction=a2b \\
        --input photos/ --output zebras/

`--input` is an image file or a folder of images; `--output` is then a file (or an existing folder
to write into) or a folder (created if needed; names are kept). Outputs are all-or-nothing
(`files.StagedFiles`): they are written into a hidden folder and moved into place only once every
image is done, so a bad input leaves nothing behind. The run folder is read through
`tfstyle.training.rundir.RunDir` (the newest readable checkpoint, state file or not); the
generator runs on every local GPU (`tfstyle.distribute.make_strategy("auto")`).
"""

from __future__ import annotations

import dataclasses
import logging
import os

from tfstyle import cli, distribute, options
from tfstyle import inference as image_inference
from tfstyle.cyclegan import inference

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TranslateArgs:
    """Flags of `python -m tfstyle.cyclegan.translate`."""

    model_dir: str = options.option("", "training run folder (config.json, checkpoints/)")
    direction: str = options.option("a2b", "a2b: G (A -> B); b2a: F (B -> A)", ["a2b", "b2a"])
    input: str = options.option("", "image file or folder of images")
    output: str = options.option("", "output file, or folder for a folder input")
    batch_size: int = options.option(4, "images of equal size per step (the global batch, split over GPUs)")

cli.define_flags(TranslateArgs)

def main(argv: list[str]) -> None:
    del argv
    cli.setup_logging()
    args = cli.config_from_flags(TranslateArgs)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1, got {args.batch_size}")
    if not args.model_dir:
        raise ValueError("--model_dir is required (a training run folder)")
    inputs, outputs, folder_mode = image_inference.plan_outputs(args.input, args.output)

    strategy = distribute.make_strategy("auto")  # every local GPU
    generator, config = inference.load_generator(args.model_dir, args.direction, strategy=strategy)
    translator = inference.translator_for(generator, config, strategy)

    created = folder_mode and not os.path.isdir(args.output)
    if created:
        os.makedirs(args.output)
    try:
        with cli.Progress(len(inputs), f"translate {args.direction}", unit="img") as progress:
            image_inference.translate_paths(translator, inputs, outputs, args.batch_size, progress)
    except BaseException:
        if created and not os.listdir(args.output):
            os.rmdir(args.output)
        raise
    logger.info("wrote %d image(s) to %s", len(outputs), args.output if folder_mode else outputs[0])


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
