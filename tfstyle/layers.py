"""Layers the image networks share: reflection padding and instance normalisation.

The CycleGAN generator (`tfstyle.cyclegan.models`) and the feed-forward style networks (`tfstyle.fast.models`)
are built from these, so both pad and normalise the same way. Tensors are channels-last [B, H, W, C].
"""

from __future__ import annotations

import keras
import tensorflow as tf


def instance_norm(name: str, affine: bool = False) -> keras.layers.Layer:
    """Instance normalisation (Ulyanov et al. 2016): each channel of each image to zero mean and unit variance
    over its H x W positions, y = (x - mu) / sqrt(var + 1e-5), then gamma * y + beta when `affine`.

    `keras.layers.GroupNormalization(groups=-1)`: one group per channel; no running statistics, so
    training and inference compute the same thing. Keras computes it in float32 under mixed precision.
    `affine=False` is PyTorch's `nn.InstanceNorm2d` default (the CycleGAN reference); `affine=True`
    (learned per-channel gamma, beta) is what the feed-forward style networks use.
    """
    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, center=affine, scale=affine, name=name)


@keras.saving.register_keras_serializable(package="tfstyle")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads the two spatial axes of [B, H, W, C] images by mirroring them (edge pixel not repeated).

    The counterpart of PyTorch's `nn.ReflectionPad2d` (`tf.pad(mode="REFLECT")`): padding
    [1, 2, 3] by 2 gives [3, 2, 1, 2, 3, 2, 1]. Each padding must be smaller than the padded
    size (tf.pad raises at run time otherwise). Any float dtype; the padding is exact, so it
    runs in the layer's compute dtype under mixed precision.

    Args:
        padding: an int (the same on all four sides) or ((top, bottom), (left, right)), in px.

    Shape: [B, H, W, C] -> [B, H + top + bottom, W + left + right, C]; None sizes stay None.
    """

    def __init__(self, padding: int | tuple = 1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        if len(padding) != 2 or any(len(pair) != 2 for pair in padding) or min(min(padding)) < 0:
            raise ValueError(f"padding must be an int >= 0 or ((top, bottom), (left, right)), got {padding}")
        self.padding = padding

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return tf.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        (top, bottom), (left, right) = self.padding
        height = None if height is None else height + top + bottom
        width = None if width is None else width + left + right
        return (batch, height, width, channels)

    def get_config(self):
        config = super().get_config()
        config["padding"] = [list(pair) for pair in self.padding]
        return config




@keras.saving.register_keras_serializable(package="tfstyle")
class NearestUpsampling2D(keras.layers.Layer):
    """Doubles H and W by repeating each pixel 2 x 2 (nearest-neighbour), the "resize" of a resize-convolution.

    The values of `keras.layers.UpSampling2D(2, interpolation="nearest")`, computed by stacking and reshaping
    instead of an image resize: the LiteRT converter loses the channel count of a resize with a dynamic
    output size and then refuses the convolution after it, while stack and reshape keep it.

    Shape: [B, H, W, C] -> [B, 2H, 2W, C]; any dtype.
    """

    def call(self, inputs):
        shape = tf.shape(inputs)
        batch, height, width, channels = shape[0], shape[1], shape[2], inputs.shape[-1]
        wide = tf.reshape(tf.stack([inputs, inputs], axis=3), [batch, height, 2 * width, channels])
        return tf.reshape(tf.stack([wide, wide], axis=2), [batch, 2 * height, 2 * width, channels])

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, None if height is None else 2 * height, None if width is None else 2 * width, channels)
