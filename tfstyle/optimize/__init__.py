"""Gatys-style neural style transfer: the image is optimised so its VGG features match a content
photo and the Gram statistics of one or more paintings.

    from tfstyle.optimize import OptimizeConfig, stylize

The names are imported on first use (PEP 562): `python -m tfstyle.optimize` imports this package
before its `__main__`, and importing TensorFlow here would run before `tfstyle.cli` sets the
environment that keeps TensorFlow's start-up lines off stderr.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from tfstyle.optimize.config import OptimizeConfig
    from tfstyle.optimize.transfer import StepInfo, stylize, stylize_files

_SOURCES = {
    "OptimizeConfig": "tfstyle.optimize.config",
    "StepInfo": "tfstyle.optimize.transfer",
    "stylize": "tfstyle.optimize.transfer",
    "stylize_files": "tfstyle.optimize.transfer",
}

__all__ = ["OptimizeConfig", "StepInfo", "stylize", "stylize_files"]


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
