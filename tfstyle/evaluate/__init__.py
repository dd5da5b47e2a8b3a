"""Built-in evaluation of both paths (the protocols are in the submodules' docstrings).

* `evaluate_stylization(output, content, styles, blend=None)`: content and style loss under a
  fixed VGG19 evaluator (`tfstyle.evaluate.stylization`), so runs with different settings compare.
* `evaluate_translation(generated_dir, target_dir, features="vgg")`: KID and FID against the
  real target domain, on VGG19 (KID-VGG / FID-VGG, offline) or InceptionV3 features
  (`tfstyle.evaluate.translation`).
* `kid(x, y)`, `fid(x, y)`: the distances on feature matrices (`tfstyle.evaluate.metrics`).

Command line: `python -m tfstyle.evaluate style ...` / `python -m tfstyle.evaluate translation ...`.

The names are imported on first use (PEP 562), so that `python -m tfstyle.evaluate` can set up
the environment before TensorFlow is imported.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from tfstyle.evaluate.metrics import fid, kid
    from tfstyle.evaluate.stylization import StyleEvaluator, evaluate_stylization
    from tfstyle.evaluate.translation import evaluate_translation

_SOURCES = {
    "StyleEvaluator": "tfstyle.evaluate.stylization",
    "evaluate_stylization": "tfstyle.evaluate.stylization",
    "evaluate_translation": "tfstyle.evaluate.translation",
    "fid": "tfstyle.evaluate.metrics",
    "kid": "tfstyle.evaluate.metrics",
}

__all__ = ["StyleEvaluator", "evaluate_stylization", "evaluate_translation", "fid", "kid"]


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
