"""Spatial control of the optimisation path (Gatys et al. 2017): guided Gram matrices, the region rule of
`tfstyle.optimize.masks`, and real runs whose regions take their own style or stay the photo."""

from __future__ import annotations

import helpers
import numpy as np
import pytest
import tensorflow as tf

from tfstyle import features, images, losses
from tfstyle.optimize import masks
from tfstyle.optimize.config import OptimizeConfig


def test_a_full_mask_gives_the_plain_gram_and_style_loss(rng):
    feats = rng.normal(size=(2, 6, 5, 4)).astype(np.float32)
    full = np.ones((1, 6, 5, 1), np.float32)
    np.testing.assert_allclose(losses.guided_gram_matrix(feats, full)[:, 0], losses.gram_matrix(feats), rtol=1e-5)
    target = losses.gram_matrix(rng.normal(size=(1, 7, 7, 4)).astype(np.float32))
    np.testing.assert_allclose(losses.guided_style_loss(feats, target[:, None], full),
                               losses.style_loss(feats, target), rtol=1e-5)


def test_a_region_gram_is_the_gram_of_its_pixels_and_weighs_by_its_share(rng):
    feats = rng.normal(size=(1, 4, 6, 3)).astype(np.float32)
    halves = np.zeros((1, 4, 6, 2), np.float32)
    halves[:, :, :2, 0] = 1.0  # a third of the image
    halves[:, :, 2:, 1] = 1.0
    grams = losses.guided_gram_matrix(feats, halves)
    np.testing.assert_allclose(grams[0, 0], losses.gram_matrix(feats[:, :, :2])[0], rtol=1e-5)
    np.testing.assert_allclose(grams[0, 1], losses.gram_matrix(feats[:, :, 2:])[0], rtol=1e-5)
    targets = rng.normal(size=(1, 2, 3, 3)).astype(np.float32)
    per_region = [np.sum((np.asarray(grams[0, k]) - targets[0, k]) ** 2) / 36.0 for k in range(2)]
    expected = per_region[0] / 3.0 + 2.0 * per_region[1] / 3.0
    assert float(losses.guided_style_loss(feats, targets, halves)) == pytest.approx(expected, rel=1e-5)


def test_regions_share_overlaps_and_the_preserve_mask_takes_its_part_back():
    left, everywhere = np.zeros((4, 4), np.float32), np.ones((4, 4), np.float32)
    left[:, :2] = 1.0
    preserve = np.zeros((4, 4), np.float32)
    preserve[0] = 1.0
    region, keep = masks.regions([left, everywhere], preserve, (4, 4), 2)
    assert region.shape == (4, 4, 2)
    np.testing.assert_allclose(region[1:, :2], 0.5)  # both masks: half each
    np.testing.assert_allclose(region[1:, 2:, 1], 1.0)
    np.testing.assert_allclose(region[0], 0.0)  # preserved
    np.testing.assert_allclose(keep, 1.0 - region.sum(-1))
    _, uncovered = masks.regions([left], None, (4, 4), 1)
    np.testing.assert_allclose(uncovered[:, 2:], 1.0)  # no mask reaches: the photo
    resized, _ = masks.regions([left], None, (8, 6), 1)  # any size fits the stage
    assert resized.shape == (8, 6, 1) and resized[:, 0, 0].min() > 0.9 and resized[:, -1, 0].max() < 0.1


def test_masks_are_checked_before_anything_runs(tmp_path):
    images.save_image(tmp_path / "m.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="black everywhere"):
        masks.load_mask(tmp_path / "m.png")
    with pytest.raises(ValueError, match="one mask per style"):
        OptimizeConfig(style_masks=(str(tmp_path / "m.png"),)).validate(2)
    with pytest.raises(ValueError, match="use one or the other"):
        OptimizeConfig(style_masks=(str(tmp_path / "m.png"),) * 2, style_blend=(1, 2)).validate(2)
    with pytest.raises(ValueError, match="--style_loss gram"):
        OptimizeConfig(preserve_mask=str(tmp_path / "m.png"), style_loss="mean_cov").validate(1)


def _stripes(size: int = 128) -> np.ndarray:
    """A red and white diagonal stripe texture: statistics far from the Starry Night's."""
    ys, xs = np.mgrid[0:size, 0:size]
    red = ((xs + ys) // 6) % 2 == 0
    return np.where(red[..., None], [0.85, 0.1, 0.1], [0.97, 0.95, 0.9]).astype(np.float32)


def _halves(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    left = np.zeros((height, width), np.float32)
    left[:, : width // 2] = 1.0
    return left, 1.0 - left


def _gram_distance(extractor, image: np.ndarray, style: np.ndarray) -> float:
    ours, theirs = extractor(image[None]), extractor(style[None])
    return float(sum(tf.reduce_sum(tf.square(losses.gram_matrix(ours[k]) - losses.gram_matrix(theirs[k])))
                     for k in ("block1_conv1", "block2_conv1", "block3_conv1")))


def test_each_half_takes_its_own_style():
    from tfstyle.optimize import transfer

    photo = images.load_image(helpers.ASSETS / "astronaut.jpg", long_side=96)
    starry = images.load_image(helpers.ASSETS / "vangogh_starry_night.jpg", long_side=128)
    stripes = _stripes()
    config = OptimizeConfig(image_size=96, iterations=60, scales=1, precision="float32")
    height, width = photo.shape[:2]
    left, right = _halves(height, width)
    resolved, strategy = transfer.resolve(config, 2)
    runner = transfer.Stylizer([starry, stripes], resolved, strategy, style_masks=[left, right])
    result = runner.optimize_batch(photo[None], None, 20)[0]
    extractor = features.build_feature_extractor("vgg19", ("block1_conv1", "block2_conv1", "block3_conv1"))
    half = width // 2
    west, east = result[:, : half - 8], result[:, half + 8:]
    assert _gram_distance(extractor, west, starry) < _gram_distance(extractor, west, stripes)
    assert _gram_distance(extractor, east, stripes) < _gram_distance(extractor, east, starry)


def test_the_preserved_region_stays_the_photo(tmp_path):
    from tfstyle.optimize import stylize

    photo = images.load_image(helpers.ASSETS / "astronaut.jpg", long_side=64)
    height, width = photo.shape[:2]
    left, _ = _halves(height, width)
    images.save_image(tmp_path / "keep.png", np.repeat(left[..., None], 3, axis=-1))
    result = stylize(photo, [helpers.ASSETS / "vangogh_starry_night.jpg"],
                     OptimizeConfig(image_size=64, iterations=20, scales=1, precision="float32",
                                    preserve_mask=str(tmp_path / "keep.png")))
    kept, painted = slice(0, width // 2 - 2), slice(width // 2 + 2, width)
    assert np.abs(result[:, kept] - photo[:, kept]).max() < 2 / 255
    assert np.abs(result[:, painted] - photo[:, painted]).mean() > 0.03
