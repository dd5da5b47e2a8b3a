"""The VGG feature extractor: backbones, caffe preprocessing and layer names live here only.

Gatys et al. (2016), "Image Style Transfer Using Convolutional Neural Networks", take content
and style representations from the ImageNet VGG19 of Simonyan & Zisserman (2014): the responses
F^l of conv layer l (`blockB_convC` = the paper's `conv{B}_{C}`; Keras names are used throughout).
This module builds a Keras functional model that maps an RGB image in [0, 1] to a dict of those
responses, doing the network's own input normalisation ("caffe": BGR, 0-255, mean-subtracted)
inside, so nothing else in tfstyle needs to know about it.

Where the weights come from (Keras' ImageNet file, the offline 8-bit copy, a file, or none) is
decided by `tfstyle.weights`, which this module asks to resolve and load a file; `tfstyle.weights`
knows only files, layer names and shapes, and never imports this module.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

import keras
import numpy as np

from tfstyle import weights as weights_lib

logger = logging.getLogger(__name__)

# Caffe/ImageNet channel means in BGR order, on the 0-255 scale (the values Keras uses in
# `keras.applications.imagenet_utils.preprocess_input(mode="caffe")`).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

POOLING_MODES = ("max", "avg")
# Seed of the "random" (not pretrained) weights; layer i is drawn with seed RANDOM_WEIGHTS_SEED + i.
RANDOM_WEIGHTS_SEED = 1989


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One VGG variant: how to build it, its layer names and its defaults.

    Its conv layers, their shapes and Keras' file name come from the backbone's weights layout
    (`tfstyle.weights.LAYOUTS`, what a weights file of it holds); the rest is the extractor's.

    Attributes:
        name: "vgg19" or "vgg16".
        weights_layout: the conv layers and kernel shapes a weights file of it holds.
        application: the `keras.applications` constructor (called with `include_top=False`).
        pool_layers: max-pool layer names in network order ("block1_pool", ..., "block5_pool").
        content_layers: default content layers (Gatys et al.: conv4_2).
        style_layers: default style layers (Gatys et al.: conv1_1, conv2_1, ..., conv5_1).
    """

    name: str
    weights_layout: weights_lib.WeightsLayout
    application: Callable[..., keras.Model]
    pool_layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]

    @property
    def conv_layers(self) -> tuple[str, ...]:
        """Conv layer names in network order, e.g. ("block1_conv1", ...)."""
        return self.weights_layout.conv_layers

    @property
    def conv_filters(self) -> tuple[int, ...]:
        """Output channels of each conv layer, aligned with `conv_layers`."""
        return self.weights_layout.conv_filters

    @property
    def kernel_shapes(self) -> dict[str, tuple[int, int, int, int]]:
        """{conv layer name: kernel shape (3, 3, in_channels, out_channels)}."""
        return self.weights_layout.kernel_shapes

    @property
    def keras_weights_file(self) -> str:
        """The file name Keras downloads for `weights="imagenet"` without the top."""
        return self.weights_layout.keras_weights_file

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Every conv and pool layer name in network order."""
        names = []
        for block, pool in enumerate(self.pool_layers, start=1):
            names += [name for name in self.conv_layers if name.startswith(f"block{block}_")]
            names.append(pool)
        return tuple(names)


def _vgg(layout: weights_lib.WeightsLayout) -> Backbone:
    return Backbone(
        name=layout.name,
        weights_layout=layout,
        application=getattr(keras.applications, layout.keras_application),
        pool_layers=tuple(f"block{block}_pool" for block in range(1, 6)),
        content_layers=("block4_conv2",),
        style_layers=tuple(f"block{block}_conv1" for block in range(1, 6)),
    )


BACKBONES: dict[str, Backbone] = {name: _vgg(layout) for name, layout in weights_lib.LAYOUTS.items()}
DEFAULT_BACKBONE = "vgg19"


def get_backbone(backbone: str | Backbone) -> Backbone:
    """Looks a backbone up by name; ValueError naming the valid ones otherwise."""
    if isinstance(backbone, Backbone):
        return backbone
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}: use one of {', '.join(BACKBONES)}")
    return BACKBONES[backbone]


def default_layers(backbone: str | Backbone = DEFAULT_BACKBONE) -> tuple[str, ...]:
    """The backbone's default content layers followed by its default style layers (no repeats)."""
    spec = get_backbone(backbone)
    return tuple(dict.fromkeys(spec.content_layers + spec.style_layers))


def _check_layers(spec: Backbone, layers: Sequence[str]) -> tuple[str, ...]:
    """Validates layer names; returns them as a tuple without repeats, in the given order."""
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(dict.fromkeys(layers))
    if not layers:
        raise ValueError("no feature layers requested")
    unknown = [name for name in layers if name not in spec.layer_names]
    if unknown:
        raise ValueError(
            f"unknown {spec.name} layer(s) {', '.join(unknown)}: "
            f"valid names are {', '.join(spec.layer_names)}"
        )
    return layers


def _deepest(spec: Backbone, layers: Sequence[str]) -> str:
    return max(layers, key=spec.layer_names.index)


# ---------------------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------------------


def preprocess(image):
    """RGB in [0, 1] -> the VGG's "caffe" input: x * 255, RGB -> BGR, minus the BGR ImageNet mean.

    Equal to `keras.applications.vgg19.preprocess_input(image * 255)`; no division by a
    standard deviation (the original Caffe VGG was trained that way).

    Args:
        image: float [B, H, W, 3] RGB in [0, 1] (tensor, array or KerasTensor).

    Returns:
        float32 [B, H, W, 3] BGR, roughly in [-124, 152].
    """
    image = keras.ops.cast(image, "float32")
    bgr = keras.ops.flip(image * 255.0, axis=-1)
    return bgr - keras.ops.convert_to_tensor(np.asarray(CAFFE_BGR_MEAN, dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------


def min_image_size(backbone: str | Backbone = DEFAULT_BACKBONE, layers: Sequence[str] | None = None) -> int:
    """Smallest input side, in px, for which the deepest requested layer still has >= 1 px.

    Each 2x2 / stride 2 pooling before a layer floors its input side by half, so a layer after
    `n` poolings needs a side of at least 2**n (block5_conv1 of VGG19: 16 px).

    Args:
        backbone: backbone name or spec.
        layers: layer names; None means `default_layers(backbone)`.
    """
    spec = get_backbone(backbone)
    layers = _check_layers(spec, default_layers(spec) if layers is None else layers)
    order = spec.layer_names
    deepest = _deepest(spec, layers)
    pools_before = sum(1 for name in order[: order.index(deepest) + 1] if name in spec.pool_layers)
    return 2**pools_before


def check_image_size(height: int, width: int, backbone: str | Backbone = DEFAULT_BACKBONE,
                     layers: Sequence[str] | None = None) -> None:
    """Raises ValueError when an image of `height` x `width` px is too small for `layers`.

    The message gives the size as width x height, e.g. "image is 12x9 px; the vgg19 layers up
    to block5_conv1 need at least 16 px on each side".
    """
    spec = get_backbone(backbone)
    layers = _check_layers(spec, default_layers(spec) if layers is None else layers)
    minimum = min_image_size(spec, layers)
    if min(height, width) < minimum:
        raise ValueError(
            f"image is {width}x{height} px; the {spec.name} layers up to {_deepest(spec, layers)} "
            f"need at least {minimum} px on each side"
        )


# ---------------------------------------------------------------------------------------------
# The extractor
# ---------------------------------------------------------------------------------------------


def build_feature_extractor(
    backbone: str = DEFAULT_BACKBONE,
    layers: Sequence[str] | None = None,
    weights: str = "auto",
    pooling: str = "max",
    cache_dir: str | None = None,
) -> keras.Model:
    """Builds a frozen VGG that maps an RGB image to a dict of layer responses.

    The network is cut after the deepest requested layer: nothing beyond it is built or run.

    Args:
        backbone: "vgg19" (default, as in Gatys et al.) or "vgg16".
        layers: layer names (see `BACKBONES[backbone].layer_names`); None means the backbone's
            default content + style layers.
        weights: "auto", "imagenet", "random" or a path to a weights file; see
            `tfstyle.weights.resolve_weights`.
        pooling: "max" (the trained network) or "avg". Gatys et al. replace max pooling by
            average pooling for image synthesis ("slightly more appealing results"); the conv
            weights are unchanged, only the pooling layers are swapped.
        cache_dir: folder for converted weights; None means `tfstyle.weights.default_cache_dir()`.

    Returns:
        A non-trainable `keras.Model` named "<backbone>_features":
        input float32 [B, H, W, 3] RGB in [0, 1], any H, W >= `min_image_size(backbone, layers)`;
        output {layer name: features [B, h, w, C]} in the order of `layers`, float32 (or the
        compute dtype of the global mixed-precision policy: cast before computing losses).
        The "caffe" preprocessing runs inside the model, in float32.

    Raises:
        ValueError: unknown backbone, layer or pooling; a weights file of the wrong kind.
        FileNotFoundError: `weights="auto"` found no weights (the message says how to get them).
    """
    spec = get_backbone(backbone)
    layers = _check_layers(spec, default_layers(spec) if layers is None else layers)
    if pooling not in POOLING_MODES:
        raise ValueError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLING_MODES)}")
    resolved = weights_lib.resolve_weights(spec.name, weights, cache_dir=cache_dir)
    deepest = _deepest(spec, layers)

    # Only the layers up to `deepest` are built, as `keras.applications` defines them (3x3 "same" convs with
    # ReLU, 2x2 / stride 2 pools; `test_extractor_matches_the_keras_application` pins it), and only their
    # weights are read: building the whole application first, with random initial weights, and reading
    # every layer of the file took 0.3 s of the start-up.
    stored = resolved.path is not None
    inputs = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    # float32 even under mixed precision: the mean subtraction would lose ~0.1 in float16.
    x = keras.layers.Lambda(preprocess, name="caffe_preprocess", dtype="float32")(inputs)
    needed = spec.layer_names[: spec.layer_names.index(deepest) + 1]
    filters = dict(zip(spec.conv_layers, spec.conv_filters, strict=True))
    taps = {}
    for index, name in enumerate(needed):
        if name in filters:  # no random initialisation when the weights are read next
            # "random" weights are seeded per layer: the same network in every process, so scores made with it
            # (tests, ablations) compare across runs
            initializer = "zeros" if stored else keras.initializers.GlorotUniform(seed=RANDOM_WEIGHTS_SEED + index)
            layer = keras.layers.Conv2D(filters[name], 3, padding="same", activation="relu", name=name,
                                        kernel_initializer=initializer)
        elif pooling == "avg":
            layer = keras.layers.AveragePooling2D(pool_size=2, strides=2, name=name)
        else:
            layer = keras.layers.MaxPooling2D(pool_size=2, strides=2, name=name)
        x = layer(x)  # (B, h, w, C)
        if name in layers:
            taps[name] = x
    model = keras.Model(inputs, {name: taps[name] for name in layers}, name=f"{spec.name}_features")

    if stored:
        convs = [name for name in needed if name in filters]
        for name, values in weights_lib.load_weights_file(resolved.path, spec.name, layers=convs).items():
            model.get_layer(name).set_weights(values)
    model.trainable = False
    logger.info("%s features %s (%s pooling, up to %s); weights: %s",
                spec.name, ", ".join(layers), pooling, deepest, resolved.description)
    return model
