"""Outputs larger than memory (`tfstyle.optimize.tiling`): the tile plan, the cross-fade, and a tiled run
against the untiled one at a size where both fit."""

from __future__ import annotations

import numpy as np
import pytest

from tfstyle import images
from tfstyle.optimize import tiling, transfer
from tfstyle.optimize.config import OptimizeConfig


def test_tiles_cover_the_image_with_the_overlap_on_inner_sides():
    boxes = tiling.plan_tiles(300, 200, 100, 16)
    assert len(boxes) == 3 * 2
    covered = np.zeros((300, 200), int)
    for top, left, bottom, right in boxes:
        covered[top:bottom, left:right] += 1
    assert covered.min() >= 1
    assert boxes[0] == (0, 0, 116, 116) and boxes[-1] == (184, 84, 300, 200)
    assert tiling.tile_extent(300, 200, 100, 16) == (132, 116)
    assert tiling.plan_tiles(50, 60, 100, 16) == [(0, 0, 50, 60)]


def test_the_cross_fade_is_zero_at_inner_edges_and_one_at_the_borders():
    box = (84, 0, 216, 116)  # a middle-left tile of a 300 x 200 image
    weight = tiling.feather(box, 300, 200, 16)
    assert weight.shape == (132, 116)
    assert weight[0].max() < 0.05 and weight[-1].max() < 0.05  # inner top and bottom edges
    assert weight[66, 0] == 1.0  # the image's left border
    assert weight[66, -1] < 0.05  # inner right edge
    assert weight[40:92, :80].min() == 1.0  # the tile's own middle


def _run(photo, tile_size):
    config = OptimizeConfig(image_size=256, iterations=40, scales=2, precision="float32", tile_size=tile_size,
                            tile_overlap=32)
    return transfer.stylize(photo, [transfer.DEFAULT_STYLE], config)


@pytest.fixture(scope="module")
def runs():
    """The bundled pair at 256 px, coarse to fine: untiled, and with its 256 px stage in four 128 px tiles."""
    photo = images.load_image(transfer.DEFAULT_CONTENT, long_side=256)
    return photo, _run(photo, None), _run(photo, 128)


def test_a_tiled_run_matches_the_untiled_one(runs):
    """Texture differs (another optimisation), so compare what should agree: the picture at low frequency, the
    content loss, and that the style went most of the way from the photo's."""
    from tfstyle.evaluate import StyleEvaluator

    photo, whole, tiled = runs
    assert tiled.shape == whole.shape == photo.shape

    def low(image):
        return np.asarray(images.resize(image, (16, 16)))

    assert np.abs(low(tiled) - low(whole)).mean() < 0.25 * np.abs(low(whole) - low(photo)).mean()
    evaluator = StyleEvaluator(long_side=256)
    scores = {name: evaluator.score(image, photo, [transfer.DEFAULT_STYLE])
              for name, image in (("photo", photo), ("whole", whole), ("tiled", tiled))}
    assert scores["tiled"].content_loss == pytest.approx(scores["whole"].content_loss, rel=0.15)
    assert scores["tiled"].style_loss < 0.1 * scores["photo"].style_loss


def _cut_ratio(image: np.ndarray, row_cuts, col_cuts) -> float:
    grey = image.mean(axis=-1)
    across_columns, across_rows = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    border = np.concatenate([across_columns[:, c - 1] for c in col_cuts] + [across_rows[r - 1] for r in row_cuts])
    return float(border.mean() / np.concatenate([across_columns.ravel(), across_rows.ravel()]).mean())


def test_no_seams_along_the_tile_borders(runs):
    """The gradient across the cuts between tiles, relative to the image's mean gradient, is no higher than the
    untiled result's across the same lines (the photo has its own edges there)."""
    _, whole, tiled = runs
    height, width = tiled.shape[:2]
    cells = tiling.plan_tiles(height, width, 128, 0)  # without the overlap: the cuts between tiles
    row_cuts = sorted({bottom for _, _, bottom, _ in cells})[:-1]
    col_cuts = sorted({right for _, _, _, right in cells})[:-1]
    assert row_cuts == [128] and col_cuts == [128]
    assert _cut_ratio(tiled, row_cuts, col_cuts) <= 1.1 * _cut_ratio(whole, row_cuts, col_cuts)
