"""`--strength`: a style weight set from the pair itself (`objective.style_weight_for_strength`), then corrected
between chunks until the style loss reaches the dial's share of the photo's (`objective.controlled_style_weight`)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfstyle import images
from tfstyle.optimize import objective, transfer
from tfstyle.optimize.config import STYLE_WEIGHTS, OptimizeConfig


def test_the_dial_is_zero_one_and_a_decade_per_quarter():
    assert objective.strength_multiplier(0.0) == 0.0
    assert objective.strength_multiplier(0.5) == pytest.approx(1.0)
    assert objective.strength_multiplier(0.75) == pytest.approx(10.0)
    assert objective.strength_multiplier(1.0) == pytest.approx(100.0)
    values = [objective.strength_multiplier(s) for s in np.linspace(0, 1, 21)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    with pytest.raises(ValueError, match="--strength must be in"):
        objective.strength_multiplier(1.2)


def test_the_weight_follows_the_pairs_own_scales():
    base = objective.style_weight_for_strength(0.5, 1.0, 2.0e6, 1.0e10)
    assert base == pytest.approx(objective.STRENGTH_REFERENCE * 2.0e6 / 1.0e10)
    assert objective.style_weight_for_strength(0.5, 1.0, 2.0e6, 2.0e10) == pytest.approx(base / 2)  # farther style
    assert objective.style_weight_for_strength(0.5, 3.0, 2.0e6, 1.0e10) == pytest.approx(3 * base)  # alpha
    assert objective.style_weight_for_strength(0.5, 1.0, 2.0e6, 0.0) == 0.0  # the photo has the style already


def test_strength_and_style_weight_exclude_each_other():
    with pytest.raises(ValueError, match="not both"):
        OptimizeConfig(strength=0.5, style_weight=1e-3).validate(1)
    with pytest.raises(ValueError, match=r"--strength must be in \[0, 1\]"):
        OptimizeConfig(strength=-0.1).validate(1)
    with pytest.raises(ValueError, match="gram"):
        OptimizeConfig(strength=0.5, style_loss="mean_cov").validate(1)
    assert OptimizeConfig(strength=0.5).resolved(False, False).style_weight is None  # set per pair


def _pair(size):
    content = np.asarray(images.resize_long_side(images.load_image(transfer.DEFAULT_CONTENT), size))[None]
    return content, images.load_image(transfer.DEFAULT_STYLE)


def test_the_middle_of_the_dial_is_the_default_weight_on_the_bundled_pair():
    content, style = _pair(256)
    config, strategy = transfer.resolve(OptimizeConfig(image_size=256, strength=0.5, precision="float32"), 1)
    stylizer = transfer.Stylizer([style], config, strategy)
    weight = stylizer.stage_style_weight(np.asarray(stylizer.prepare_content(content)),
                                         stylizer._stacked_grams(content, 256))  # noqa: SLF001
    assert weight == pytest.approx(STYLE_WEIGHTS["gram"], rel=0.1)


def test_more_strength_means_less_style_loss():
    from tfstyle.evaluate import StyleEvaluator

    content, style = _pair(64)
    evaluator = StyleEvaluator(long_side=64)  # at the output's own size
    losses = []
    for strength in (0.25, 0.5, 0.75):
        result = transfer.stylize(content[0], [style], OptimizeConfig(image_size=64, iterations=30, scales=1,
                                                                      strength=strength, precision="float32"))
        losses.append(evaluator.score(result, content[0], [transfer.DEFAULT_STYLE]).style_loss)
    assert losses[0] > losses[1] > losses[2]


def test_the_dial_asks_for_a_share_of_the_photos_style_loss():
    assert objective.strength_target(0.0) == 1.0
    assert objective.strength_target(0.5) == pytest.approx(0.1)
    assert objective.strength_target(1.0) == pytest.approx(0.01)
    targets = [objective.strength_target(s) for s in np.linspace(0, 1, 11)]
    assert all(a > b for a, b in zip(targets, targets[1:], strict=False))
    with pytest.raises(ValueError, match="--strength must be in"):
        objective.strength_target(-0.5)


def test_the_controller_raises_the_weight_above_the_target_and_lowers_it_below():
    assert objective.controlled_style_weight(1e-3, 0.2, 0.1) == pytest.approx(2e-3)  # still too much style loss
    assert objective.controlled_style_weight(1e-3, 0.05, 0.1) == pytest.approx(5e-4)  # past the target
    assert objective.controlled_style_weight(1e-3, 0.1, 0.1) == pytest.approx(1e-3)  # on it: unchanged
    limit = objective.MAX_CONTROL_STEP
    assert objective.controlled_style_weight(1e-3, 50.0, 0.1) == pytest.approx(1e-3 * limit)  # one step is capped
    assert objective.controlled_style_weight(1e-3, 0.0, 0.1) == pytest.approx(1e-3 / limit)
    assert objective.controlled_style_weight(0.0, 0.5, 0.1) == 0.0  # strength 0 stays the photo


def _stripes(size=64):
    rows = (np.arange(size) // 4) % 2
    return np.where(rows[:, None, None] == 1, [1.0, 0.1, 0.1], [1.0, 1.0, 1.0]).astype(np.float32) * np.ones(
        (size, size, 3), np.float32)


def _style_ratio(style, **overrides) -> float:
    """The objective's style loss of the output over the photo's own, for the bundled photo at 64 px."""
    content, _ = _pair(64)
    config, strategy = transfer.resolve(OptimizeConfig(image_size=64, iterations=40, scales=1, precision="float32",
                                                       **overrides), 1)
    stylizer = transfer.Stylizer([style], config, strategy)
    result = stylizer.optimize_batch(content, None, 10)
    loss_fn = stylizer.loss_function(content, 64)
    _, start = loss_fn(tf.constant(np.asarray(stylizer.prepare_content(content))))
    _, end = loss_fn(tf.constant(np.asarray(stylizer.prepare_content(result))))
    return float(end["style"]) / float(start["style"])


def test_the_controller_brings_different_paintings_to_the_same_share():
    """Starry Night and a flat stripe texture end far apart at one fixed weight, near the dial's target under it."""
    target = objective.strength_target(0.5)
    paintings = [images.load_image(transfer.DEFAULT_STYLE), _stripes()]
    fixed = [_style_ratio(style) for style in paintings]
    dial = [_style_ratio(style, strength=0.5) for style in paintings]
    assert all(target / 3 < ratio < target * 3 for ratio in dial), dial  # fixed: 0.0044 and 0.041 here
    assert max(dial) / min(dial) < max(fixed) / min(fixed), (dial, fixed)
