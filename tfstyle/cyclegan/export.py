"""Export a trained CycleGAN generator: a versioned SavedModel for TF Serving, a LiteRT or an ONNX file.

    python -m tfstyle.cyclegan.export --model_dir runs/horse2zebra --direction=a2b \\
        --export_dir saved_models/horse2zebra [--version N] [--format savedmodel|litert|onnx] [--float16]

writes `saved_models/horse2zebra/<N>/` (savedmodel, the default), `.../<N>/model.tflite` (litert;
`--float16` stores its weights in float16) or `.../<N>/model.onnx` (onnx), and prints that path. N
defaults to one more than the largest existing version; an existing version is never overwritten.
The checkpoint is the run's newest readable one (`tfstyle.training.rundir.RunDir`, with or without
the `checkpoint` state file). Signatures and inputs: see `tfstyle.export` and `saved_models/README.md`.
litert and onnx need `pip install "tfstyle[export]"`; without it the command fails at once with
one `error:` line naming the extra.
"""

from __future__ import annotations

import dataclasses
import logging

from tfstyle import cli, options
from tfstyle import export as export_lib
from tfstyle.cyclegan import inference

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ExportArgs(export_lib.ExportRequest):
    """Flags of `python -m tfstyle.cyclegan.export`: the shared export flags and which generator of which run."""

    model_dir: str = options.option("", "training run folder (config.json, checkpoints/)")
    direction: str = options.option("a2b", "a2b: G (A -> B); b2a: F (B -> A)", ["a2b", "b2a"])

cli.define_flags(ExportArgs)


def main(argv: list[str]) -> None:
    del argv
    cli.setup_logging()
    args = cli.config_from_flags(ExportArgs)
    if not args.model_dir:
        raise ValueError("--model_dir is required (a training run folder)")
    try:  # fail before loading anything
        args.check()
    except export_lib.MissingPackageError as error:
        raise cli.UserError(str(error)) from None
    generator, config = inference.load_generator(args.model_dir, args.direction)
    print(inference.export_generator(generator, args.export_dir, args.version, format=args.format,
                                     float16=args.float16, rule=inference.size_rule(config)))


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
