"""Outputs larger than memory: the finest coarse-to-fine stages optimised tile by tile.

A stage too large for one optimisation step (`multiscale.estimate_bytes` over the memory there is) is cut into
overlapping tiles of `tile` px plus `overlap` px of context on each inner side. Each tile is optimised in raster
order against the *global* style targets (the style Grams of the whole painting at the stage's scale: a Gram
is an average over positions, so a tile compares with it as the whole image does) and its own content
features, starting from the current canvas: the upsampled coarser stage, already updated by the tiles before
it in their overlap. The result is written back with a feathered weight that rises from 0 at a tile's inner
edges to 1 at `overlap` px in, so neighbouring tiles cross-fade instead of meeting at a seam.

The coarser stages, which fit, fix the global composition first; the tiles only refine texture at full size,
as crowsonkb's style-transfer and the "tiled" modes of neural-style ports do at their finest scales.
"""

from __future__ import annotations

import numpy as np

# Tile side (px, without the overlap) when tiling is automatic, and the overlap on each inner side.
CPU_TILE, GPU_TILE = 512, 1024
OVERLAP = 64


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) boxes covering [height, width] in raster order: a grid of cells of at most
    `tile` px, each box the cell plus `overlap` px into its neighbours (clipped at the image border)."""

    def cuts(length: int) -> list[tuple[int, int]]:
        count = max(1, -(-length // tile))
        edges = [round(i * length / count) for i in range(count + 1)]
        return [(max(0, a - overlap), min(length, b + overlap)) for a, b in zip(edges, edges[1:], strict=False)]

    return [(top, left, bottom, right) for top, bottom in cuts(height) for left, right in cuts(width)]


def feather(box: tuple[int, int, int, int], height: int, width: int, overlap: int) -> np.ndarray:
    """float32 [bottom - top, right - left] write-back weight of a tile: a linear ramp from 0 at each inner edge
    to 1 at 2 x `overlap` px in (the width of the shared band); 1 along the image's own borders."""
    top, left, bottom, right = box

    def ramp(length: int, start_inner: bool, end_inner: bool) -> np.ndarray:
        positions = np.arange(length, dtype=np.float32) + 0.5
        weight = np.ones(length, np.float32)
        band = max(1, 2 * overlap)
        if start_inner:
            weight = np.minimum(weight, positions / band)
        if end_inner:
            weight = np.minimum(weight, (length - positions) / band)
        return np.clip(weight, 0.0, 1.0)

    rows = ramp(bottom - top, top > 0, bottom < height)
    cols = ramp(right - left, left > 0, right < width)
    return np.outer(rows, cols).astype(np.float32)


def tile_extent(height: int, width: int, tile: int, overlap: int) -> tuple[int, int]:
    """The largest box `plan_tiles` makes: what one tile's optimisation step must fit."""
    boxes = plan_tiles(height, width, tile, overlap)
    return max(b - t for t, _, b, _ in boxes), max(r - le for _, le, _, r in boxes)
