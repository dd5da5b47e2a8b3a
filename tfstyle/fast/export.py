"""Export a per-style network: a versioned SavedModel for TF Serving, a LiteRT or an ONNX file.

    python -m tfstyle.fast.export --export_dir saved_models/starry_night            # the bundled model
    python -m tfstyle.fast.export --model_dir runs/starry --export_dir saved_models/starry [--version N]
    python -m tfstyle.fast.export --export_dir saved_models/starry_night_tflite --format litert --float16

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

    model_dir: str = options.option("", "training run folder of tfstyle.fast.train (default: the bundled model)")


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
    from tfstyle import geometry
    from tfstyle.fast import inference, models

    model = inference.load_model(args.model_dir or None)
    print(export_lib.export_model(model.network, args.export_dir, args.format, args.version,
                                  multiple=model.multiple, min_size=geometry.MIN_SIZE,
                                  value_range=models.VALUE_RANGE, float16=args.float16))


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
