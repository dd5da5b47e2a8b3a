"""Tests for tfstyle.colour: colour-histogram matching and luminance-only transfer (Gatys et al. 2016)."""

import numpy as np
import pytest

from tfstyle import colour

# NTSC RGB -> YIQ, written out here so the test does not trust the code's own matrix.
YIQ = np.array([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])


def correlated_image(rng, height, width, mean, mixing) -> np.ndarray:
    """float32 [H, W, 3]: Gaussian colours with the given mean and a correlated covariance, kept inside [0, 1]."""
    pixels = rng.standard_normal((height * width, 3)) @ np.asarray(mixing).T + mean
    assert pixels.min() > 0.0 and pixels.max() < 1.0, "test image must not need clipping"
    return pixels.reshape(height, width, 3).astype(np.float32)


def stats(image) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(image, np.float64).reshape(-1, 3)
    return pixels.mean(axis=0), np.cov(pixels, rowvar=False, bias=True)


def test_match_color_gives_the_reference_mean_and_covariance(rng):
    source = correlated_image(rng, 48, 40, [0.45, 0.5, 0.55], [[0.05, 0.0, 0.0], [0.03, 0.04, 0.0],
                                                                [0.01, 0.02, 0.03]])
    reference = correlated_image(rng, 24, 32, [0.6, 0.4, 0.3], [[0.03, 0.01, 0.0], [0.0, 0.02, 0.01],
                                                                 [0.01, 0.0, 0.04]])
    matched = np.asarray(colour.match_color(source, reference))
    assert matched.shape == source.shape and matched.dtype == np.float32
    assert matched.min() >= 0.0 and matched.max() <= 1.0
    mean_m, cov_m = stats(matched)
    mean_r, cov_r = stats(reference)
    mean_s, cov_s = stats(source)
    np.testing.assert_allclose(mean_m, mean_r, atol=2e-3)
    np.testing.assert_allclose(cov_m, cov_r, atol=5e-5)  # entries ~1e-3
    assert np.abs(cov_s - cov_r).max() > 1e-3  # it really had to change them


def test_match_color_is_the_symmetric_square_root_map(rng):
    """x' = Sigma_r^1/2 Sigma_s^-1/2 (x - mu_s) + mu_r with symmetric (eigen) square roots, against numpy."""
    source = correlated_image(rng, 16, 16, [0.5, 0.5, 0.5], np.diag([0.06, 0.05, 0.04]) + 0.01)
    reference = correlated_image(rng, 16, 16, [0.4, 0.5, 0.6], np.diag([0.03, 0.05, 0.02]))

    def power(matrix, p):
        values, vectors = np.linalg.eigh(matrix)
        return (vectors * np.maximum(values, 1e-5) ** p) @ vectors.T

    mean_s, cov_s = stats(source)
    mean_r, cov_r = stats(reference)
    transform = power(cov_r, 0.5) @ power(cov_s, -0.5)
    expected = np.clip((source.reshape(-1, 3) - mean_s) @ transform.T + mean_r, 0, 1).reshape(source.shape)
    np.testing.assert_allclose(np.asarray(colour.match_color(source, reference)), expected, atol=1e-4)


def test_match_color_on_a_flat_source_stays_finite():
    flat = np.full((8, 8, 3), 0.3, np.float32)
    matched = np.asarray(colour.match_color(flat, np.random.default_rng(1).uniform(size=(8, 8, 3))))
    assert np.isfinite(matched).all() and matched.min() >= 0.0 and matched.max() <= 1.0


def test_luminance_is_the_yiq_luma_on_three_channels(rng):
    image = rng.uniform(size=(2, 6, 5, 3)).astype(np.float32)
    grey = np.asarray(colour.luminance(image))
    assert grey.shape == image.shape and grey.dtype == np.float32
    expected = image.astype(np.float64) @ YIQ[0]
    for channel in range(3):
        np.testing.assert_allclose(grey[..., channel], expected, atol=1e-5)
    # A grey image is its own luminance.
    np.testing.assert_allclose(np.asarray(colour.luminance(grey)), grey, atol=1e-5)


def test_match_luminance_gives_the_reference_luma_mean_and_std(rng):
    source = rng.uniform(0.2, 0.5, size=(20, 30, 3)).astype(np.float32)
    reference = rng.uniform(0.3, 0.9, size=(10, 12, 3)).astype(np.float32)
    matched = np.asarray(colour.match_luminance(source, reference))
    assert matched.shape == source.shape and matched.dtype == np.float32
    np.testing.assert_array_equal(matched[..., 0], matched[..., 1])
    np.testing.assert_array_equal(matched[..., 0], matched[..., 2])
    y_ref = reference.astype(np.float64) @ YIQ[0]
    assert matched[..., 0].mean() == pytest.approx(y_ref.mean(), abs=1e-4)
    assert matched[..., 0].std() == pytest.approx(y_ref.std(), abs=1e-4)
    # The matched luma is an increasing affine map of the source's luma (structure kept).
    y_src = source.astype(np.float64) @ YIQ[0]
    slope, intercept = np.polyfit(y_src.ravel(), matched[..., 0].ravel().astype(np.float64), 1)
    assert slope > 0
    np.testing.assert_allclose(matched[..., 0], slope * y_src + intercept, atol=1e-5)


def test_recombine_luminance_takes_y_from_the_result_and_iq_from_the_content(rng):
    # Mid-range colours so that the YIQ -> RGB round trip stays inside [0, 1] (no clipping).
    content = rng.uniform(0.35, 0.65, size=(1, 12, 10, 3)).astype(np.float32)
    stylised = np.asarray(colour.luminance(rng.uniform(0.3, 0.7, size=(1, 12, 10, 3)).astype(np.float32)))
    result = np.asarray(colour.recombine_luminance(stylised, content))
    assert result.shape == content.shape and result.dtype == np.float32
    assert result.min() >= 0.0 and result.max() <= 1.0
    yiq_result = result.astype(np.float64) @ YIQ.T
    yiq_content = content.astype(np.float64) @ YIQ.T
    np.testing.assert_allclose(yiq_result[..., 1:], yiq_content[..., 1:], atol=1e-5)
    np.testing.assert_allclose(yiq_result[..., 0], stylised[..., 0], atol=1e-5)


def test_recombine_luminance_clips_out_of_gamut_colours(rng):
    content = np.zeros((4, 4, 3), np.float32)
    content[..., 0] = 1.0  # saturated red: large I
    white = np.ones((4, 4, 3), np.float32)
    result = np.asarray(colour.recombine_luminance(white, content))
    assert result.min() >= 0.0 and result.max() <= 1.0
    yiq = np.concatenate([np.ones((4, 4, 1)), (content.astype(np.float64) @ YIQ.T)[..., 1:]], axis=-1)
    unclipped = yiq @ np.linalg.inv(YIQ).T
    assert unclipped.max() > 1.0  # white luma with red chroma is out of gamut
    np.testing.assert_allclose(result, np.clip(unclipped, 0.0, 1.0), atol=1e-5)
