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
