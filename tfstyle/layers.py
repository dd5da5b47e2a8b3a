"""Layers the image networks share: reflection padding, instance normalisation (plain, AdaIN and conditioned on a
style vector) and nearest upsampling.

The CycleGAN generator (`tfstyle.cyclegan.models`) and the feed-forward style networks (`tfstyle.fast.models`)
are built from these, so both pad and normalise the same way. Tensors are channels-last [B, H, W, C].
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfstyle import losses


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


@keras.saving.register_keras_serializable(package="tfstyle")
class ClipToUnit(keras.layers.Layer):
    """Clips to [0, 1] on the way forward and passes the gradient through unchanged (a straight-through clip):
    y = x + stop_gradient(clip(x, 0, 1) - x). The output is always a valid image, and a pixel driven out of
    range still learns, which a sigmoid at saturation (or a plain clip) would stop. Output float32."""

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        return x + tf.stop_gradient(tf.clip_by_value(x, 0.0, 1.0) - x)


def adaptive_instance_norm(content, style_mean, style_std, alpha=1.0, eps: float = 1e-5) -> tf.Tensor:
    """AdaIN (Huang & Belongie 2017, eq. 8), with their content-style trade-off (eq. 14):

        AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y)
        T = alpha AdaIN(x, y) + (1 - alpha) x

    mu and sigma are per image and channel over the positions (`tfstyle.losses.feature_mean` / `feature_std`).

    Args:
        content: float [B, h, w, C], the content image's encoder features x.
        style_mean, style_std: float32 [B or 1, C], mu(y) and sigma(y) of the style's features (a blend of
            several styles is the weighted sum of their means and of their standard deviations).
        alpha: float scalar or [B or 1] in [0, 1]: 1 = the style's statistics, 0 = x unchanged.
        eps: added to the variance of x.

    Returns:
        float32 [B, h, w, C].
    """
    x = tf.cast(content, tf.float32)
    mean = losses.feature_mean(x)[:, None, None, :]
    std = losses.feature_std(x, eps)[:, None, None, :]
    styled = (x - mean) / std * tf.cast(style_std, tf.float32)[:, None, None, :] \
        + tf.cast(style_mean, tf.float32)[:, None, None, :]
    alpha = tf.reshape(tf.cast(alpha, tf.float32), [-1, 1, 1, 1])
    return alpha * styled + (1.0 - alpha) * x


@keras.saving.register_keras_serializable(package="tfstyle")
class AdaptiveInstanceNorm(keras.layers.Layer):
    """`adaptive_instance_norm` with the style given as features: [content, style, alpha] -> T.

    Inputs: content features float [B, h, w, C]; style features float [S, h', w', C] with S = 1 (one style for
    the batch) or B; alpha float32 [1] or [B]. Output float32 [B, h, w, C]. No weights.
    """

    def call(self, inputs):
        content, style, alpha = inputs
        return adaptive_instance_norm(content, losses.feature_mean(style), losses.feature_std(style), alpha)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="tfstyle")
class FixedStyleNorm(keras.layers.Layer):
    """`adaptive_instance_norm` towards a style held in the layer: content features -> T.

    Non-trainable weights `style_mean`, `style_std` (float32 [1, C]) and `alpha` (float32 [1]), set by
    `set_style`, so that one traced network serves any style or blend without retracing, and an export of
    the network carries its style.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.style_mean = self.add_weight(shape=(1, self.channels), initializer="zeros", trainable=False,
                                          name="style_mean", dtype="float32")
        self.style_std = self.add_weight(shape=(1, self.channels), initializer="ones", trainable=False,
                                         name="style_std", dtype="float32")
        self.alpha = self.add_weight(shape=(1,), initializer="ones", trainable=False, name="alpha", dtype="float32")

    def set_style(self, mean, std, alpha: float = 1.0) -> None:
        """mean, std: float [1, C] or [C]; alpha in [0, 1]."""
        self.style_mean.assign(tf.reshape(tf.cast(mean, tf.float32), [1, self.channels]))
        self.style_std.assign(tf.reshape(tf.cast(std, tf.float32), [1, self.channels]))
        self.alpha.assign([float(alpha)])

    def call(self, content):
        return adaptive_instance_norm(content, self.style_mean, self.style_std, self.alpha)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}



@keras.saving.register_keras_serializable(package="tfstyle")
class ConditionalInstanceNorm(keras.layers.Layer):
    """Conditional instance normalisation whose scale and shift are predicted from a style vector (Ghiasi et al.
    2017, after Dumoulin et al. 2017): [x, s] -> gamma(s) (x - mu(x)) / sqrt(var(x) + eps) + beta(s), with
    gamma(s) = s W_gamma + b_gamma and beta(s) = s W_beta + b_beta (one linear map each, learned).

    Inputs: x float [B, h, w, C]; s float [B, D] (or [1, D] for the whole batch). Output [B, h, w, C] in the
    layer's compute dtype; the statistics are taken in float32 (mu, var per image and channel over h x w).

    Weights: `gamma_kernel` [D, C], `gamma_bias` [C], `beta_kernel` [D, C], `beta_bias` [C].
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        x_shape, style_shape = input_shape
        channels, dimension = int(x_shape[-1]), int(style_shape[-1])
        for name, initializer in (("gamma", "ones"), ("beta", "zeros")):
            setattr(self, f"{name}_kernel", self.add_weight(shape=(dimension, channels), initializer="zeros",
                                                            name=f"{name}_kernel"))
            setattr(self, f"{name}_bias", self.add_weight(shape=(channels,), initializer=initializer,
                                                          name=f"{name}_bias"))

    def call(self, inputs):
        x, style = inputs
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, axes=[1, 2], keepdims=True)
        style = tf.cast(style, tf.float32)
        gamma = tf.matmul(style, tf.cast(self.gamma_kernel, tf.float32)) + tf.cast(self.gamma_bias, tf.float32)
        beta = tf.matmul(style, tf.cast(self.beta_kernel, tf.float32)) + tf.cast(self.beta_bias, tf.float32)
        normalised = (x32 - mean) * tf.math.rsqrt(variance + self.epsilon)
        return tf.cast(normalised * gamma[:, None, None, :] + beta[:, None, None, :], self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
