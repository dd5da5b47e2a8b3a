"""`--strength`: a style weight set from the pair itself (`objective.style_weight_for_strength`)."""

from __future__ import annotations

import numpy as np
import pytest

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
