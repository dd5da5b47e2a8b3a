"""Tests for tfstyle.losses against numpy formulas on hand-sized inputs."""

import numpy as np
import pytest
import tensorflow as tf

from tfstyle import losses


def _features(rng, shape=(1, 2, 2, 2)) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Style transfer
# ---------------------------------------------------------------------------------------------


def test_gram_matrix_matches_numpy_and_is_symmetric(rng):
    features = _features(rng, (2, 2, 3, 4))  # [B, H, W, C]
    gram = losses.gram_matrix(features).numpy()
    assert gram.shape == (2, 4, 4) and gram.dtype == np.float32
    flat = features.reshape(2, 6, 4)  # F as [B, M = H W, N = C]
    np.testing.assert_allclose(gram, np.einsum("bmi,bmj->bij", flat, flat) / 6.0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gram, np.transpose(gram, (0, 2, 1)), atol=1e-6)


def test_gram_matrix_is_normalised_by_positions():
    # Constant features give the same Gram at any spatial size only with the 1 / (H W) factor.
    small = losses.gram_matrix(np.full((1, 2, 2, 3), 2.0, np.float32)).numpy()
    large = losses.gram_matrix(np.full((1, 5, 7, 3), 2.0, np.float32)).numpy()
    np.testing.assert_allclose(small, np.full((1, 3, 3), 4.0), atol=1e-6)
    np.testing.assert_allclose(large, small, atol=1e-6)


def test_gram_matrix_by_hand():
    # One position per channel pair: F = [[1, 2], [3, 4]] (M = 2 positions, N = 2 channels).
    features = np.array([[[[1.0, 2.0]], [[3.0, 4.0]]]], np.float32)  # [1, 2, 1, 2]
    expected = np.array([[1 + 9, 2 + 12], [2 + 12, 4 + 16]], np.float32) / 2.0
    np.testing.assert_allclose(losses.gram_matrix(features).numpy()[0], expected)


def test_content_loss_is_mean_squared_error(rng):
    features, target = _features(rng), _features(rng)
    expected = np.mean((features - target) ** 2)
    np.testing.assert_allclose(losses.content_loss(features, target).numpy(), expected, rtol=1e-6)
    assert losses.content_loss(features, features).numpy() == 0.0
    # A [1, ...] target broadcasts over the batch.
    batch = np.concatenate([features, target])
    np.testing.assert_allclose(losses.content_loss(batch, target).numpy(),
                               np.mean((batch - target) ** 2), rtol=1e-6)


def test_style_loss_equals_gatys_eq4_on_unnormalised_grams(rng):
    height, width, channels = 2, 3, 2
    features = _features(rng, (1, height, width, channels))
    style_features = _features(rng, (1, height, width, channels))
    positions = height * width  # M_l
    flat, style_flat = features.reshape(positions, channels), style_features.reshape(positions, channels)
    gram_raw, target_raw = flat.T @ flat, style_flat.T @ style_flat  # G_l, A_l of the paper (unnormalised)
    eq4 = np.sum((gram_raw - target_raw) ** 2) / (4.0 * channels**2 * positions**2)

    target_gram = losses.gram_matrix(style_features)
    np.testing.assert_allclose(losses.style_loss(features, target_gram).numpy(), eq4, rtol=1e-5)
    assert losses.style_loss(style_features, target_gram).numpy() == pytest.approx(0.0, abs=1e-10)


def test_style_loss_averages_over_batch_with_broadcast_target(rng):
    batch = _features(rng, (3, 2, 2, 2)).astype(np.float64)
    style = _features(rng, (1, 2, 2, 2))

    def gram(features):  # [H, W, C] -> [C, C] / (H W)
        flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
        return flat.T @ flat / flat.shape[0]

    per_example = [np.sum((gram(example) - gram(style[0])) ** 2) / (4.0 * 2**2) for example in batch]
    assert len(set(np.round(per_example, 6))) == 3  # three different values, so the mean is a real check
    np.testing.assert_allclose(losses.style_loss(batch.astype(np.float32), losses.gram_matrix(style)).numpy(),
                               np.mean(per_example), rtol=1e-5)


def test_total_variation_zero_on_flat_and_exact_on_ramp():
    flat = np.full((2, 4, 5, 3), 0.3, np.float32)
    assert losses.total_variation_loss(flat).numpy() == 0.0

    ramp = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], np.float32)[None, :, :, None]  # [1, 2, 3, 1]
    # Vertical steps: 3 columns x |3| = 9; horizontal: 2 rows x 2 steps x |1| = 4; over H W = 6 pixels.
    assert losses.total_variation_loss(ramp).numpy() == pytest.approx(13.0 / 6.0)
    three_channels = np.repeat(ramp, 3, axis=-1)
    assert losses.total_variation_loss(three_channels).numpy() == pytest.approx(3 * 13.0 / 6.0)


def test_total_variation_matches_numpy(rng):
    image = rng.uniform(size=(2, 5, 4, 3)).astype(np.float32)
    down = np.abs(np.diff(image, axis=1)).sum(axis=(1, 2, 3))
    right = np.abs(np.diff(image, axis=2)).sum(axis=(1, 2, 3))
    expected = np.mean((down + right) / 20.0)
    np.testing.assert_allclose(losses.total_variation_loss(image).numpy(), expected, rtol=1e-5)



def test_temporal_loss_is_ruders_weighted_mean_over_pixels_and_channels(rng):
    image, previous = rng.uniform(size=(2, 5, 4, 3)), rng.uniform(size=(2, 5, 4, 3))
    weights = (rng.uniform(size=(2, 5, 4, 1)) > 0.5).astype(np.float32)
    expected = np.mean([np.sum(weights[b] * (image[b] - previous[b]) ** 2) / (5 * 4 * 3) for b in range(2)])
    np.testing.assert_allclose(losses.temporal_loss(image, previous, weights).numpy(), expected, rtol=1e-5)
    assert float(losses.temporal_loss(image, previous, np.zeros_like(weights))) == 0.0  # occluded: free

# ---------------------------------------------------------------------------------------------
# CycleGAN
# ---------------------------------------------------------------------------------------------

# Two examples, each a 1x2 patch grid: hand-checkable values.
FAKE = np.array([0.0, 1.0, 2.0, -1.0], np.float32).reshape(2, 1, 2, 1)
REAL = np.array([1.0, 1.0, 0.5, 0.0], np.float32).reshape(2, 1, 2, 1)


def test_lsgan_generator_loss_by_hand():
    loss = losses.lsgan_generator_loss(FAKE).numpy()
    assert loss.shape == (2,)
    # mean((x - 1)^2): [(1 + 0) / 2, (1 + 4) / 2]
    np.testing.assert_allclose(loss, [0.5, 2.5])
    np.testing.assert_allclose(losses.lsgan_generator_loss(np.ones((3, 2, 2, 1))).numpy(), [0.0] * 3)


def test_lsgan_discriminator_loss_by_hand():
    fake = np.array([0.0, 0.0, 1.0, -1.0], np.float32).reshape(2, 1, 2, 1)
    loss = losses.lsgan_discriminator_loss(REAL, fake).numpy()
    assert loss.shape == (2,)
    # Example 0 sits at the targets (real 1, fake 0); example 1: 0.5 * ((0.25 + 1) / 2 + (1 + 1) / 2).
    np.testing.assert_allclose(loss, [0.0, 0.8125])


def test_vanilla_losses_match_numpy_log_sigmoid():
    fake = np.array([-30.0, -1.0, 0.0, 2.5], np.float32).reshape(2, 1, 2, 1)
    real = np.array([30.0, 0.5, -2.0, 0.0], np.float32).reshape(2, 1, 2, 1)

    def minus_log_sigmoid(x):
        return np.logaddexp(0.0, -x.astype(np.float64))

    expected_g = minus_log_sigmoid(fake).reshape(2, -1).mean(axis=1)
    expected_d = 0.5 * (minus_log_sigmoid(real).reshape(2, -1).mean(axis=1)
                        + minus_log_sigmoid(-fake).reshape(2, -1).mean(axis=1))  # -log(1 - sigmoid(x))
    np.testing.assert_allclose(losses.vanilla_generator_loss(fake).numpy(), expected_g, rtol=1e-5)
    np.testing.assert_allclose(losses.vanilla_discriminator_loss(real, fake).numpy(), expected_d, rtol=1e-5)
    assert np.all(np.isfinite(losses.vanilla_generator_loss(fake).numpy()))


@pytest.mark.parametrize("name, real_like, fake_like", [("lsgan", 1.0, 0.0), ("vanilla", 4.0, -4.0)])
def test_gan_losses_pair_a_generator_and_a_discriminator_loss(name, real_like, fake_like):
    """Each entry is (generator loss, discriminator loss) in that order: G gains when D calls its fakes real,
    D gains when it tells real from fake."""
    generator_loss, discriminator_loss = losses.GAN_LOSSES[name]
    looks_real, looks_fake = np.full((2, 2, 2, 1), real_like, np.float32), np.full((2, 2, 2, 1), fake_like, np.float32)
    assert generator_loss(looks_real).shape == (2,)
    assert np.all(generator_loss(looks_real).numpy() < generator_loss(looks_fake).numpy())
    assert discriminator_loss(looks_real, looks_fake).shape == (2,)
    told_apart = discriminator_loss(looks_real, looks_fake).numpy()  # (real logits, fake logits)
    fooled = discriminator_loss(looks_fake, looks_real).numpy()
    assert np.all(told_apart < fooled)


@pytest.mark.parametrize("loss_fn", [losses.cycle_loss, losses.identity_loss])
def test_cycle_and_identity_are_per_example_l1(rng, loss_fn):
    real = rng.uniform(-1.0, 1.0, size=(3, 4, 4, 3)).astype(np.float32)
    other = rng.uniform(-1.0, 1.0, size=(3, 4, 4, 3)).astype(np.float32)
    loss = loss_fn(real, other).numpy()
    assert loss.shape == (3,) and loss.dtype == np.float32
    np.testing.assert_allclose(loss, np.abs(real - other).reshape(3, -1).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(loss_fn(real, real).numpy(), [0.0] * 3)
    # By hand: one example off by 0.5 everywhere, the other exact.
    hand = loss_fn(np.zeros((2, 2, 2, 3)), np.stack([np.full((2, 2, 3), 0.5), np.zeros((2, 2, 3))])).numpy()
    np.testing.assert_allclose(hand, [0.5, 0.0])


# ---------------------------------------------------------------------------------------------
# Dtypes and gradients
# ---------------------------------------------------------------------------------------------


def test_float16_inputs_give_float32_losses(rng):
    half = _features(rng, (2, 2, 2, 2)).astype(np.float16)
    results = {
        "gram": losses.gram_matrix(half),
        "content": losses.content_loss(half, half[:1]),
        "style": losses.style_loss(half, losses.gram_matrix(half[:1])),
        "tv": losses.total_variation_loss(half),
        "lsgan_g": losses.lsgan_generator_loss(half),
        "lsgan_d": losses.lsgan_discriminator_loss(half, half),
        "vanilla_g": losses.vanilla_generator_loss(half),
        "vanilla_d": losses.vanilla_discriminator_loss(half, half),
        "cycle": losses.cycle_loss(half, half[::-1]),
        "identity": losses.identity_loss(half, half[::-1]),
    }
    for name, value in results.items():
        assert value.dtype == tf.float32, name
        assert np.all(np.isfinite(value.numpy())), name
    # The float16-rounded numbers, computed in float32 (numpy reference), not in float16.
    exact = half.astype(np.float64)
    tv = (np.abs(np.diff(exact, axis=1)).sum(axis=(1, 2, 3)) + np.abs(np.diff(exact, axis=2)).sum(axis=(1, 2, 3))) / 4
    np.testing.assert_allclose(results["tv"].numpy(), tv.mean(), rtol=1e-6)
    flat = exact.reshape(2, 4, 2)
    np.testing.assert_allclose(results["gram"].numpy(), np.einsum("bmi,bmj->bij", flat, flat) / 4, rtol=1e-6)


def test_style_loss_gradient_matches_gatys_eq6(rng):
    height, width, channels = 2, 3, 2
    features = tf.Variable(_features(rng, (1, height, width, channels)))
    style_features = _features(rng, (1, height, width, channels))
    target_gram = losses.gram_matrix(style_features)
    with tf.GradientTape() as tape:
        loss = losses.style_loss(features, target_gram)
    gradient = tape.gradient(loss, features)
    assert gradient is not None

    # Eq. 6 on unnormalised Grams: dE/dF = F (G - A) / (N^2 M^2) = F (G_n - A_n) / (N^2 M), G_n = G / M.
    positions = height * width
    flat = features.numpy().reshape(positions, channels)
    gram_n = flat.T @ flat / positions
    target_n = target_gram.numpy()[0]
    expected = flat @ (gram_n - target_n) / (channels**2 * positions)
    np.testing.assert_allclose(gradient.numpy().reshape(positions, channels), expected, rtol=1e-4, atol=1e-7)


def test_content_and_tv_losses_have_gradients(rng):
    image = tf.Variable(rng.uniform(size=(1, 4, 4, 3)).astype(np.float32))
    target = rng.uniform(size=(1, 4, 4, 3)).astype(np.float32)
    with tf.GradientTape(persistent=True) as tape:
        content = losses.content_loss(image, target)
        variation = losses.total_variation_loss(image)
    # d/dx mean((x - p)^2) = 2 (x - p) / size
    np.testing.assert_allclose(tape.gradient(content, image).numpy(),
                               2.0 * (image.numpy() - target) / image.numpy().size, rtol=1e-5)
    tv_gradient = tape.gradient(variation, image).numpy()
    assert np.all(np.isfinite(tv_gradient)) and np.any(tv_gradient != 0.0)
    # TV of a corner pixel of channel c: d/dx (|x01 - x00| + |x10 - x00|) / (H W) = -(s1 + s2) / 16.
    x = image.numpy()[0, :, :, 0]
    corner = -(np.sign(x[0, 1] - x[0, 0]) + np.sign(x[1, 0] - x[0, 0])) / 16.0
    assert tv_gradient[0, 0, 0, 0] == pytest.approx(corner)


# ---------------------------------------------------------------------------------------------
# Mean + covariance (2-Wasserstein) style loss
# ---------------------------------------------------------------------------------------------


def _numpy_w2(features: np.ndarray, style: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between the Gaussians of two [H, W, C] feature maps, / C (scipy sqrtm)."""
    from scipy import linalg

    a, b = features.reshape(-1, features.shape[-1]).astype(np.float64), style.reshape(-1, style.shape[-1]).astype(
        np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)
    root_b = linalg.sqrtm(cov_b).real
    cross = linalg.sqrtm(root_b @ cov_a @ root_b).real
    return float((np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)) / a.shape[-1])


def test_mean_cov_style_loss_matches_the_gaussian_w2_formula(rng):
    features = rng.normal(size=(1, 6, 7, 4)).astype(np.float32) * 2.0 + 1.0
    style = (rng.normal(size=(1, 8, 5, 4)) @ rng.normal(size=(4, 4)) + 3.0).astype(np.float32)
    mean = losses.feature_mean(style)
    root = losses.psd_sqrt(losses.covariance_from_moments(mean, losses.gram_matrix(style)))
    value = float(losses.mean_cov_style_loss(features, mean, root))
    assert value == pytest.approx(_numpy_w2(features[0], style[0]), rel=1e-3)


def test_mean_cov_style_loss_is_zero_on_matching_statistics_and_grows_with_a_shift(rng):
    style = rng.normal(size=(1, 9, 9, 3)).astype(np.float32)
    mean = losses.feature_mean(style)
    root = losses.psd_sqrt(losses.covariance_from_moments(mean, losses.gram_matrix(style)))
    assert abs(float(losses.mean_cov_style_loss(style, mean, root))) < 1e-3
    # A permutation of positions keeps the statistics, so the loss too; a shift by d adds |d|^2 / C.
    shuffled = style.reshape(1, -1, 3)[:, rng.permutation(81)].reshape(style.shape)
    assert abs(float(losses.mean_cov_style_loss(shuffled, mean, root))) < 1e-3
    shift = np.array([1.0, -2.0, 0.5], np.float32)
    assert float(losses.mean_cov_style_loss(style + shift, mean, root)) == pytest.approx(np.sum(shift**2) / 3,
                                                                                         rel=1e-3)


def test_psd_sqrt_squares_back_and_covariance_is_centred(rng):
    x = rng.normal(size=(1, 10, 10, 5)).astype(np.float32) + 4.0
    mean = losses.feature_mean(x)
    cov = losses.covariance_from_moments(mean, losses.gram_matrix(x))
    np.testing.assert_allclose(np.asarray(cov)[0], np.cov(x.reshape(-1, 5), rowvar=False, bias=True),
                               rtol=1e-3, atol=1e-4)
    root = np.asarray(losses.psd_sqrt(cov))[0]
    np.testing.assert_allclose(root @ root, np.asarray(cov)[0], rtol=1e-3, atol=1e-4)


def test_mean_cov_style_loss_gradient_is_finite_with_repeated_eigenvalues():
    """A constant style (zero covariance: every eigenvalue equal) and a constant image still give a finite gradient."""
    style = np.ones((1, 4, 4, 3), np.float32)
    mean = losses.feature_mean(style)
    root = losses.psd_sqrt(losses.covariance_from_moments(mean, losses.gram_matrix(style)))
    features = tf.Variable(np.full((1, 4, 4, 3), 2.0, np.float32))
    with tf.GradientTape() as tape:
        loss = losses.mean_cov_style_loss(features, mean, root)
    gradient = tape.gradient(loss, features)
    assert np.all(np.isfinite(np.asarray(gradient))) and float(loss) == pytest.approx(1.0, rel=1e-2)
