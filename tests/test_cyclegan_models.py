"""Tests of tfstyle.cyclegan.models: parameter counts, shapes, ranges, dtypes, receptive field."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle.cyclegan import models


def _conv_params(channels_in: int, channels_out: int, kernel: int) -> int:
    return channels_in * channels_out * kernel * kernel + channels_out  # weights + bias


def _reference_generator_params(n_blocks: int, ngf: int) -> int:
    """ResnetGenerator of junyanz/pytorch-CycleGAN-and-pix2pix, instance norm without affine parameters."""
    return (
        _conv_params(3, ngf, 7)  # c7s1-64
        + _conv_params(ngf, 2 * ngf, 3)  # d128
        + _conv_params(2 * ngf, 4 * ngf, 3)  # d256
        + n_blocks * 2 * _conv_params(4 * ngf, 4 * ngf, 3)  # R256 x n
        + _conv_params(4 * ngf, 2 * ngf, 3)  # u128 (ConvTranspose2d)
        + _conv_params(2 * ngf, ngf, 3)  # u64
        + _conv_params(ngf, 3, 7)  # c7s1-3
    )


def _reference_discriminator_params(ndf: int) -> int:
    """NLayerDiscriminator(n_layers=3): C64-C128-C256-C512 and the 1-channel conv, all 4x4 with bias."""
    return (
        _conv_params(3, ndf, 4)
        + _conv_params(ndf, 2 * ndf, 4)
        + _conv_params(2 * ndf, 4 * ndf, 4)
        + _conv_params(4 * ndf, 8 * ndf, 4)
        + _conv_params(8 * ndf, 1, 4)
    )


@pytest.fixture(scope="module")
def tiny_generator():
    keras.utils.set_random_seed(0)
    return models.build_generator("resnet_2blocks", ngf=8, name_prefix="generator_ab")


@pytest.fixture
def mixed_precision():
    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)

    yield set_policy
    keras.mixed_precision.set_global_policy("float32")


def test_parameter_counts_match_the_reference_at_defaults():
    # Paper: "11.4 M" and "2.8 M"; exact counts of the reference implementation.
    assert _reference_generator_params(9, 64) == 11_378_179
    assert _reference_generator_params(6, 64) == 7_837_699
    assert _reference_discriminator_params(64) == 2_764_737

    assert models.build_generator().count_params() == 11_378_179
    assert models.build_generator("resnet_6blocks").count_params() == 7_837_699
    assert models.build_patch_discriminator().count_params() == 2_764_737
    # Instance norm has no parameters (affine=False), and everything is trainable.
    discriminator = models.build_patch_discriminator(ndf=8, n_layers=3)
    assert discriminator.count_params() == _reference_discriminator_params(8)
    norms = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.GroupNormalization)]
    assert len(norms) == 3 and all(not layer.weights for layer in norms)
    assert not discriminator.non_trainable_weights


@pytest.mark.parametrize("height, width", [(32, 32), (64, 48)])
def test_generator_keeps_size_and_returns_tanh_range(tiny_generator, height, width, rng):
    images = rng.uniform(-1.0, 1.0, size=(2, height, width, 3)).astype(np.float32)
    outputs = tiny_generator(images).numpy()
    assert outputs.shape == (2, height, width, 3)
    assert outputs.dtype == np.float32
    assert np.all(outputs >= -1.0) and np.all(outputs <= 1.0)
    # A real mapping of the input: different images give different outputs.
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4


def test_generator_tanh_bounds_large_activations(rng):
    # With weights 50x the init scale the last conv saturates: the output is still in [-1, 1].
    keras.utils.set_random_seed(1)
    generator = models.build_generator("resnet_1blocks", ngf=4)
    generator.set_weights([weight * 50.0 for weight in generator.get_weights()])
    outputs = generator(rng.uniform(-1.0, 1.0, size=(1, 16, 16, 3)).astype(np.float32)).numpy()
    assert np.abs(outputs).max() > 0.99
    assert np.all(np.abs(outputs) <= 1.0)


@pytest.mark.parametrize("height, width", [(30, 33), (35, 29), (5, 8)])
def test_generator_rounds_sizes_up_to_a_multiple_of_4(tiny_generator, height, width):
    # Documented: H, W must be multiples of 4; other sizes give 4 * ceil(size / 4), as in the reference.
    outputs = tiny_generator(np.zeros((1, height, width, 3), np.float32))
    m = models.SIZE_MULTIPLE
    assert tuple(outputs.shape) == (1, m * math.ceil(height / m), m * math.ceil(width / m), 3)
    exact = tiny_generator(np.zeros((1, 2 * m, 3 * m, 3), np.float32))  # multiples keep their size
    assert tuple(exact.shape) == (1, 2 * m, 3 * m, 3)


def test_generator_size_rule_is_the_architectures():
    """MIN_SIZE runs; one multiple less leaves 1 px at the bottleneck, which its reflection padding refuses;
    `check_generator_size` says so before any model runs."""
    generator = models.build_generator("resnet_1blocks", ngf=4)
    assert generator(np.zeros((1, models.MIN_SIZE, models.MIN_SIZE, 3), np.float32)).shape[1] == models.MIN_SIZE
    too_small = models.MIN_SIZE - models.SIZE_MULTIPLE
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        generator(np.zeros((1, too_small, too_small, 3), np.float32))
    models.check_generator_size(models.MIN_SIZE, 37)  # any size from the minimum up: callers pad
    with pytest.raises(ValueError, match=r"photo\.png is 37x7 px, below the 8 px minimum"):
        models.check_generator_size(7, 37, "photo.png")
    models.check_generator_size(32, 36, exact=True)
    with pytest.raises(ValueError, match=r"--image_size is 30x30 px; it must be a multiple of 4"):
        models.check_generator_size(30, 30, "--image_size", exact=True)


def test_generator_names_and_blocks():
    generator = models.build_generator("resnet_6blocks", ngf=4, name_prefix="generator_ba")
    assert generator.name == "generator_ba"
    assert [tensor.name for tensor in generator.inputs] == ["image"]
    assert len([layer for layer in generator.layers if layer.name.endswith("_add")]) == 6
    assert models.GENERATORS == {"resnet_9blocks": 9, "resnet_6blocks": 6, "unet_256": 8, "unet_128": 7}
    for bad in ("unet_100", "unet_16", "resnet_blocks", "vgg"):  # a U-Net side is a power of 2 >= 32
        with pytest.raises(ValueError, match="unknown generator"):
            models.build_generator(bad)
    with pytest.raises(ValueError, match="ndf"):
        models.build_patch_discriminator(ndf=0)


def test_weights_are_normal_0_02_and_biases_zero(tiny_generator):
    kernel, bias = tiny_generator.get_layer("r32_1_conv1").weights  # 3 * 3 * 32 * 32 = 9216 draws
    kernel = kernel.numpy()
    assert abs(kernel.mean()) < 1e-3
    assert kernel.std() == pytest.approx(0.02, abs=1e-3)
    assert np.all(bias.numpy() == 0.0)
    # Fresh initializer per layer: two layers of the same shape do not share weights.
    other = tiny_generator.get_layer("r32_1_conv2").weights[0].numpy()
    assert not np.allclose(kernel, other)


def test_builders_are_deterministic_under_a_seed():
    keras.utils.set_random_seed(3)
    first = models.build_patch_discriminator(ndf=4, n_layers=2).get_weights()
    keras.utils.set_random_seed(3)
    second = models.build_patch_discriminator(ndf=4, n_layers=2).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("n_layers, size, expected", [(3, 32, 2), (3, 64, 6), (2, 32, 6)])
def test_discriminator_output_shape(n_layers, size, expected):
    # h = H // 2 ** n_layers - 2 (reference: padding 1 on every 4x4 convolution).
    discriminator = models.build_patch_discriminator(ndf=4, n_layers=n_layers)
    logits = discriminator(np.zeros((2, size, size + 8, 3), np.float32))
    assert tuple(logits.shape) == (2, expected, (size + 8) // 2**n_layers - 2, 1)
    assert logits.dtype == tf.float32
    assert discriminator.outputs[0].shape == (None, None, None, 1)


def test_discriminator_gives_30x30_patches_at_256_px():
    discriminator = models.build_patch_discriminator(ndf=4)
    assert discriminator.compute_output_shape((1, 256, 256, 3)) == (1, 30, 30, 1)


@pytest.mark.parametrize("n_layers", [3, 2])
def test_discriminator_receptive_field(n_layers, rng):
    # Without instance norm (whose statistics couple all positions), the gradient of one logit is
    # non-zero exactly on a 70 x 70 input window (34 x 34 at 2 layers).
    keras.utils.set_random_seed(2)
    side = models.patch_receptive_field(n_layers)
    assert side == {3: 70, 2: 34}[n_layers]
    discriminator = models.build_patch_discriminator(ndf=4, n_layers=n_layers, norm="none")
    images = tf.constant(rng.uniform(-1.0, 1.0, size=(1, 128, 128, 3)).astype(np.float32))
    row, col = 7, 5
    with tf.GradientTape() as tape:
        tape.watch(images)
        logit = discriminator(images)[0, row, col, 0]
    seen = np.abs(tape.gradient(logit, images).numpy()[0]).sum(axis=-1) > 0  # [128, 128]
    rows, cols = np.nonzero(seen.any(axis=1))[0], np.nonzero(seen.any(axis=0))[0]
    assert rows.max() - rows.min() + 1 == side and cols.max() - cols.min() + 1 == side
    # Window start, walking back through the 1 px zero paddings (x -> stride * x - 1 per layer):
    # 2 ** n * index - (3 * 2 ** n - 1), e.g. 8 * index - 23 at 3 layers.
    jump = 2**n_layers
    assert rows.min() == jump * row - (3 * jump - 1) and cols.min() == jump * col - (3 * jump - 1)
    assert seen[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
    assert seen.sum() == side * side


def test_reflection_padding_matches_numpy(rng):
    images = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)
    layer = models.ReflectionPadding2D(((1, 2), (3, 0)))
    expected = np.pad(images, ((0, 0), (1, 2), (3, 0), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(layer(images).numpy(), expected)
    assert layer.compute_output_shape((None, None, 6, 3)) == (None, None, 9, 3)
    clone = models.ReflectionPadding2D.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(images).numpy(), expected)
    with pytest.raises(ValueError, match="padding"):
        models.ReflectionPadding2D(-1)


def test_models_round_trip_through_keras_files(tiny_generator, tmp_path, rng):
    images = rng.uniform(-1.0, 1.0, size=(1, 16, 16, 3)).astype(np.float32)
    path = tmp_path / "generator.keras"
    tiny_generator.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.get_layer("c7s1_pad"), models.ReflectionPadding2D)
    np.testing.assert_allclose(restored(images).numpy(), tiny_generator(images).numpy(), atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_float32_outputs_under_mixed_precision(mixed_precision, policy, rng):
    mixed_precision(policy)
    generator = models.build_generator("resnet_1blocks", ngf=4)
    discriminator = models.build_patch_discriminator(ndf=4, n_layers=2)
    assert generator.get_layer("c7s1_pad").compute_dtype == policy.split("_")[1]
    images = rng.uniform(-1.0, 1.0, size=(1, 32, 32, 3)).astype(np.float32)
    fake = generator(images)
    assert fake.dtype == tf.float32 and discriminator(fake).dtype == tf.float32
    assert np.all(np.abs(fake.numpy()) <= 1.0)
