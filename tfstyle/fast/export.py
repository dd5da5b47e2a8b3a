"""Export a per-style network as a versioned SavedModel for TF Serving.

    python -m tfstyle.fast.export --export_dir saved_models/starry_night            # the bundled model
    python -m tfstyle.fast.export --model_dir runs/starry --export_dir saved_models/starry [--version N]

writes `<export_dir>/<N>/` (N defaults to one more than the largest existing version; an existing version
is never overwritten) and prints its path. The signatures are CycleGAN's, from the same code
(`tfstyle.export`): `serving_default` uint8 [B, H, W, 3] in -> uint8 out of any size, and
`translate_bytes` (PNG/JPEG in, PNG out).
"""

from __future__ import annotations

import dataclasses
import logging

from tfstyle import cli, options
from tfstyle import export as export_lib

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ExportArgs:
    """Flags of `python -m tfstyle.fast.export`."""

    model_dir: str = options.option("", "training run folder of tfstyle.fast.train (default: the bundled model)")
    export_dir: str = options.option("", "model base path for TF Serving, e.g. saved_models/starry_night")
    version: int | None = options.option(None, "version folder to write (default: largest existing + 1)")


cli.define_flags(ExportArgs)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging()
    args = cli.config_from_flags(ExportArgs)
    if not args.export_dir:
        raise ValueError("--export_dir is required, e.g. saved_models/<name>")
    if args.version is not None:  # fail before loading anything
        if args.version < 1:
            raise ValueError(f"--version must be a positive integer, got {args.version}")
        if args.version in export_lib.existing_versions(args.export_dir):
            raise ValueError(f"version {args.version} already exists in {args.export_dir}; "
                             "versions are never overwritten")
    from tfstyle import geometry
    from tfstyle.fast import inference

    transformer, _ = inference.load_transformer(args.model_dir or None)
    print(export_lib.export_generator(inference.as_signed_model(transformer), args.export_dir, args.version,
                                      multiple=geometry.SIZE_MULTIPLE, min_size=geometry.MIN_SIZE))


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
