"""The per-style image transformation network as a Keras functional builder.

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
"""

from __future__ import annotations

import keras

from tfstyle import layers
from tfstyle.geometry import MIN_SIZE, SIZE_MULTIPLE  # noqa: F401 - the network's size rule, beside its builder

VALUE_RANGE = "unit"  # inputs and outputs in [0, 1] (`tfstyle.export`'s name for it)


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
