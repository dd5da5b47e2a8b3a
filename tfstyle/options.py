"""How a config dataclass field declares its command-line flag, in one place.

`tfstyle.cli.define_flags` turns each field of a frozen config dataclass into an absl flag and
reads three keys of the field's metadata: `help` (the flag's help text), `choices` (an enum) and
`cli` (False keeps the field off the command line). Configs build that metadata here, so library
code declares its flags without importing absl or the CLI edge:

    image_size: int = options.option(256, "random crop size in px")
    gan_mode: str = options.option("lsgan", "adversarial loss", choices=GAN_MODES)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any


def metadata(help_text: str, *, choices: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The field metadata `cli.define_flags` reads: {"help": ..., "choices": [...] when given, **extra}."""
    values: dict[str, Any] = {"help": help_text, **extra}
    if choices:
        values["choices"] = list(choices)
    return values


def option(default: Any, help_text: str, choices: Iterable[str] | None = None, **extra: Any):
    """A dataclass field with `default` and the flag metadata of `metadata(help_text, choices=..., **extra)`."""
    return dataclasses.field(default=default, metadata=metadata(help_text, choices=choices, **extra))


# The reference's --preprocess modes tfstyle offers for GAN training (`tfstyle.data.preprocess_unpaired` does them),
# declared here so that the TensorFlow-free configs can check the flag.
PREPROCESS = ("resize_and_crop", "crop", "scale_width_and_crop")

# The ways to keep a photo's colours (`tfstyle.colour` implements them): the optimisation path's and the
# feed-forward networks' --preserve_colors, declared here so that configs can name them before TensorFlow loads.
PRESERVE_COLORS = ("none", "luminance", "histogram")


def check_alpha(alpha: float) -> None:
    """Checks an arbitrary-style network's strength `--alpha` (0: the photo back, 1: full style); ValueError
    unless 0 <= alpha <= 1. TensorFlow-free, like `check_blend`."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1] (0: the photo back, 1: full style), got {alpha}")


def check_blend(blend, count: int | None) -> None:
    """Checks `--style_blend` weights against the `--style` images they weigh (TensorFlow-free, so configs call
    it before anything loads): one weight per image (when `count` is known), all >= 0, not all 0; empty means
    equal weights.

    Raises:
        ValueError: the message names the flags and says what to give.
    """
    blend = list(blend or ())
    if blend and count is not None and len(blend) != count:
        raise ValueError(f"--style_blend has {len(blend)} weights but --style has {count} images: "
                         "give one weight per style image")
    if any(w < 0 for w in blend) or (blend and sum(blend) <= 0):
        raise ValueError(f"--style_blend weights must be >= 0 and not all 0, got {blend}")

