"""Stylise images with a trained feed-forward network, at their full size, in one pass each.

    python -m tfstyle.fast.stylize                                   # the bundled sample, bundled model
    python -m tfstyle.fast.stylize --model_dir runs/starry --input photo.jpg --output out.png
    python -m tfstyle.fast.stylize --model_dir runs/starry --input photos/ --output stylised/
    python -m tfstyle.fast.stylize --input photo.jpg --style wave.jpg --alpha 0.8        # any painting
    python -m tfstyle.fast.stylize --input a.jpg --style wave.jpg,starry.jpg --style_blend 7,3
    python -m tfstyle.fast.stylize --model_dir runs/adain --input photo.jpg --style wave.jpg

An arbitrary-style model takes one or more `--style` paintings (read at a `--style_size` px long side) and
`--alpha`; a per-style model refuses both. With `--style` and no `--model_dir` it is Magenta's pretrained
network (`--model_dir magenta`, `tfstyle.fast.magenta`, fetched by `python -m tfstyle.weights fetch`): the
blend mixes the paintings' style vectors, and `--alpha` moves from the photo's own style vector (0) to the
painting's (1). An AdaIN run (`--model_dir`) blends feature statistics, and its alpha fades the features.
`--preserve_colors luminance|histogram` gives the result the photo's colours.

With no `--model_dir` and no `--style` the bundled Starry Night network is used (`BUNDLED_MODEL`);
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
from tfstyle.fast.config import MAGENTA, PRECISIONS, resolve_model_dir  # noqa: F401 - resolve_model_dir re-exported

logger = logging.getLogger(__name__)

DEFAULT_INPUT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "astronaut.jpg")


@dataclasses.dataclass(frozen=True)
class StylizeArgs:
    """Flags of `python -m tfstyle.fast.stylize`."""

    model_dir: str = options.option("", "training run folder of tfstyle.fast.train, or magenta (default: the "
                                        "bundled Starry Night network; with --style, magenta)")
    input: str = options.option("", "image file or folder of images (default: the bundled astronaut photo)")
    output: str = options.option("", "output file, or folder for a folder input (default: <input>_<model>.png)")
    batch_size: int = options.option(4, "images of equal size per step (the global batch, split over GPUs)")
    style: tuple[str, ...] = options.option((), "comma-separated painting(s) for an arbitrary-style model (with no "
                                                "--model_dir: Magenta's pretrained network)")
    style_blend: tuple[float, ...] = options.option((), "weights of the --style paintings (default equal)")
    style_size: int = options.option(0, "arbitrary-style models: long side, px, paintings are read at (0: the "
                                        "network's own, 256 for magenta, 512 for an AdaIN run)")
    alpha: float = options.option(1.0, "arbitrary-style models: strength in [0, 1] (0: the photo back)")
    precision: str = options.option("auto", "auto: bf16 where the hardware is fast at it (a GPU of compute "
                                    "capability >= 8, a CPU with AVX512-BF16 or AMX), else float32",
                                    PRECISIONS)
    preserve_colors: str = options.option("none", "keep the photo's colours: luminance (the result's luma, the "
                                          "photo's chroma) or histogram (colour statistics matched)",
                                          options.PRESERVE_COLORS)

    def check(self) -> None:
        """What can be checked before TensorFlow loads: numbers, blend count, the style files and model folder."""
        from tfstyle import images

        if self.batch_size < 1:
            raise ValueError(f"--batch_size must be >= 1, got {self.batch_size}")
        options.check_alpha(self.alpha)
        if self.style_size and self.style_size < 32:
            raise ValueError(f"--style_size must be 0 (the network's own) or >= 32 px, got {self.style_size}")
        if self.style_blend and not self.style:
            raise ValueError("--style_blend weighs --style paintings: give --style too")
        options.check_blend(self.style_blend, len(self.style))
        for path in self.style:
            images.check_file(path)
        if self.model_dir and self.model_dir != MAGENTA and not os.path.isdir(self.model_dir):
            raise FileNotFoundError(f"--model_dir does not exist: {self.model_dir}")


cli.define_flags(StylizeArgs)


def default_output(input_path: str, model_dir: str, styles=()) -> str:
    """`<input stem>_<model name>.png` in the working folder, e.g. astronaut_starry_night.png; with `--style`
    paintings, their stems instead of the model's name (astronaut_durer_lion.png)."""
    from tfstyle.fast.config import BUNDLED_MODEL

    name = "_".join(os.path.splitext(os.path.basename(path))[0] for path in styles) or os.path.basename(
        os.path.normpath(model_dir or BUNDLED_MODEL))
    return f"{os.path.splitext(os.path.basename(input_path))[0]}_{name}.png"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging()
    args = cli.config_from_flags(StylizeArgs)
    args.check()
    model_dir = resolve_model_dir(args.model_dir, args.style)
    input_path = args.input or DEFAULT_INPUT
    output_path = args.output or (default_output(input_path, model_dir, args.style)
                                  if not os.path.isdir(input_path) else "")
    from tfstyle import images
    from tfstyle import inference as image_inference  # shared with CycleGAN's translate

    inputs, outputs, folder_mode = image_inference.plan_outputs(input_path, output_path)
    styles = [images.read_image_uint8(path) for path in args.style]  # unreadable: one error line, nothing written
    from tfstyle.fast import inference

    strategy = distribute.make_strategy("auto")  # every local GPU
    precision, reason = inference.resolve_precision(args.precision)
    logger.info("precision %s (%s)", precision, reason)
    model = inference.load_model(model_dir or None, strategy=strategy, precision=precision)
    with strategy.scope():
        network = model.stylizer(styles, args.style_blend or None, args.alpha, args.style_size)
    translator = model.translator(network, strategy)
    finish = None
    if args.preserve_colors != "none":
        finish = lambda stylised, photo: inference.preserve_colors_of(stylised, photo, args.preserve_colors)  # noqa: E731
    created = folder_mode and not os.path.isdir(output_path)
    if created:
        os.makedirs(output_path)
    try:
        with cli.Progress(len(inputs), "stylize", unit="img") as progress:
            image_inference.translate_paths(translator, inputs, outputs, args.batch_size, progress, finish)
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
