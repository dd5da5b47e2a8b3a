"""The reference's option surface, for CycleGAN and pix2pix: --netD, --init_type/--init_gain, --gan_mode wgangp,
--lr_policy, --preprocess, --no_flip (each meaning what it means in pytorch-CycleGAN-and-pix2pix)."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle import data, images, losses
from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import models, schedule
from tfstyle.pix2pix import config as pix2pix_config


def _conv_params(c_in: int, c_out: int, bias: bool = True) -> int:
    return 16 * c_in * c_out + (c_out if bias else 0)


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4, 5])
def test_netd_n_layers_parameter_counts_by_hand(n_layers):
    # NLayerDiscriminator: conv ndf (bias), n_layers - 1 strided convs to ndf * min(2 ** n, 8), one stride-1 conv to
    # ndf * min(2 ** n_layers, 8), then to 1 channel; instance norm has no parameters and keeps the biases.
    ndf = 8
    widths = [ndf * min(2**n, 8) for n in range(n_layers + 1)]
    expected = _conv_params(3, ndf) + sum(_conv_params(a, b) for a, b in zip(widths, widths[1:], strict=False))
    expected += _conv_params(widths[-1], 1)
    config = config_lib.tiny(net_d="n_layers", n_layers_d=n_layers, ndf=ndf)
    assert models.discriminator_from_config(config, "d").count_params() == expected
    basic = dataclasses.replace(config, net_d="basic")  # basic is the 3-layer PatchGAN whatever n_layers_D says
    assert models.discriminator_from_config(basic, "d").count_params() == models.build_patch_discriminator(
        ndf=ndf, n_layers=3).count_params()


def test_netd_basic_with_other_layers_is_refused_and_flag_names_are_the_references():
    with pytest.raises(ValueError, match="--n_layers_D 2 needs --netD n_layers"):
        config_lib.tiny(net_d="basic").validate_training()
    for config in (config_lib.TrainConfig(), pix2pix_config.Pix2PixConfig()):
        assert (config.net_d, config.init_type, config.init_gain, config.lr_policy, config.lr_decay_iters,
                config.preprocess, config.no_flip) == ("basic", "normal", 0.02, "linear", 50, "resize_and_crop", False)
    for bad in (dict(init_type="uniform"), dict(lr_policy="plateau"), dict(preprocess="none"), dict(init_gain=0.0),
                dict(gan_mode="hinge")):
        with pytest.raises(ValueError):
            config_lib.tiny(**bad).validate_training()


def _torch_layout(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, a, b) -> PyTorch (b, a, kh, kw), for both conv kinds."""
    return kernel.transpose(3, 2, 0, 1)


@pytest.mark.parametrize("init_type", models.INIT_TYPES)
def test_init_types_draw_as_torch_nn_init(init_type):
    gain = 0.7
    model = models.build_generator("unet_32", ngf=16, norm="batch")
    models.initialize(model, init_type, gain, seed=1)
    for name in ("down3", "up3"):  # a Conv2D (128 -> 256... here 32 -> 64) and a Conv2DTranspose
        layer = model.get_layer(name)
        torch_kernel = _torch_layout(layer.kernel.numpy())
        fan_in = torch_kernel.shape[1] * 16
        fan_out = torch_kernel.shape[0] * 16
        expected = {"normal": gain, "xavier": gain * math.sqrt(2.0 / (fan_in + fan_out)),
                    "kaiming": math.sqrt(2.0 / fan_in)}
        if init_type == "orthogonal":
            rows = torch_kernel.reshape(torch_kernel.shape[0], -1)
            product = rows @ rows.T if rows.shape[0] <= rows.shape[1] else rows.T @ rows
            np.testing.assert_allclose(product, gain**2 * np.eye(len(product)), atol=1e-5)
        else:
            assert torch_kernel.std() == pytest.approx(expected[init_type], rel=0.05)
            assert abs(torch_kernel.mean()) < 0.05 * expected[init_type]
    norm = model.get_layer("down3_norm")
    assert norm.gamma.numpy().mean() == pytest.approx(1.0, abs=3 * gain / 8)
    assert norm.gamma.numpy().std() == pytest.approx(gain, rel=0.35) and np.all(norm.beta.numpy() == 0)
    assert np.all(model.get_layer("up1").bias.numpy() == 0)


def test_init_is_a_function_of_the_seed_and_the_models_name():
    def weights(seed, name="generator_ab"):
        model = models.build_generator("resnet_1blocks", ngf=4, name_prefix=name)
        models.initialize(model, "xavier", 0.02, seed)
        return model.get_layer("r16_1_conv1").kernel.numpy()

    np.testing.assert_array_equal(weights(3), weights(3))
    assert not np.allclose(weights(3), weights(4))
    assert not np.allclose(weights(3), weights(3, "generator_ba"))  # G and F do not start equal


def test_wgan_losses_are_the_references():
    real = tf.constant([[[[2.0]], [[4.0]]]])  # [1, 2, 1, 1]
    fake = tf.constant([[[[1.0]], [[-3.0]]]])
    generator_loss, discriminator_loss = losses.GAN_LOSSES["wgangp"]
    np.testing.assert_allclose(generator_loss(fake), [1.0])  # -mean(D(G(x)))
    np.testing.assert_allclose(discriminator_loss(real, fake), [0.5 * (-1.0 - 3.0)])  # 0.5 (mean fake - mean real)


def test_step_and_cosine_policies_per_step():
    step = schedule.StepDecay(1e-2, every_steps=10)
    assert [float(step(s)) for s in (0, 9, 10, 19, 20)] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4])
    cosine = schedule.CosineAnnealing(2e-4, period_steps=100)
    assert [float(cosine(s)) for s in (0, 50, 100, 150)] == pytest.approx([2e-4, 1e-4, 0.0, 1e-4], abs=1e-9)
    config = config_lib.tiny(lr_policy="step", lr_decay_iters=3, learning_rate=1.0)
    chosen = schedule.from_config(config, steps_per_epoch=5)
    assert isinstance(chosen, schedule.StepDecay) and chosen.every_steps == 15
    assert isinstance(schedule.from_config(dataclasses.replace(config, lr_policy="cosine"), 5),
                      schedule.CosineAnnealing)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(cosine))
    assert float(restored(37)) == pytest.approx(float(cosine(37)))


def _gradient_image(height: int, width: int) -> np.ndarray:
    """uint8: R = 2 * column, G = 2 * row: each pixel names its position."""
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([2 * columns, 2 * rows, np.full_like(rows, 128)], axis=-1).astype(np.uint8)


def test_preprocess_crop_is_a_window_of_the_image_at_its_own_size_and_no_flip_never_flips():
    source = _gradient_image(40, 56)
    corners = set()
    for seed in range(12):
        out = data.preprocess_unpaired(source, [seed, 1], load_size=8, crop_size=32, preprocess="crop", flip=False)
        crop = images.to_uint8(images.from_signed(out)).numpy()
        top, left = int(crop[0, 0, 1]) // 2, int(crop[0, 0, 0]) // 2
        np.testing.assert_array_equal(crop, source[top:top + 32, left:left + 32])  # unscaled, unflipped
        corners.add((top, left))
    assert len(corners) > 4


def test_preprocess_scale_width_keeps_the_aspect_before_cropping():
    source = _gradient_image(60, 120)  # 2:1; width 64 -> height 32, so a 32 crop spans the full height
    for seed in range(6):
        out = data.preprocess_unpaired(source, [seed, 2], load_size=64, crop_size=32,
                                       preprocess="scale_width_and_crop", flip=False)
        green = images.to_uint8(images.from_signed(out)).numpy()[..., 1].astype(int)
        assert green[0].mean() < 8 and green[-1].mean() > 2 * 59 - 8  # top row to bottom row of the source
    resized = data.preprocess_unpaired(source, [0, 2], load_size=64, crop_size=32)  # resize_and_crop: a square
    assert images.to_uint8(images.from_signed(resized)).numpy()[..., 1].astype(int)[-1].mean() < 2 * 59 - 20


def test_paired_dataset_applies_preprocess_and_no_flip_to_both_halves():
    source = _gradient_image(40, 48)
    pair = data.EncodedImages("pair", (source,))
    windows = set()
    for epoch in range(6):
        dataset = data.paired_dataset(pair, pair, load_size=8, crop_size=32, preprocess="crop", flip=False,
                                      epoch=epoch)
        x, y = (images.to_uint8(images.from_signed(t[0])).numpy() for t in next(iter(dataset)))
        np.testing.assert_array_equal(x, y)  # one crop for both images of the pair
        top, left = int(x[0, 0, 1]) // 2, int(x[0, 0, 0]) // 2
        np.testing.assert_array_equal(x, source[top:top + 32, left:left + 32])  # unscaled and never flipped
        windows.add((top, left))
    assert len(windows) > 1
