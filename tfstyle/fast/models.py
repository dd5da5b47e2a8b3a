"""The feed-forward style networks as Keras functional builders: the per-style transformer and the AdaIN decoder.

Per-style (`build_transformer`): one network per painting.

Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution"
(supplementary, table 1), with the changes the field adopted since:

* instance normalisation (Ulyanov, Vedaldi & Lempitsky 2016, "Instance Normalization: The Missing
  Ingredient for Fast Stylization") with learned scale and shift, instead of batch norm;
* reflection padding instead of zero padding, so no dark border (as in Johnson's own later code);
* resize-convolution upsampling, nearest x2 then a 3x3 convolution (Odena, Dumoulin & Olah 2016,
  "Deconvolution and Checkerboard Artifacts"), instead of fractionally-strided convolutions.

Layers, with f = `filters` (32 in the paper)::

    c9s1-f   reflect-pad 4, conv 9x9 stride 1, IN, ReLU                      (B, H, W, f)
    d2f      reflect-pad 1, conv 3x3 stride 2, IN, ReLU                      (B, H/2, W/2, 2f)
    d4f      reflect-pad 1, conv 3x3 stride 2, IN, ReLU                      (B, H/4, W/4, 4f)
    R4f x n  x + [reflect-pad 1, conv 3x3, IN, ReLU, reflect-pad 1, conv 3x3, IN](x)
    u2f      nearest x2, reflect-pad 1, conv 3x3, IN, ReLU                   (B, H/2, W/2, 2f)
    uf       nearest x2, reflect-pad 1, conv 3x3, IN, ReLU                   (B, H, W, f)
    c9s1-3   reflect-pad 4, conv 9x9 stride 1, then sigmoid                  (B, H, W, 3) in [0, 1]

The output is sigmoid(z) = (tanh(z / 2) + 1) / 2, the paper's scaled tanh moved to [0, 1]. With f = 32 and
n = 5: 1,679,235 parameters. Input float [B, H, W, 3] RGB in [0, 1], H and W multiples of
`tfstyle.geometry.SIZE_MULTIPLE` (4) and >= `MIN_SIZE` (8) (`tfstyle.export.translate_uint8` pads any
other size); output float32 [B, H, W, 3] in [0, 1] under any mixed-precision policy.

Arbitrary style (`build_decoder`, `build_arbitrary`, `build_fixed_style`): Huang & Belongie 2017, "Arbitrary
Style Transfer in Real-time with Adaptive Instance Normalization". The frozen VGG19 up to block4_conv1 (relu4_1,
`ENCODER_LAYER`, `tfstyle.features`) encodes the photo and the painting; AdaIN gives the photo's features the
painting's channel means and standard deviations (`tfstyle.layers.adaptive_instance_norm`, with the strength
alpha); a learned decoder, the encoder's mirror, turns them back into an image::

    block4  reflect-pad 1, conv 3x3, ReLU -> 4w                            (B, H/8, W/8, 4w)
            nearest x2; 3 x [reflect-pad 1, conv 3x3, ReLU] -> 4w          (B, H/4, W/4, 4w)
    block3  reflect-pad 1, conv 3x3, ReLU -> 2w
            nearest x2; reflect-pad 1, conv 3x3, ReLU -> 2w                (B, H/2, W/2, 2w)
    block2  reflect-pad 1, conv 3x3, ReLU -> w
            nearest x2; reflect-pad 1, conv 3x3, ReLU -> w                 (B, H, W, w)
    block1  reflect-pad 1, conv 3x3 -> 3, clipped to [0, 1]                (B, H, W, 3) in [0, 1]

with w = `width` (64: the paper's decoder, 3,505,219 parameters). No normalisation layers (the paper: they
would normalise the style away). The output is linear, as the paper's, clipped with a straight-through
gradient (`tfstyle.layers.ClipToUnit`): a sigmoid there saturated within the first step on relu4_1's
large activations and the loss stopped falling (a 30-step run at 32 px). The three pools of the encoder make
`ARBITRARY_SIZE_MULTIPLE` = 8 the size rule.
"""

from __future__ import annotations

import keras

from tfstyle import layers
from tfstyle.geometry import MIN_SIZE, SIZE_MULTIPLE  # noqa: F401 - the network's size rule, beside its builder

VALUE_RANGE = "unit"  # inputs and outputs in [0, 1] (`tfstyle.export`'s name for it)
ENCODER_LAYER = "block4_conv1"  # relu4_1: where AdaIN works (the extractor's convs include the ReLU)
ENCODER_CHANNELS = 512
ARBITRARY_SIZE_MULTIPLE = 8  # three 2x2 pools down to relu4_1, three x2 upsamplings back
CONTENT_INPUT, STYLE_INPUT, ALPHA_INPUT = "image", "style", "alpha"  # the arbitrary network's input names


def _conv_block(x, filters: int, kernel_size: int, strides: int, name: str, relu: bool = True):
    """reflect-pad (kernel_size // 2), conv kernel_size x kernel_size / strides ("valid"), IN, optional ReLU."""
    x = layers.ReflectionPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="valid", name=f"{name}_conv")(x)
    x = layers.instance_norm(f"{name}_norm", affine=True)(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual_block(x, filters: int, name: str):
    """R<filters>: x + [conv block, conv block without ReLU](x) (Johnson et al.'s residual block, padded)."""
    y = _conv_block(x, filters, 3, 1, f"{name}_a")
    y = _conv_block(y, filters, 3, 1, f"{name}_b", relu=False)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def build_transformer(filters: int = 32, residual_blocks: int = 5, name: str = "transformer") -> keras.Model:
    """Builds the image transformation network (see the module docstring).

    Args:
        filters: channels of the first convolution (f); the downsampling stages have 2f and 4f.
        residual_blocks: residual blocks at 1/4 resolution (n).
        name: the model's name.

    Returns:
        A `keras.Model` mapping float [B, H, W, 3] in [0, 1] to float32 [B, H, W, 3] in [0, 1].
    """
    if filters < 1 or residual_blocks < 0:
        raise ValueError(f"filters must be >= 1 and residual_blocks >= 0, got {filters}, {residual_blocks}")
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = _conv_block(inputs, filters, 9, 1, f"c9s1_{filters}")
    x = _conv_block(x, 2 * filters, 3, 2, f"d{2 * filters}")
    x = _conv_block(x, 4 * filters, 3, 2, f"d{4 * filters}")
    for index in range(residual_blocks):
        x = _residual_block(x, 4 * filters, f"r{4 * filters}_{index + 1}")
    for up in (2 * filters, filters):
        x = layers.NearestUpsampling2D(name=f"u{up}_resize")(x)
        x = _conv_block(x, up, 3, 1, f"u{up}")
    x = layers.ReflectionPadding2D(4, name="c9s1_3_pad")(x)
    x = keras.layers.Conv2D(3, 9, padding="valid", name="c9s1_3_conv")(x)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="to_unit_range")(x)
    return keras.Model(inputs, outputs, name=name)


def _decoder_conv(x, filters: int, name: str, relu: bool = True):
    """reflect-pad 1, conv 3x3 ("valid"), optional ReLU."""
    x = layers.ReflectionPadding2D(1, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(filters, 3, padding="valid", activation="relu" if relu else None, name=name)(x)


def build_decoder(width: int = 64, channels: int = ENCODER_CHANNELS, name: str = "decoder") -> keras.Model:
    """Builds the AdaIN decoder (see the module docstring): float [B, h, w, `channels`] features ->
    float32 [B, 8h, 8w, 3] in [0, 1]."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    inputs = keras.Input(shape=(None, None, channels), name="features")
    x = _decoder_conv(inputs, 4 * width, "block4_conv1")
    x = layers.NearestUpsampling2D(name="block3_up")(x)
    for index in (4, 3, 2):
        x = _decoder_conv(x, 4 * width, f"block3_conv{index}")
    x = _decoder_conv(x, 2 * width, "block3_conv1")
    x = layers.NearestUpsampling2D(name="block2_up")(x)
    x = _decoder_conv(x, 2 * width, "block2_conv2")
    x = _decoder_conv(x, width, "block2_conv1")
    x = layers.NearestUpsampling2D(name="block1_up")(x)
    x = _decoder_conv(x, width, "block1_conv2")
    x = _decoder_conv(x, 3, "block1_conv1", relu=False)
    outputs = layers.ClipToUnit(dtype="float32", name="to_unit_range")(x)
    return keras.Model(inputs, outputs, name=name)


def _encode(encoder: keras.Model, image):
    outputs = encoder(image)
    return outputs[ENCODER_LAYER] if isinstance(outputs, dict) else outputs


def build_arbitrary(encoder: keras.Model, decoder: keras.Model, name: str = "adain") -> keras.Model:
    """The arbitrary-style network: [photo, painting, alpha] -> stylised photo.

    Args:
        encoder: `tfstyle.features.build_feature_extractor` with `ENCODER_LAYER` among its layers (frozen).
        decoder: `build_decoder`'s model.

    Returns:
        A `keras.Model` with inputs `image` float32 [B, H, W, 3] in [0, 1] (H, W multiples of
        `ARBITRARY_SIZE_MULTIPLE`), `style` float32 [1 or B, H', W', 3] in [0, 1] (any size >= 8 px) and
        `alpha` float32 [1 or B] in [0, 1]; output float32 [B, H, W, 3] in [0, 1].
    """
    content = keras.Input(shape=(None, None, 3), name=CONTENT_INPUT)
    style = keras.Input(shape=(None, None, 3), name=STYLE_INPUT)
    alpha = keras.Input(shape=(), name=ALPHA_INPUT)
    target = layers.AdaptiveInstanceNorm(dtype="float32", name="adain")(
        [_encode(encoder, content), _encode(encoder, style), alpha])
    return keras.Model([content, style, alpha], decoder(target), name=name)


def build_fixed_style(encoder: keras.Model, decoder: keras.Model, name: str = "adain_fixed_style") -> keras.Model:
    """The arbitrary-style network with its style held inside: photo -> stylised photo.

    Its `FixedStyleNorm` layer (`model.get_layer("adain")`) holds the style's statistics and alpha; set
    them with `set_style(mean, std, alpha)`. Input float32 [B, H, W, 3] in [0, 1] (H, W multiples of
    `ARBITRARY_SIZE_MULTIPLE`); output float32 [B, H, W, 3] in [0, 1]: the shape of a per-style transformer,
    so the same inference and export code runs it.
    """
    content = keras.Input(shape=(None, None, 3), name=CONTENT_INPUT)
    target = layers.FixedStyleNorm(ENCODER_CHANNELS, dtype="float32", name="adain")(_encode(encoder, content))
    return keras.Model(content, decoder(target), name=name)

