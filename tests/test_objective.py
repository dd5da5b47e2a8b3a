"""Tests for tfstyle.optimize.objective: blended style targets and the total loss, against numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle import losses
from tfstyle.optimize import objective


@pytest.fixture(scope="module")
def extractor() -> keras.Model:
    """A two-layer stand-in for the VGG extractor: float [B, H, W, 3] -> {"low": [B,H,W,4], "high": [B,H/2,W/2,6]}."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    low = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="low")(inputs)
    high = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="high")(low)
    return keras.Model(inputs, {"low": low, "high": high})


def numpy_gram(features: np.ndarray) -> np.ndarray:
    """[1, H, W, C] -> [C, C], G = F^T F / (H W)."""
    flat = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
    return flat.T @ flat / flat.shape[0]


def test_normalised():
    assert objective.normalised([], 4) == [0.25] * 4
    assert objective.normalised([3.0, 1.0], 2) == [0.75, 0.25]
    assert sum(objective.normalised([0.2, 0.2, 0.6], 3)) == pytest.approx(1.0)


def test_blended_grams_equal_the_weighted_sum_of_single_style_grams(extractor, rng):
    styles = [rng.uniform(size=(1, 12, 16, 3)).astype(np.float32), rng.uniform(size=(1, 20, 8, 3)).astype(np.float32)]
    blend = [0.7, 0.3]
    targets = objective.blended_grams(extractor, styles, blend, ["low", "high"])
    assert set(targets) == {"low", "high"}
    for layer, channels in (("low", 4), ("high", 6)):
        assert targets[layer].shape == (1, channels, channels) and targets[layer].dtype == tf.float32
        expected = sum(b * numpy_gram(np.asarray(extractor(s)[layer])) for b, s in zip(blend, styles, strict=True))
        np.testing.assert_allclose(np.asarray(targets[layer])[0], expected, rtol=1e-5, atol=1e-6)
    # One style with weight 1 is just its Gram.
    single = objective.blended_grams(extractor, styles[:1], [1.0], ["high"])
    np.testing.assert_allclose(np.asarray(single["high"])[0], numpy_gram(np.asarray(extractor(styles[0])["high"])),
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


def test_content_targets_are_float32_features(extractor, rng):
    content = rng.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    targets = objective.content_targets(extractor, content, ["high"])
    assert list(targets) == ["high"] and targets["high"].dtype == tf.float32
    np.testing.assert_allclose(np.asarray(targets["high"]), np.asarray(extractor(content)["high"]), rtol=1e-6)


def test_make_loss_fn_terms_match_numpy(extractor, rng):
    content = rng.uniform(size=(1, 8, 10, 3)).astype(np.float32)
    style = rng.uniform(size=(1, 12, 12, 3)).astype(np.float32)
    x = rng.uniform(size=(1, 8, 10, 3)).astype(np.float32)
    content_features = objective.content_targets(extractor, content, ["low", "high"])
    grams = objective.blended_grams(extractor, [style], [1.0], ["low", "high"])
    layer_weights = {"low": 0.25, "high": 0.75}
    loss_fn = objective.make_loss_fn(extractor, content_features, grams, layer_weights,
                                     content_weight=2.0, style_weight=10.0, tv_weight=0.5)
    total, terms = loss_fn(tf.constant(x))
    assert set(terms) == {"content", "style", "tv"}

    out = {k: np.asarray(v, np.float64) for k, v in extractor(x).items()}
    target = {k: np.asarray(v, np.float64) for k, v in content_features.items()}
    content_expected = np.mean([np.mean((out[k] - target[k]) ** 2) for k in ("low", "high")])
    style_expected = sum(w * np.sum((numpy_gram(out[k]) - np.asarray(grams[k], np.float64)[0]) ** 2)
                         / (4 * out[k].shape[-1] ** 2) for k, w in layer_weights.items())
    tv_expected = (np.abs(np.diff(x, axis=1)).sum() + np.abs(np.diff(x, axis=2)).sum()) / (8 * 10)
    assert float(terms["content"]) == pytest.approx(content_expected, rel=1e-4)
    assert float(terms["style"]) == pytest.approx(style_expected, rel=1e-4)
    assert float(terms["tv"]) == pytest.approx(tv_expected, rel=1e-5)
    assert float(total) == pytest.approx(2.0 * content_expected + 10.0 * style_expected + 0.5 * tv_expected,
                                         rel=1e-4)


def test_loss_fn_is_zero_content_at_the_content_and_differentiable(extractor, rng):
    content = rng.uniform(size=(1, 8, 8, 3)).astype(np.float32)
    loss_fn = objective.make_loss_fn(extractor, objective.content_targets(extractor, content, ["high"]),
                                     objective.blended_grams(extractor, [content], [1.0], ["low"]), {"low": 1.0},
                                     content_weight=1.0, style_weight=1.0, tv_weight=0.0)
    total, terms = loss_fn(tf.constant(content))
    assert float(terms["content"]) == pytest.approx(0.0, abs=1e-10)
    assert float(terms["style"]) == pytest.approx(0.0, abs=1e-8)  # its own Gram
    x = tf.Variable(rng.uniform(size=(1, 8, 8, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        value, _ = tf.function(loss_fn)(x)
    gradient = tape.gradient(value, x)
    assert gradient.shape == x.shape and float(tf.reduce_sum(tf.abs(gradient))) > 0
