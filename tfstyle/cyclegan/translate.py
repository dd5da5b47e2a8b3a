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

import numpy as np

from tfstyle import cli, distribute, files, images, options
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

# Images read, translated and written per round: bounds memory on large folders.
_CHUNK_IMAGES = 64


def plan_outputs(input_path: str, output_path: str) -> tuple[list[str], list[str], bool]:
    """Maps inputs to output paths and checks them before any work is done.

    Returns:
        (inputs, outputs, folder_mode).

    Raises:
        FileNotFoundError, ValueError: the message says which path is wrong and why.
    """
    if not input_path:
        raise ValueError("--input is required (an image file or a folder of images)")
    if not output_path:
        raise ValueError("--output is required")
    if not os.path.exists(input_path):
        raise FileNotFoundError(f"--input does not exist: {input_path}")
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        raise ValueError(f"--output must differ from --input (never overwrite the input): {output_path}")
    if os.path.isdir(input_path):
        if os.path.exists(output_path) and not os.path.isdir(output_path):
            raise ValueError(f"--input is a folder, so --output must be a folder, not a file: {output_path}")
        if not os.path.exists(output_path) and output_path.lower().endswith(images.IMAGE_EXTENSIONS):
            raise ValueError(
                f"--input is a folder, so --output must be a folder, not an image file name: {output_path}"
            )
        inputs = images.list_images(input_path)
        outputs = [os.path.join(output_path, _writable_name(os.path.basename(path))) for path in inputs]
        if len(set(outputs)) < len(outputs):
            duplicate = next(path for path in outputs if outputs.count(path) > 1)
            raise ValueError(f"two inputs would both be written to {duplicate} (e.g. x.gif and x.png)")
        return inputs, outputs, True
    if os.path.isdir(output_path):
        output_path = os.path.join(output_path, _writable_name(os.path.basename(input_path)))
        if os.path.realpath(input_path) == os.path.realpath(output_path):
            raise ValueError(f"--output would overwrite --input: {output_path}")
    else:
        images.encode_image(np.zeros((1, 1, 3), np.uint8), output_path)  # ValueError on an unknown extension
        files.check_writable(output_path)
    return [input_path], [output_path], False


def _writable_name(name: str) -> str:
    """Keeps `name` unless its format cannot be written (e.g. .gif): then `<stem>.png`."""
    try:
        images.encode_image(np.zeros((1, 1, 3), np.uint8), name)
        return name
    except ValueError:
        return os.path.splitext(name)[0] + ".png"


def translate_paths(
    translator: inference.Translator, inputs: list[str], outputs: list[str], batch_size: int, progress=None
) -> None:
    """Reads, translates and writes `inputs` to `outputs` in chunks (all-or-nothing per call).

    Every output is staged by `files.StagedFiles` (a hidden folder beside it) and moved into place
    only after all images succeeded; on any error nothing is moved and the staging is removed.
    """
    with files.StagedFiles() as staged:
        for start in range(0, len(inputs), _CHUNK_IMAGES):
            chunk_inputs = inputs[start:start + _CHUNK_IMAGES]
            chunk_outputs = outputs[start:start + _CHUNK_IMAGES]
            arrays = []
            for path in chunk_inputs:
                image = images.read_image_uint8(path)
                translator.check_size(image, path)
                arrays.append(image)
            done_before = [0]

            def report(state, done_before=done_before):
                if progress is not None:
                    progress.update(state.done - done_before[0])
                done_before[0] = state.done

            translated = translator(arrays, batch_size=batch_size, callback=report)
            for path, image in zip(chunk_outputs, translated, strict=True):
                images.save_image(staged.path(path), image)


def main(argv: list[str]) -> None:
    del argv
    cli.setup_logging()
    args = cli.config_from_flags(TranslateArgs)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1, got {args.batch_size}")
    if not args.model_dir:
        raise ValueError("--model_dir is required (a training run folder)")
    inputs, outputs, folder_mode = plan_outputs(args.input, args.output)

    strategy = distribute.make_strategy("auto")  # every local GPU
    generator, _ = inference.load_generator(args.model_dir, args.direction, strategy=strategy)
    translator = inference.Translator(generator, strategy)

    created = folder_mode and not os.path.isdir(args.output)
    if created:
        os.makedirs(args.output)
    try:
        with cli.Progress(len(inputs), f"translate {args.direction}", unit="img") as progress:
            translate_paths(translator, inputs, outputs, args.batch_size, progress)
    except BaseException:
        if created and not os.listdir(args.output):
            os.rmdir(args.output)
        raise
    logger.info("wrote %d image(s) to %s", len(outputs), args.output if folder_mode else outputs[0])


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
