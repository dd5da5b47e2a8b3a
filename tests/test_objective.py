"""Tests for tfstyle.optimize.objective: the total loss and its terms, against numpy (targets: test_loss_targets)."""

import helpers
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle.optimize import objective


@pytest.fixture(scope="module")
def extractor() -> keras.Model:
    return helpers.two_layer_extractor()


numpy_gram = helpers.numpy_gram


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


def test_a_video_frame_adds_the_weighted_temporal_term(extractor, rng):
    content = rng.uniform(size=(1, 8, 8, 3)).astype(np.float32)
    targets = objective.content_targets(extractor, content, ["high"])
    grams = objective.blended_grams(extractor, [content], [1.0], ["low"])
    still = objective.make_loss_fn(extractor, targets, grams, {"low": 1.0}, 1.0, 1.0, 0.5)
    previous = rng.uniform(size=(1, 8, 8, 3)).astype(np.float32)
    weights = np.ones((1, 8, 8, 1), np.float32)
    frame = objective.make_loss_fn(extractor, targets, grams, {"low": 1.0}, 1.0, 1.0, 0.5,
                                   temporal=(previous, weights), temporal_weight=3.0)
    x = tf.constant(rng.uniform(size=(1, 8, 8, 3)).astype(np.float32))
    (base, _), (total, terms) = still(x), frame(x)
    assert float(terms["temporal"]) == pytest.approx(float(np.mean((np.asarray(x) - previous) ** 2)), rel=1e-5)
    assert float(total) == pytest.approx(float(base) + 3.0 * float(terms["temporal"]), rel=1e-5)
