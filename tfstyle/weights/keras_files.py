"""Keras weights files of a backbone: read, check layer by layer, write.

Reads both layouts Keras has used: Keras 3 `.weights.h5` (groups `<...>/vars` with a `name`
attribute and datasets "0", "1", ...) and the legacy Keras 2 / tf.keras `.h5` (`layer_names` /
`weight_names` attributes), the layout of Keras' own ImageNet download. Only h5py is needed to read
and check; Keras (hence TensorFlow) is imported to write a file, or to read a Keras 3 file that
stores no layer names.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

import h5py
import numpy as np

from tfstyle import files
from tfstyle.weights import layouts

# Layers a with-top Keras VGG file also holds; tolerated (and ignored) in a weights file.
TOP_LAYERS = ("flatten", "fc1", "fc2", "predictions")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_h5_layers(path: str, load: bool | Collection[str]) -> dict[str, list]:
    """{layer name: [kernel, bias, ...]} from a Keras 3 `.weights.h5` or a legacy Keras `.h5` file.

    Arrays of every layer when `load` is True, of the named layers when it is a collection of names;
    else (and for the other layers) only their shapes. Layers without weights are left out.
    """

    def wanted(name: str) -> bool:
        return load if isinstance(load, bool) else name in load

    layers: dict[str, list] = {}
    with h5py.File(path, "r") as file:
        root = file["model_weights"] if "model_weights" in file else file
        if "layer_names" in root.attrs:  # legacy Keras 2 / tf.keras h5 layout
            for raw_name in root.attrs["layer_names"]:
                name = _text(raw_name)
                group = root[name]
                weight_names = [_text(w) for w in group.attrs.get("weight_names", [])]
                if weight_names:
                    layers[name] = [group[w][()] if wanted(name) else group[w].shape for w in weight_names]
            return layers

        # Keras 3 layout: <...>/vars with a `name` attribute and datasets "0", "1", ...
        def visit(_, item):
            if isinstance(item, h5py.Group) and item.name.endswith("/vars") and len(item):
                name = item.attrs.get("name")
                if name is None:
                    return
                keys = sorted(item.keys(), key=int)
                layers[_text(name)] = [item[k][()] if wanted(_text(name)) else item[k].shape for k in keys]

        file.visititems(visit)
    return layers


def _read_layers(path: str, layout: layouts.WeightsLayout, load: bool | Collection[str]) -> dict[str, list]:
    """Reads a weights file; files whose layers carry no names are loaded through Keras itself."""
    try:
        layers = _read_h5_layers(path, load)
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a {layout.name.upper()} weights file "
                         f"(cannot read it as HDF5: {error})") from None
    if layers:
        return layers
    # A Keras 3 file from a version that did not store layer names: let Keras match it by structure.
    model = layout.build_model()
    try:
        model.load_weights(path)
    except Exception as error:  # Keras raises several types for a structure mismatch
        raise ValueError(f"{path} is not a {layout.name.upper()} weights file: {error}") from None
    return {name: model.get_layer(name).get_weights() for name in layout.conv_layers}


def check_layer_weights(layers: dict[str, list], backbone: str, path: str) -> None:
    """Raises ValueError unless `layers` holds exactly the backbone's conv layers with VGG shapes.

    Args:
        layers: {layer name: [kernel, bias]} as arrays or shapes (kernel (3, 3, in, out), bias (out,)).
        backbone: "vgg19" / "vgg16".
        path: the file, for the message.
    """
    layout = layouts.get_layout(backbone)
    kind = f"{layout.name.upper()} weights file"
    missing = [name for name in layout.conv_layers if name not in layers]
    extra = sorted(name for name in layers if name not in layout.conv_layers and name not in TOP_LAYERS)
    if missing or extra:
        details = []
        if missing:
            details.append(f"missing layers {', '.join(missing)}")
        if extra:
            details.append(f"unexpected layers {', '.join(extra[:6])}{' ...' if len(extra) > 6 else ''}")
        raise ValueError(f"{path} is not a {kind} ({'; '.join(details)})")
    for name, kernel_shape in layout.kernel_shapes.items():
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
    check_layer_weights(_read_layers(path, layouts.get_layout(backbone), load=False), backbone, path)


def load_weights_file(path: str, backbone: str = "vgg19",
                      layers: Sequence[str] | None = None) -> dict[str, list[np.ndarray]]:
    """Reads and checks a weights file of `backbone`: every layer's shapes are checked, and the arrays of
    `layers` (default: every conv layer) are read.

    Returns:
        {conv layer name: [kernel float32 (3, 3, in, out), bias float32 (out,)]} for `layers`, in network
        order; top layers dropped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a weights file of `backbone` (wrong layers or shapes, not HDF5).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    layout = layouts.get_layout(backbone)
    wanted = layout.conv_layers if layers is None else tuple(layers)
    unknown = [name for name in wanted if name not in layout.conv_layers]
    if unknown:
        raise ValueError(f"not {layout.name} conv layers: {', '.join(unknown)}")
    stored = _read_layers(path, layout, load=set(wanted))
    check_layer_weights(stored, backbone, path)
    return {name: [np.asarray(w, dtype=np.float32) for w in stored[name]]
            for name in layout.conv_layers if name in wanted}


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
    layout = layouts.get_layout(backbone)
    model = layout.build_model()
    for name in layout.conv_layers:
        model.get_layer(name).set_weights(layers[name])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with files.atomic_path(path) as temp_path:
        model.save_weights(temp_path)
    return path
