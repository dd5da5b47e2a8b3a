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
import zlib

import keras
import numpy as np

from tfstyle import geometry, layers
from tfstyle.cyclegan import config as config_lib  # TensorFlow-free: the flag values it owns

# The generator's size rule lives in the TensorFlow-free `geometry` (the training config checks it
# before TensorFlow loads); imported here so callers of the builders find it beside them.
from tfstyle.geometry import MIN_SIZE, SIZE_MULTIPLE, check_generator_size  # noqa: F401
from tfstyle.layers import ReflectionPadding2D  # noqa: F401 - where the builders' users found it first

# `--generator` / `--netG` names of the reference -> (kind, depth): residual blocks of a ResNet generator, or
# stride-2 levels of a U-Net (`unet_<side>`: log2(side) levels, so a side x side input reaches 1 x 1).
# `build_generator` also accepts any "resnet_<n>blocks" and "unet_<2 ** k>" with k >= 5 (the tests use small ones).
GENERATORS = {"resnet_9blocks": 9, "resnet_6blocks": 6, "unet_256": 8, "unet_128": 7}
NORMS = geometry.NORMS

_RESNET_NAME = re.compile(r"resnet_(\d+)blocks")


def _weights() -> keras.initializers.Initializer:
    """A fresh N(0, 0.02) initializer (one per layer: an unseeded instance reused gives equal weights)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}: expected one of {', '.join(NORMS)}")


def _norm(norm: str, name: str) -> keras.layers.Layer | None:
    """The reference's `get_norm_layer`: "instance" = `nn.InstanceNorm2d(affine=False)` (no statistics kept),
    "batch" = `nn.BatchNorm2d(affine=True)` with running statistics (PyTorch momentum 0.1 = Keras 0.9,
    eps 1e-5), "none" = nothing (None)."""
    if norm == "instance":
        return layers.instance_norm(name, affine=False)
    if norm == "batch":
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
    return None


def _normalise(x, norm: str, name: str):
    layer = _norm(norm, name)
    return x if layer is None else layer(x)


def _conv(filters: int, kernel_size: int, strides: int, name: str, use_bias: bool = True,
          padding: str = "valid") -> keras.layers.Conv2D:
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, kernel_initializer=_weights(),
        name=name,
    )


def _conv_transpose(filters: int, kernel_size: int, name: str, use_bias: bool = True,
                    padding: str = "valid") -> keras.layers.Conv2DTranspose:
    """Stride-2 transposed convolution. "valid": (h - 1) * 2 + kernel_size px, which the caller crops to
    PyTorch's grid; "same": 2h px, PyTorch's grid itself for a 4x4 kernel with padding 1."""
    return keras.layers.Conv2DTranspose(
        filters, kernel_size, strides=2, padding=padding, use_bias=use_bias, kernel_initializer=_weights(),
        name=name,
    )


def _resnet_block(x, filters: int, name: str, norm: str = "instance", dropout: bool = False):
    """R<filters>: x + [reflect-pad 1, conv 3x3, norm, ReLU, (dropout 0.5), reflect-pad 1, conv 3x3, norm](x)."""
    use_bias = norm == "instance"
    y = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    y = _conv(filters, 3, 1, f"{name}_conv1", use_bias)(y)
    y = _normalise(y, norm, f"{name}_norm1")
    y = keras.layers.ReLU(name=f"{name}_relu")(y)
    if dropout:
        y = keras.layers.Dropout(0.5, name=f"{name}_dropout")(y)
    y = ReflectionPadding2D(1, name=f"{name}_pad2")(y)
    y = _conv(filters, 3, 1, f"{name}_conv2", use_bias)(y)
    y = _normalise(y, norm, f"{name}_norm2")
    return keras.layers.Add(name=f"{name}_add")([x, y])


def build_resnet_generator(n_blocks: int = 9, ngf: int = 64, name: str = "generator", *, norm: str = "instance",
                           dropout: bool = False, input_nc: int = 3, output_nc: int = 3) -> keras.Model:
    """ResNet generator of the paper's appendix 7.2: c7s1-ngf, d2ngf, d4ngf, R4ngf x n, u2ngf, ungf, c7s1-3.

    Paper names -> layer names (ngf = 64):
    c7s1-64 `c7s1_64` (reflect-pad 3, conv 7x7 stride 1, norm, ReLU); d128, d256 `d128`, `d256`
    (zero-pad 1, conv 3x3 stride 2, norm, ReLU); R256 `r256_<i>` (residual block, reflection
    padding); u128, u64 `u128`, `u64` (transposed conv 3x3 stride 2, norm, ReLU); c7s1-3
    `c7s1_3` (reflect-pad 3, conv 7x7, no norm) and `tanh` (float32).

    Input: `image`, float [B, H, W, input_nc] in [-1, 1], any H, W that are multiples of
    `SIZE_MULTIPLE` (4) and >= 8. Other sizes run but give a 4 * ceil(H / 4) x 4 * ceil(W / 4)
    output, like the reference; pad first and crop back (the translate command does).

    Args:
        n_blocks: residual blocks at 1/4 resolution (9 in the paper for 256 px, 6 for 128 px).
        ngf: filters of the first convolution (64 in the paper); the widest layers have 4 * ngf.
        name: the Keras model's name (e.g. "generator_ab").
        norm: "instance" (the paper), "batch" or "none" (`NORMS`). As in the reference, convolutions
            keep their bias only under instance norm (which cancels it: dead weight, but counted).
        dropout: dropout 0.5 inside each residual block (the reference without `--no_dropout`).
        input_nc, output_nc: channels in and out (1 = grey, 3 = RGB).

    Returns:
        A functional `keras.Model` [B, H, W, input_nc] -> float32 [B, H, W, output_nc] in [-1, 1];
        weights N(0, 0.02), biases 0. 11,378,179 parameters at n_blocks 9, ngf 64, instance norm.

    Raises:
        ValueError: n_blocks < 0, ngf < 1, a channel count other than 1 or 3, or an unknown norm.
    """
    if n_blocks < 0 or ngf < 1:
        raise ValueError(f"need n_blocks >= 0 and ngf >= 1, got n_blocks={n_blocks}, ngf={ngf}")
    _check_norm(norm)
    _check_channels(input_nc, output_nc)
    use_bias = norm == "instance"
    inputs = keras.Input(shape=(None, None, input_nc), name="image")

    x = ReflectionPadding2D(3, name="c7s1_pad")(inputs)  # (B, H + 6, W + 6, input_nc)
    x = _conv(ngf, 7, 1, f"c7s1_{ngf}", use_bias)(x)  # (B, H, W, ngf)
    x = _normalise(x, norm, f"c7s1_{ngf}_norm")
    x = keras.layers.ReLU(name=f"c7s1_{ngf}_relu")(x)

    filters = ngf
    for _ in range(2):  # d2ngf, d4ngf: (B, H/2, W/2, 2 ngf), then (B, H/4, W/4, 4 ngf)
        filters *= 2
        x = keras.layers.ZeroPadding2D(1, name=f"d{filters}_pad")(x)
        x = _conv(filters, 3, 2, f"d{filters}", use_bias)(x)
        x = _normalise(x, norm, f"d{filters}_norm")
        x = keras.layers.ReLU(name=f"d{filters}_relu")(x)

    for index in range(n_blocks):  # (B, H/4, W/4, 4 ngf)
        x = _resnet_block(x, filters, name=f"r{filters}_{index + 1}", norm=norm, dropout=dropout)

    for _ in range(2):  # u2ngf, ungf: (B, H/2, W/2, 2 ngf), then (B, H, W, ngf)
        filters //= 2
        # PyTorch ConvTranspose2d(k3, s2, padding=1, output_padding=1) = "valid" (2h + 1 px) less row/col 0.
        x = _conv_transpose(filters, 3, f"u{filters}", use_bias)(x)
        x = keras.layers.Cropping2D(((1, 0), (1, 0)), name=f"u{filters}_crop")(x)
        x = _normalise(x, norm, f"u{filters}_norm")
        x = keras.layers.ReLU(name=f"u{filters}_relu")(x)

    x = ReflectionPadding2D(3, name="c7s1_3_pad")(x)
    x = _conv(output_nc, 7, 1, "c7s1_3")(x)  # (B, H, W, output_nc)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def build_unet_generator(num_downs: int = 8, ngf: int = 64, name: str = "generator", *, norm: str = "batch",
                         dropout: bool = True, input_nc: int = 3, output_nc: int = 3) -> keras.Model:
    """U-Net generator of pix2pix (Isola et al. 2017, appendix 6.1.1), as the reference's `UnetGenerator`.

    Encoder C64-C128-C256-C512-C512-C512-C512-C512 (for num_downs 8): each level conv 4x4 stride 2 with
    PyTorch's padding 1 (Keras "same", which is exactly that on the even sides a U-Net's levels have),
    then norm, LeakyReLU 0.2 before the next level (the first has no norm, the innermost no norm either).
    Decoder, innermost out: ReLU, transposed conv 4x4 stride 2 (PyTorch padding 1 = Keras "same", 2h px),
    norm, dropout 0.5 on levels 5 .. num_downs - 1 (the paper's CD512 x 3 at 8 levels, when `dropout`);
    each decoder level's output is concatenated after its encoder input ([skip, up] on the channel axis,
    the reference's `torch.cat([x, model(x)], 1)`; its in-place LeakyReLU has already turned that x into
    LeakyReLU(x), so the skip carries it too); the outermost transposed conv maps 2 ngf channels to
    `output_nc`, then tanh (float32).

    Layer names: encoder level i (1-based) `down<i>` (`down<i>_norm`), decoder `up<i>` (`up<i>_norm`,
    `up<i>_dropout`), skip joins `skip<i>`. Convolutions have a bias only under instance norm, except the
    outermost transposed conv, which always has one (as in the reference).

    Input: `image`, float [B, H, W, input_nc] in [-1, 1]; H and W multiples of 2 ** num_downs (256 px at
    8 levels: `unet_256`; 128 at 7: `unet_128`), so the innermost level is 1 x 1 at the paper's size.

    Args:
        num_downs: stride-2 levels, >= 5.
        ngf: filters of the first convolution; deeper levels have 2, 4, then 8 * ngf.
        name: the Keras model's name.
        norm: "batch" (the paper), "instance" or "none".
        dropout: dropout 0.5 in decoder levels 5 .. num_downs - 1 (three at 8 levels; in PyTorch's train
            mode also at test time; Keras applies it only with training=True).
        input_nc, output_nc: channels in and out (1 or 3).

    Returns:
        A functional `keras.Model` [B, H, W, input_nc] -> float32 [B, H, W, output_nc] in [-1, 1].
        54,414,019 parameters for unet_256, ngf 64, batch norm (BatchNorm's 2 x C running statistics
        included, as PyTorch's state_dict holds them; the reference prints 54.414 M trainable ones).

    Raises:
        ValueError: num_downs < 5, ngf < 1, a channel count other than 1 or 3, or an unknown norm.
    """
    if num_downs < 5 or ngf < 1:
        raise ValueError(f"need num_downs >= 5 and ngf >= 1, got num_downs={num_downs}, ngf={ngf}")
    _check_norm(norm)
    _check_channels(input_nc, output_nc)
    use_bias = norm == "instance"
    widths = [ngf, ngf * 2, ngf * 4] + [ngf * 8] * (num_downs - 3)  # encoder level i -> filters
    inputs = keras.Input(shape=(None, None, input_nc), name="image")

    skips = []
    x = inputs
    for level, filters in enumerate(widths, start=1):
        if level > 1:
            x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"down{level}_lrelu")(x)
        skips.append(x)
        # 4x4 stride 2 on an even side: "same" pads 1 px on each side, PyTorch's padding=1, without a pad op.
        x = _conv(filters, 4, 2, f"down{level}", use_bias, padding="same")(x)  # (B, H / 2 ** level, ..., filters)
        if 1 < level < num_downs:
            x = _normalise(x, norm, f"down{level}_norm")

    for level in range(num_downs, 0, -1):  # innermost first
        outermost = level == 1
        filters = output_nc if outermost else widths[level - 2]  # back to the encoder input's width
        x = keras.layers.ReLU(name=f"up{level}_relu")(x)
        x = _conv_transpose(filters, 4, f"up{level}", use_bias or outermost, padding="same")(x)  # 2h px
        if outermost:
            break
        x = _normalise(x, norm, f"up{level}_norm")
        if dropout and 5 <= level < num_downs:  # the reference's num_downs - 5 middle levels (CD512 x 3 at 8)
            x = keras.layers.Dropout(0.5, name=f"up{level}_dropout")(x)
        x = keras.layers.Concatenate(name=f"skip{level}")([skips[level - 1], x])
    outputs = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def _check_channels(*counts: int) -> None:
    for count in counts:
        if count not in geometry.CHANNELS:
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {count}")


def build_generator(
    name: str = "resnet_9blocks", ngf: int = 64, *, name_prefix: str = "generator", norm: str = "instance",
    dropout: bool = False, input_nc: int = 3, output_nc: int = 3,
) -> keras.Model:
    """The generator called `name` (the `--generator` / `--netG` flag), as a Keras model named `name_prefix`.

    Args:
        name: "resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128" (`GENERATORS`), or any
            "resnet_<n>blocks" / "unet_<2 ** k>" (k >= 5).
        ngf: filters of the first convolution.
        name_prefix: the Keras model's name, e.g. "generator_ab" (G: A -> B) or "generator_ba" (F).
        norm, dropout, input_nc, output_nc: see `build_resnet_generator` / `build_unet_generator`.

    Returns:
        See `build_resnet_generator` and `build_unet_generator`; `geometry.generator_rule(name)` gives
        the size rule of its input.

    Raises:
        ValueError: unknown generator name, norm or channel count.
    """
    kind, depth = geometry.parse_generator(name)
    builder = build_resnet_generator if kind == "resnet" else build_unet_generator
    return builder(depth, ngf, name=name_prefix, norm=norm, dropout=dropout, input_nc=input_nc,
                   output_nc=output_nc)


def generator_from_config(config, name: str) -> keras.Model:
    """The generator a training config describes (its `generator`, `ngf`, `norm`, `no_dropout` fields: a
    CycleGAN or pix2pix `TrainConfig`), as a Keras model called `name` (the checkpoint key, e.g. "generator_ab"),
    initialised by `initialize` with the config's init_type, init_gain and seed."""
    model = build_generator(config.generator, ngf=config.ngf, name_prefix=name, norm=config.norm,
                            dropout=not config.no_dropout)
    initialize(model, config.init_type, config.init_gain, config.seed)
    return model


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
    ndf: int = 64, n_layers: int = 3, name: str = "discriminator", *, norm: str = "instance", input_nc: int = 3,
) -> keras.Model:
    """PatchGAN discriminator (Isola et al. 2017; Zhu et al. 2017, appendix 7.2): C64-C128-C256-C512-1.

    Paper names -> layer names (ndf = 64, n_layers = 3): C64 `c64` (zero-pad 1, conv 4x4
    stride 2, LeakyReLU 0.2, no norm); C128, C256 `c128`, `c256` (stride 2, norm, LeakyReLU);
    C512 `c512` (stride 1, norm, LeakyReLU); `logits` (zero-pad 1, conv 4x4 stride 1 to one
    channel, linear, float32). Widths double per layer up to 8 * ndf. As in the reference, the
    middle convolutions have a bias only under instance norm; the first and the last always do.

    Each output logit sees a `patch_receptive_field(n_layers)` px square of the input (70 px
    at n_layers 3) through the convolutions; instance norm adds a dependence on the whole
    image through its mean and variance.

    Input: `image`, float [B, H, W, input_nc] in [-1, 1]; H, W >= 2 ** n_layers * 3 (24 px at 3
    layers). pix2pix's conditional discriminator takes the input and the output image concatenated
    on the channel axis (input_nc = 6 for RGB -> RGB).

    Args:
        ndf: filters of the first convolution (64 in the paper).
        n_layers: stride-2 convolutions (3: the 70x70 PatchGAN).
        name: the Keras model's name (e.g. "discriminator_a").
        norm: "instance" (CycleGAN), "batch" (pix2pix) or "none".
        input_nc: channels of the input.

    Returns:
        A functional `keras.Model` [B, H, W, input_nc] -> float32 logits [B, h, w, 1] with
        h = H // 2 ** n_layers - 2 (30 x 30 for 256 px at n_layers 3). 2,764,737 parameters at
        ndf 64, n_layers 3, instance norm; 2,769,601 for pix2pix's (6 channels in, batch norm,
        running statistics included).

    Raises:
        ValueError: ndf < 1, n_layers < 1, input_nc < 1 or an unknown norm.
    """
    if ndf < 1 or n_layers < 1 or input_nc < 1:
        raise ValueError(f"need ndf, n_layers and input_nc >= 1, got ndf={ndf}, n_layers={n_layers}, "
                         f"input_nc={input_nc}")
    _check_norm(norm)
    use_bias = norm == "instance"
    inputs = keras.Input(shape=(None, None, input_nc), name="image")
    x = inputs
    names = set()
    for index in range(n_layers + 1):
        filters = ndf * min(2**index, 8)
        strides = 2 if index < n_layers else 1  # (B, H / 2 ** (index + 1), ...), then -1 px at stride 1
        layer = f"c{filters}" if f"c{filters}" not in names else f"c{filters}_{index + 1}"  # 8 ndf repeats
        names.add(layer)
        x = keras.layers.ZeroPadding2D(1, name=f"{layer}_pad")(x)
        x = _conv(filters, 4, strides, layer, use_bias=index == 0 or use_bias)(x)
        if index > 0:
            x = _normalise(x, norm, f"{layer}_norm")
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{layer}_lrelu")(x)
    x = keras.layers.ZeroPadding2D(1, name="logits_pad")(x)
    x = _conv(1, 4, 1, "logits_conv")(x)  # (B, h, w, 1)
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


INIT_TYPES = config_lib.INIT_TYPES


def _torch_kernel(init_type: str, gain: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A kernel in PyTorch's layout (d0, d1, kh, kw) drawn as `torch.nn.init` draws it for that type."""
    receptive = int(np.prod(shape[2:]))
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive  # torch's _calculate_fan_in_and_fan_out
    if init_type == "normal":
        return rng.normal(0.0, gain, shape)
    if init_type == "xavier":
        return rng.normal(0.0, gain * np.sqrt(2.0 / (fan_in + fan_out)), shape)
    if init_type == "kaiming":  # kaiming_normal_(a=0, mode="fan_in"): ReLU gain sqrt(2), the gain flag unused
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    rows, cols = shape[0], int(np.prod(shape[1:]))  # orthogonal_: QR of a normal matrix, signs fixed by R
    flat = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return gain * q[:rows, :cols].reshape(shape)


def initialize(model: keras.Model, init_type: str = "normal", gain: float = 0.02, seed: int = 0) -> None:
    """Re-initialises `model`'s weights as the reference's `init_weights(net, init_type, init_gain)`.

    Every Conv2D / Conv2DTranspose kernel: "normal" N(0, gain), "xavier" N(0, gain * sqrt(2 / (fan_in +
    fan_out))), "kaiming" N(0, sqrt(2 / fan_in)) (He et al. 2015, fan_in mode; gain not used, as in the
    reference), "orthogonal" gain * an orthogonal matrix over (d0, d1 * kh * kw); fans as PyTorch counts them
    on its own layout (a transposed conv's fan_in is its output channels times kh * kw). Biases 0. Batch norm:
    gamma ~ N(1, gain), beta 0 (its running statistics stay 0 and 1). Draws come from a numpy generator seeded
    by (seed, the model's name), so a run's weights are a function of its seed.

    Raises:
        ValueError: an unknown init_type or a gain <= 0.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}: expected one of {', '.join(INIT_TYPES)}")
    if not gain > 0:
        raise ValueError(f"init_gain must be > 0, got {gain}")
    rng = np.random.default_rng([seed, zlib.crc32(model.name.encode())])
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv2DTranspose):
            kernel = layer.kernel
            height, width, third, fourth = kernel.shape
            torch_kernel = _torch_kernel(init_type, gain, (fourth, third, height, width), rng)
            kernel.assign(torch_kernel.transpose(2, 3, 1, 0).astype(kernel.dtype))
            if layer.use_bias:
                layer.bias.assign(np.zeros(layer.bias.shape, layer.bias.dtype))
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(rng.normal(1.0, gain, layer.gamma.shape).astype(layer.gamma.dtype))
            layer.beta.assign(np.zeros(layer.beta.shape, layer.beta.dtype))


def discriminator_from_config(config, name: str, input_nc: int = 3) -> keras.Model:
    """The PatchGAN a training config describes (`--netD basic`: 3 layers; `n_layers`: `--n_layers_D`), named
    `name`, initialised by `initialize` with the config's init_type, init_gain and seed."""
    layers_d = 3 if config.net_d == "basic" else config.n_layers_d
    model = build_patch_discriminator(ndf=config.ndf, n_layers=layers_d, name=name, norm=config.norm,
                                      input_nc=input_nc)
    initialize(model, config.init_type, config.init_gain, config.seed)
    return model
