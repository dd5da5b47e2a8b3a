"""Outputs larger than memory (`tfstyle.optimize.tiling`): the grid, the exactness of the tile-by-tile gradient,
and a tiled run against the untiled one at a size where both fit."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfstyle import images, losses
from tfstyle.optimize import objective, tiling, transfer
from tfstyle.optimize.config import OptimizeConfig


def test_the_cores_partition_the_image_and_every_window_lines_up_with_vgg():
    grid = tiling.plan_grid(300, 200, 100, 20)
    assert (grid.rows.core, grid.cols.core, grid.rows.halo) == (96, 96, 32)  # multiples of the block5 stride
    assert (grid.rows.count, grid.cols.count) == (4, 3) and grid.window == (160, 160) and grid.padded == (304, 208)
    assert grid.rows.core_starts() == [0, 96, 192, 208]  # the last core moved back inside the image
    assert grid.rows.window_starts() == [0, 64, 144, 144]  # windows stay inside it: VGG pads its borders
    covered = np.zeros((300, 200), int)
    for top, left, bottom, right in grid.cores():
        covered[top:bottom, left:right] += 1
    assert covered.min() == covered.max() == 1  # each pixel in exactly one core
    assert tuple(grid.pad(tf.zeros([1, 300, 200, 3])).shape[1:3]) == grid.padded
    for stride in (1, 2, 4, 8, 16):  # each position of the untiled feature map counted once
        rows, cols = grid.rows.masks(stride), grid.cols.masks(stride)
        assert rows.sum() * cols.sum() == (300 // stride) * (200 // stride)
        assert rows.max() == 1 and cols.max() == 1
    short = tiling.plan_grid(40, 600, 512, 64)
    assert short.rows.core == 48 and short.window == (48, 608)  # a short side: one core, the window the image


def test_the_tiled_gradient_is_the_gradient_of_the_tiled_objective():
    """The two passes (Grams summed, then each window backpropagated against the global dE/dG) give exactly what
    autodiff through every window at once gives, and the loss comes close to the untiled objective's."""
    photo = images.load_image(transfer.DEFAULT_CONTENT, long_side=96)[None]
    config, strategy = transfer.resolve(OptimizeConfig(image_size=96, iterations=1, scales=1,
                                                       precision="float32"), 1)
    stylizer = transfer.Stylizer([images.load_image(transfer.DEFAULT_STYLE)], config, strategy)
    grid = tiling.plan_grid(*photo.shape[1:3], 32, 16)
    assert grid.tiles == 9
    grams = {layer: tf.constant(value) for layer, value in stylizer._stacked_grams(photo, 96).items()}  # noqa: SLF001
    prepared = tf.constant(np.asarray(stylizer.prepare_content(photo)))
    tiled = tiling.TiledObjective(stylizer.extractor, grid, "vgg19", stylizer.content_layers,
                                  stylizer.style_layers, stylizer.style_layer_weights)
    targets = tiled.content_targets(prepared)
    noise = np.random.default_rng(0).normal(0.0, 0.1, prepared.shape).astype(np.float32)
    x = tf.constant(np.clip(np.asarray(prepared) + noise, 0.0, 1.0))

    def reference(image):  # the same sums, autodiff through all nine windows
        padded, sums, content = grid.pad(image), [0.0] * len(stylizer.style_layers), 0.0
        for index in range(grid.tiles):
            outputs = stylizer.extractor(tiled._window(padded, index), training=False)  # noqa: SLF001
            sums = [total + tiling.masked_gram_sum(*tiled._core(outputs, layer, index))  # noqa: SLF001
                    for total, layer in zip(sums, stylizer.style_layers, strict=True)]
            content += tiled._content_error(outputs, targets, index, 1.0)  # noqa: SLF001
        style = tf.add_n([stylizer.style_layer_weights[layer] * losses.gram_style_loss(
            total / tiled.positions[layer], grams[layer]) for total, layer in zip(sums, stylizer.style_layers,
                                                                                  strict=True)])
        return content + 5e-3 * style + 1e4 * losses.total_variation_loss(image)

    results = {}
    for name, fn in (("tiled", lambda image: tiled.make_loss_fn(targets, grams, 1.0, 5e-3, 1e4)(image)[0]),
                     ("reference", reference),
                     ("untiled", lambda image: stylizer._loss_fn(  # noqa: SLF001
                         objective.content_targets(stylizer.extractor, prepared, stylizer.content_layers), grams,
                         style_weight=5e-3)(image)[0])):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        results[name] = (float(value), np.asarray(tape.gradient(value, x)))
    (tiled_loss, tiled_grad), (ref_loss, ref_grad) = results["tiled"], results["reference"]
    assert tiled_loss == pytest.approx(ref_loss, rel=1e-5)
    assert np.linalg.norm(tiled_grad - ref_grad) < 1e-4 * np.linalg.norm(ref_grad)
    # and the untiled objective's: only the context beyond 16 px of a core is missing from a window
    untiled_loss, untiled_grad = results["untiled"]
    assert tiled_loss == pytest.approx(untiled_loss, rel=0.03)  # 1.8 % here, 1e-5 with 64 + 32 px at 160 px
    cosine = np.sum(tiled_grad * untiled_grad) / np.linalg.norm(tiled_grad) / np.linalg.norm(untiled_grad)
    assert cosine > 0.95


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
    """The tiled objective is the untiled one up to the context beyond 32 px of a core, so the two runs agree:
    the picture at low frequency, the content loss, and the style loss (7.18e7 tiled against 7.38e7 untiled in
    experiments/study_tiling.py, from the photo's 1.19e10)."""
    from tfstyle.evaluate import StyleEvaluator

    photo, whole, tiled = runs
    assert tiled.shape == whole.shape == photo.shape

    def low(image):
        return np.asarray(images.resize(image, (16, 16)))

    assert np.abs(low(tiled) - low(whole)).mean() < 0.25 * np.abs(low(whole) - low(photo)).mean()
    evaluator = StyleEvaluator(long_side=256)
    scores = {name: evaluator.score(image, photo, [transfer.DEFAULT_STYLE])
              for name, image in (("photo", photo), ("whole", whole), ("tiled", tiled))}
    assert scores["tiled"].content_loss == pytest.approx(scores["whole"].content_loss, rel=0.05)
    assert scores["tiled"].style_loss < 1.5 * scores["whole"].style_loss
    assert scores["whole"].style_loss < 0.02 * scores["photo"].style_loss


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
    cores = tiling.plan_grid(height, width, 128, 32).cores()  # the cuts between tiles
    row_cuts = sorted({bottom for _, _, bottom, _ in cores})[:-1]
    col_cuts = sorted({right for _, _, _, right in cores})[:-1]
    assert row_cuts == [128] and col_cuts == [128]
    assert _cut_ratio(tiled, row_cuts, col_cuts) <= 1.1 * _cut_ratio(whole, row_cuts, col_cuts)
