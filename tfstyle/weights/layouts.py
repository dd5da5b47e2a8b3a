"""What a Keras weights file of each backbone holds: its conv layers, their kernel shapes, where Keras keeps it.

This is all that `tfstyle.weights` knows about the backbones. `tfstyle.features` builds its `Backbone`
specs (pooling layers, default content and style layers, the extractor) on these layouts: features
imports weights, never the reverse.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    import keras


@dataclasses.dataclass(frozen=True)
class WeightsLayout:
    """The conv weights of one VGG variant, as a Keras "notop" file stores them.

    Attributes:
        name: "vgg19" or "vgg16".
        conv_layers: conv layer names in network order, e.g. ("block1_conv1", ...); Keras names,
            `blockB_convC` = the paper's `conv{B}_{C}`.
        conv_filters: output channels of each conv layer, aligned with `conv_layers`.
        keras_application: name of the `keras.applications` constructor, e.g. "VGG19".
        keras_weights_file: the file name Keras downloads for `weights="imagenet"` without the
            top (into its cache folder `<keras home>/models/`).
    """

    name: str
    conv_layers: tuple[str, ...]
    conv_filters: tuple[int, ...]
    keras_application: str
    keras_weights_file: str

    @property
    def kernel_shapes(self) -> dict[str, tuple[int, int, int, int]]:
        """{conv layer name: kernel shape (3, 3, in_channels, out_channels)}; each bias is (out_channels,)."""
        shapes, in_channels = {}, 3
        for name, out_channels in zip(self.conv_layers, self.conv_filters, strict=True):
            shapes[name] = (3, 3, in_channels, out_channels)
            in_channels = out_channels
        return shapes

    def build_model(self, weights: str | None = None) -> keras.Model:
        """The Keras application without its top (imports Keras, hence TensorFlow, on first use).

        Args:
            weights: None (random init), "imagenet" (Keras downloads its file) or a weights file path.
        """
        import keras

        return getattr(keras.applications, self.keras_application)(include_top=False, weights=weights)


def _vgg(name: str, application: str, convs_per_block: tuple[int, ...]) -> WeightsLayout:
    filters_per_block = (64, 128, 256, 512, 512)
    conv_layers, conv_filters = [], []
    for block, (count, filters) in enumerate(zip(convs_per_block, filters_per_block, strict=True), start=1):
        conv_layers += [f"block{block}_conv{index}" for index in range(1, count + 1)]
        conv_filters += [filters] * count
    return WeightsLayout(name, tuple(conv_layers), tuple(conv_filters), application,
                         f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5")


LAYOUTS: dict[str, WeightsLayout] = {
    "vgg19": _vgg("vgg19", "VGG19", (2, 2, 4, 4, 4)),
    "vgg16": _vgg("vgg16", "VGG16", (2, 2, 3, 3, 3)),
}


def get_layout(backbone: str) -> WeightsLayout:
    """Looks a layout up by backbone name; ValueError naming the valid ones otherwise."""
    if backbone not in LAYOUTS:
        raise ValueError(f"unknown backbone {backbone!r}: use one of {', '.join(LAYOUTS)}")
    return LAYOUTS[backbone]
