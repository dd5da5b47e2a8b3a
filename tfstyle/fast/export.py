"""Export a feed-forward style network: a versioned SavedModel for TF Serving, a LiteRT or an ONNX file.

    python -m tfstyle.fast.export --export_dir saved_models/starry_night            # the bundled model
    python -m tfstyle.fast.export --model_dir runs/starry --export_dir saved_models/starry [--version N]
    python -m tfstyle.fast.export --export_dir saved_models/starry_night_tflite --format litert --float16
    python -m tfstyle.fast.export --style wave.jpg --export_dir saved_models/wave   # a painting baked in
    python -m tfstyle.fast.export --model_dir magenta --export_dir saved_models/magenta  # photo + painting + alpha

`--style` (with `--style_blend`, `--alpha`, `--style_size` as `stylize` takes them; no `--model_dir`: Magenta's
pretrained network) bakes the paintings into the export: the network then takes only the photo, like a
per-style model, with the style vector (or AdaIN statistics) and alpha stored inside it.

writes `<export_dir>/<N>/` (savedmodel, the default), `.../<N>/model.tflite` (litert) or `.../<N>/model.onnx`
(onnx) and prints that path; N defaults to one more than the largest existing version, and an existing
version is never overwritten. Everything comes from the code the CycleGAN export uses (`tfstyle.export`):
`serving_default` uint8 [B, H, W, 3] in -> uint8 out of any size and `translate_bytes` (PNG/JPEG in, PNG
out) for the SavedModel; uint8 `images` in and out, any H and W, for LiteRT and ONNX. An arbitrary-style
model is exported with two more inputs, the painting (`style`, uint8 [1, H', W', 3]) and `alpha` (float32 []).
litert and onnx need `pip install "tfstyle[export]"`; without it the command fails at once with one `error:` line.
"""

from __future__ import annotations

import dataclasses
import logging

from tfstyle import cli, options
from tfstyle import export as export_lib

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ExportArgs(export_lib.ExportRequest):
    """Flags of `python -m tfstyle.fast.export`: the shared export flags and which network."""

    model_dir: str = options.option("", "training run folder of tfstyle.fast.train, or magenta (default: the "
                                        "bundled model; with --style, magenta)")
    style: tuple[str, ...] = options.option((), "painting(s) to bake into an arbitrary-style network's export")
    style_blend: tuple[float, ...] = options.option((), "weights of the --style paintings (default equal)")
    style_size: int = options.option(0, "long side, px, the --style paintings are read at (0: the network's own)")
    alpha: float = options.option(1.0, "strength in [0, 1] baked in with --style")

    def check(self) -> None:
        super().check()
        from tfstyle import images

        options.check_alpha(self.alpha)
        options.check_blend(self.style_blend, len(self.style))
        if (self.style_blend or self.alpha != 1.0) and not self.style:
            raise ValueError("--style_blend and --alpha are baked in with --style: give --style too")
        for path in self.style:
            images.check_file(path)


cli.define_flags(ExportArgs)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging()
    args = cli.config_from_flags(ExportArgs)
    try:  # fail before loading anything
        args.check()
    except export_lib.MissingPackageError as error:
        raise cli.UserError(str(error)) from None
    from tfstyle import geometry, images
    from tfstyle.fast import config, inference, models

    styles = [images.read_image_uint8(path) for path in args.style]
    model = inference.load_model(config.resolve_model_dir(args.model_dir, args.style) or None)
    network = model.stylizer(styles, args.style_blend or None, args.alpha, args.style_size) if styles \
        else model.network
    print(export_lib.export_model(network, args.export_dir, args.format, args.version,
                                  multiple=model.multiple, min_size=geometry.MIN_SIZE,
                                  value_range=models.VALUE_RANGE, float16=args.float16))


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
