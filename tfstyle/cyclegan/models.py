"""CycleGAN networks as Keras functional builders: the ResNet generator and the PatchGAN discriminator.

Architectures of Zhu et al. 2017 ("Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", appendix 7.2), layer for layer as in the reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix, `models/networks.py`: `ResnetGenerator`, `ResnetBlock`,
`NLayerDiscriminator`), so that parameter counts, output sizes and pixel alignment are the
reference's:

* generator `resnet_9blocks` (paper: for 256 px images) or `resnet_6blocks` (128 px):
  c7s1-64, d128, d256, R256 x n, u128, u64, c7s1-3, then tanh. 11,378,179 parameters for 9
  blocks and ngf 64 (~11.4 M);
* discriminator: the 70x70 PatchGAN C64-C128-C256-C512 then a 1-channel convolution;
  2,764,737 parameters for ndf 64 and 3 layers (~2.8 M).

Choices, and deviations from the paper text:

* Instance normalisation is `keras.layers.GroupNormalization(groups=-1, epsilon=1e-5,
  center=False, scale=False)`: one group per channel = instance norm, without affine
  parameters and without running statistics, exactly as the reference's default
  `nn.InstanceNorm2d(affine=False, track_running_stats=False)` (no TensorFlow Addons). Keras
  computes it in float32 even under a mixed-precision policy.
* Every convolution followed by instance norm keeps its bias, as the reference does
  (`use_bias = norm_layer == nn.InstanceNorm2d`). The norm cancels that bias, so it is dead
  weight, but it is part of the published parameter counts.
* Zero padding is explicit (`ZeroPadding2D(1)` then a "valid" convolution) and transposed
  convolutions are "valid" then cropped by one pixel at the top/left: the same sampling grid
  as PyTorch's `padding=1` (and `output_padding=1`). Keras "same" padding would shift each
  strided layer by one pixel and change the discriminator's output size.
* Weights are initialised N(0, 0.02), biases 0 (reference `init_type="normal"`, gain 0.02).
* No dropout in the generator (the reference's CycleGAN default, `--no_dropout`).

Tensors: images are float [B, H, W, 3] in [-1, 1] (`tfstyle.images.to_signed`); the
generator returns float32 [B, H, W, 3] in [-1, 1] (tanh) and the discriminator float32 logits
[B, h, w, 1] (raw, no sigmoid: LSGAN and the vanilla GAN's sigmoid cross-entropy take
logits). Both end in a layer with dtype float32, so their outputs are float32 under any
mixed-precision policy.
"""

from __future__ import annotations

import re

import keras

from tfstyle import layers

# The generator's size rule lives in the TensorFlow-free `geometry` (the training config checks it
# before TensorFlow loads); imported here so callers of the builders find it beside them.
from tfstyle.geometry import MIN_SIZE, SIZE_MULTIPLE, check_generator_size  # noqa: F401
from tfstyle.layers import ReflectionPadding2D  # noqa: F401 - where the builders' users found it first

# `--generator` names of the paper -> number of residual blocks. `build_generator` also
# accepts any "resnet_<n>blocks" (the tests use 1-2 blocks).
GENERATORS = {"resnet_9blocks": 9, "resnet_6blocks": 6}

_RESNET_NAME = re.compile(r"resnet_(\d+)blocks")
_NORMS = ("instance", "none")


def _weights() -> keras.initializers.Initializer:
    """A fresh N(0, 0.02) initializer (one per layer: an unseeded instance reused gives equal weights)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _instance_norm(name: str) -> keras.layers.Layer:
    """Instance normalisation without affine parameters (see the module docstring)."""
    return layers.instance_norm(name, affine=False)


def _conv(filters: int, kernel_size: int, strides: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="valid", kernel_initializer=_weights(), name=name
    )


def _resnet_block(x, filters: int, name: str):
    """R<filters>: x + [reflect-pad 1, conv 3x3, IN, ReLU, reflect-pad 1, conv 3x3, IN](x), no ReLU after."""
    y = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    y = _conv(filters, 3, 1, f"{name}_conv1")(y)
    y = _instance_norm(f"{name}_norm1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu")(y)
    y = ReflectionPadding2D(1, name=f"{name}_pad2")(y)
    y = _conv(filters, 3, 1, f"{name}_conv2")(y)
    y = _instance_norm(f"{name}_norm2")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def build_resnet_generator(n_blocks: int = 9, ngf: int = 64, name: str = "generator") -> keras.Model:
    """ResNet generator of the paper's appendix 7.2: c7s1-ngf, d2ngf, d4ngf, R4ngf x n, u2ngf, ungf, c7s1-3.

    Paper names -> layer names (ngf = 64):
    c7s1-64 `c7s1_64` (reflect-pad 3, conv 7x7 stride 1, IN, ReLU); d128, d256 `d128`, `d256`
    (zero-pad 1, conv 3x3 stride 2, IN, ReLU); R256 `r256_<i>` (residual block, reflection
    padding); u128, u64 `u128`, `u64` (transposed conv 3x3 stride 2, IN, ReLU); c7s1-3
    `c7s1_3` (reflect-pad 3, conv 7x7, no norm) and `tanh` (float32).

    Input: `image`, float [B, H, W, 3] in [-1, 1], any H, W that are multiples of
    `SIZE_MULTIPLE` (4) and >= 8. Other sizes run but give a 4 * ceil(H / 4) x 4 * ceil(W / 4)
    output, like the reference; pad first and crop back (the translate command does).

    Args:
        n_blocks: residual blocks at 1/4 resolution (9 in the paper for 256 px, 6 for 128 px).
        ngf: filters of the first convolution (64 in the paper); the widest layers have 4 * ngf.
        name: the Keras model's name (e.g. "generator_ab").

    Returns:
        A functional `keras.Model` [B, H, W, 3] -> float32 [B, H, W, 3] in [-1, 1]; weights
        N(0, 0.02), biases 0. 11,378,179 parameters at n_blocks 9, ngf 64.

    Raises:
        ValueError: n_blocks < 0 or ngf < 1.
    """
    if n_blocks < 0 or ngf < 1:
        raise ValueError(f"need n_blocks >= 0 and ngf >= 1, got n_blocks={n_blocks}, ngf={ngf}")
    inputs = keras.Input(shape=(None, None, 3), name="image")

    x = ReflectionPadding2D(3, name="c7s1_pad")(inputs)  # (B, H + 6, W + 6, 3)
    x = _conv(ngf, 7, 1, f"c7s1_{ngf}")(x)  # (B, H, W, ngf)
    x = _instance_norm(f"c7s1_{ngf}_norm")(x)
    x = keras.layers.ReLU(name=f"c7s1_{ngf}_relu")(x)

    filters = ngf
    for _ in range(2):  # d2ngf, d4ngf: (B, H/2, W/2, 2 ngf), then (B, H/4, W/4, 4 ngf)
        filters *= 2
        x = keras.layers.ZeroPadding2D(1, name=f"d{filters}_pad")(x)
        x = _conv(filters, 3, 2, f"d{filters}")(x)
        x = _instance_norm(f"d{filters}_norm")(x)
        x = keras.layers.ReLU(name=f"d{filters}_relu")(x)

    for index in range(n_blocks):  # (B, H/4, W/4, 4 ngf)
        x = _resnet_block(x, filters, name=f"r{filters}_{index + 1}")

    for _ in range(2):  # u2ngf, ungf: (B, H/2, W/2, 2 ngf), then (B, H, W, ngf)
        filters //= 2
        # PyTorch ConvTranspose2d(k3, s2, padding=1, output_padding=1) = "valid" (2h + 1 px) less row/col 0.
        x = keras.layers.Conv2DTranspose(
            filters, 3, strides=2, padding="valid", kernel_initializer=_weights(), name=f"u{filters}"
        )(x)
        x = keras.layers.Cropping2D(((1, 0), (1, 0)), name=f"u{filters}_crop")(x)
        x = _instance_norm(f"u{filters}_norm")(x)
        x = keras.layers.ReLU(name=f"u{filters}_relu")(x)

    x = ReflectionPadding2D(3, name="c7s1_3_pad")(x)
    x = _conv(3, 7, 1, "c7s1_3")(x)  # (B, H, W, 3)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def build_generator(
    name: str = "resnet_9blocks", ngf: int = 64, *, name_prefix: str = "generator"
) -> keras.Model:
    """The generator called `name` (the `--generator` flag), as a Keras model named `name_prefix`.

    Args:
        name: "resnet_9blocks" or "resnet_6blocks" (`GENERATORS`), or any "resnet_<n>blocks".
        ngf: filters of the first convolution.
        name_prefix: the Keras model's name, e.g. "generator_ab" (G: A -> B) or "generator_ba" (F).

    Returns:
        See `build_resnet_generator`.

    Raises:
        ValueError: unknown generator name.
    """
    match = _RESNET_NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"unknown generator {name!r}: expected one of {sorted(GENERATORS)} or resnet_<n>blocks"
        )
    return build_resnet_generator(int(match.group(1)), ngf, name=name_prefix)


def patch_receptive_field(n_layers: int = 3) -> int:
    """Side in px of the input window seen by one output logit of `build_patch_discriminator`.

    4x4 kernels: n_layers convolutions of stride 2, then two of stride 1. Walking back from
    one logit, each layer maps a window of r px to (r - 1) * stride + 4 px: 70 for n_layers 3
    (the "70x70 PatchGAN"), 34 for 2, 142 for 4.
    """
    size = 1
    for stride in [1, 1] + [2] * n_layers:  # walk back from the output
        size = (size - 1) * stride + 4
    return size


def build_patch_discriminator(
    ndf: int = 64, n_layers: int = 3, name: str = "discriminator", *, norm: str = "instance"
) -> keras.Model:
    """PatchGAN discriminator (Isola et al. 2017; Zhu et al. 2017, appendix 7.2): C64-C128-C256-C512-1.

    Paper names -> layer names (ndf = 64, n_layers = 3): C64 `c64` (zero-pad 1, conv 4x4
    stride 2, LeakyReLU 0.2, no norm); C128, C256 `c128`, `c256` (stride 2, IN, LeakyReLU);
    C512 `c512` (stride 1, IN, LeakyReLU); `logits` (zero-pad 1, conv 4x4 stride 1 to one
    channel, linear, float32). Widths double per layer up to 8 * ndf.

    Each output logit sees a `patch_receptive_field(n_layers)` px square of the input (70 px
    at n_layers 3) through the convolutions; instance norm adds a dependence on the whole
    image through its mean and variance.

    Input: `image`, float [B, H, W, 3] in [-1, 1]; H, W >= 2 ** n_layers * 3 (24 px at 3 layers).

    Args:
        ndf: filters of the first convolution (64 in the paper).
        n_layers: stride-2 convolutions (3: the 70x70 PatchGAN).
        name: the Keras model's name (e.g. "discriminator_a").
        norm: "instance" (the paper) or "none" (no normalisation; biases kept).

    Returns:
        A functional `keras.Model` [B, H, W, 3] -> float32 logits [B, h, w, 1] with
        h = H // 2 ** n_layers - 2 (30 x 30 for 256 px at n_layers 3). 2,764,737 parameters at
        ndf 64, n_layers 3.

    Raises:
        ValueError: ndf < 1, n_layers < 1 or an unknown norm.
    """
    if ndf < 1 or n_layers < 1:
        raise ValueError(f"need ndf >= 1 and n_layers >= 1, got ndf={ndf}, n_layers={n_layers}")
    if norm not in _NORMS:
        raise ValueError(f"unknown norm {norm!r}: expected one of {_NORMS}")
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = inputs
    names = set()
    for index in range(n_layers + 1):
        filters = ndf * min(2**index, 8)
        strides = 2 if index < n_layers else 1  # (B, H / 2 ** (index + 1), ...), then -1 px at stride 1
        layer = f"c{filters}" if f"c{filters}" not in names else f"c{filters}_{index + 1}"  # 8 ndf repeats
        names.add(layer)
        x = keras.layers.ZeroPadding2D(1, name=f"{layer}_pad")(x)
        x = _conv(filters, 4, strides, layer)(x)
        if index > 0 and norm == "instance":
            x = _instance_norm(f"{layer}_norm")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{layer}_lrelu")(x)
    x = keras.layers.ZeroPadding2D(1, name="logits_pad")(x)
    x = _conv(1, 4, 1, "logits_conv")(x)  # (B, h, w, 1)
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
