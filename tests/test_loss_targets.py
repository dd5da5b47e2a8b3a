"""Tests for tfstyle.loss_targets: blend weights, blended Gram targets and content targets, against numpy."""

import helpers
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle import loss_targets, losses
from tfstyle.optimize import objective


@pytest.fixture(scope="module")
def extractor() -> keras.Model:
    return helpers.two_layer_extractor()


numpy_gram = helpers.numpy_gram


def test_normalised_by_hand():
    assert loss_targets.normalised([], 4) == [0.25] * 4
    assert loss_targets.normalised([3.0, 1.0], 2) == [0.75, 0.25]
    assert loss_targets.normalised([0.0, 2.0, 6.0], 3) == [0.0, 0.25, 0.75]


def test_blended_grams_equal_the_weighted_sum_of_single_style_grams(extractor, rng):
    styles = [rng.uniform(size=(1, 12, 16, 3)).astype(np.float32), rng.uniform(size=(1, 20, 8, 3)).astype(np.float32)]
    blend = [0.7, 0.3]
    targets = loss_targets.blended_grams(extractor, styles, blend, ["low", "high"])
    assert set(targets) == {"low", "high"}
    for layer, channels in (("low", 4), ("high", 6)):
        assert targets[layer].shape == (1, channels, channels) and targets[layer].dtype == tf.float32
        expected = sum(b * numpy_gram(np.asarray(extractor(s)[layer])) for b, s in zip(blend, styles, strict=True))
        np.testing.assert_allclose(np.asarray(targets[layer])[0], expected, rtol=1e-5, atol=1e-6)
    # A style with weight 0 changes nothing.
    dropped = loss_targets.blended_grams(extractor, [styles[0], styles[1]], [1.0, 0.0], ["high"])
    np.testing.assert_allclose(np.asarray(dropped["high"])[0], numpy_gram(np.asarray(extractor(styles[0])["high"])),
                               rtol=1e-5, atol=1e-6)


def test_blend_identity_gives_the_same_gradients(rng):
    """sum_k b_k ||G - A_k||^2 == ||G - sum_k b_k A_k||^2 + const when sum_k b_k = 1: equal gradients in x."""
    blend = np.array([0.5, 0.2, 0.3], np.float32)
    style_grams = [losses.gram_matrix(rng.uniform(size=(1, 5, 5, 8)).astype(np.float32)) for _ in blend]
    blended = tf.add_n([b * g for b, g in zip(blend, style_grams, strict=True)])
    features = tf.Variable(rng.uniform(size=(1, 6, 7, 8)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        separate = tf.add_n([b * losses.style_loss(features, g) for b, g in zip(blend, style_grams, strict=True)])
        combined = losses.style_loss(features, blended)
    np.testing.assert_allclose(np.asarray(tape.gradient(separate, features)),
                               np.asarray(tape.gradient(combined, features)), rtol=1e-4, atol=1e-7)
    # The constant is sum_k b_k ||A_k||^2 - ||sum_k b_k A_k||^2 (scaled by 1 / 4C^2), independent of x.
    grams = [np.asarray(g, np.float64)[0] for g in style_grams]
    constant = (sum(b * np.sum(a**2) for b, a in zip(blend, grams, strict=True))
                - np.sum(sum(b * a for b, a in zip(blend, grams, strict=True)) ** 2)) / (4 * 8**2)
    assert float(separate) - float(combined) == pytest.approx(constant, rel=1e-3)


def test_content_targets_are_float32_even_from_a_float16_extractor(rng):
    """Under mixed precision the extractor returns float16; the targets the losses compare with are float32."""
    inputs = keras.Input((None, None, 3))
    half = keras.layers.Lambda(lambda x: tf.cast(x * 3.0, tf.float16), name="half")(inputs)
    extractor = keras.Model(inputs, {"half": half, "unused": inputs})
    content = rng.uniform(size=(2, 4, 5, 3)).astype(np.float32)
    targets = loss_targets.content_targets(extractor, content, ["half"])
    assert list(targets) == ["half"] and targets["half"].dtype == tf.float32
    assert targets["half"].shape == (2, 4, 5, 3)
    np.testing.assert_allclose(np.asarray(targets["half"]), content * 3.0, rtol=1e-3)


def test_objective_uses_these_functions_not_copies():
    """The optimiser and the evaluator blend styles by one rule: objective imports it from loss_targets."""
    assert objective.blended_grams is loss_targets.blended_grams
    assert objective.content_targets is loss_targets.content_targets
    assert objective.normalised is loss_targets.normalised


def test_blended_moments_are_the_mixture_mean_and_covariance_root(extractor, rng):
    styles = [rng.uniform(size=(1, 12, 16, 3)).astype(np.float32), rng.uniform(size=(1, 20, 8, 3)).astype(np.float32)]
    blend = [0.6, 0.4]
    targets = loss_targets.style_targets(extractor, styles, blend, ["high"], "mean_cov")
    feats = [np.asarray(extractor(s)["high"], np.float64)[0].reshape(-1, 6) for s in styles]
    mean = sum(b * f.mean(0) for b, f in zip(blend, feats, strict=True))
    second = sum(b * (f.T @ f) / len(f) for b, f in zip(blend, feats, strict=True))
    cov = second - np.outer(mean, mean)
    np.testing.assert_allclose(np.asarray(targets["high"]["mean"])[0], mean, rtol=1e-4, atol=1e-6)
    root = np.asarray(targets["high"]["cov_sqrt"], np.float64)[0]
    np.testing.assert_allclose(root @ root, cov, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="unknown style loss"):
        loss_targets.style_targets(extractor, styles, blend, ["high"], "wasserstein")
