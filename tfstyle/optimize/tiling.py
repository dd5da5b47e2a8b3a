"""Outputs larger than memory: the objective of a whole stage computed tile by tile, exactly.

A stage too large for one optimisation step (`multiscale.estimate_bytes` over the memory there is) keeps the
whole image as the solver's variable (a 4096 x 2736 px image is 134 MB; L-BFGS keeps 2m copies of it) and only
the VGG passes go tile by tile. The image is cut into a grid of cores of `tile` px; each core is seen through a
window with `halo` px of context on every side, moved inside the image at its borders (so VGG zero-pads the
image's own borders, as in an untiled pass). Every feature position of the image belongs to exactly one core,
so the loss splits into sums over cores:

    G_l = (1 / M_l) sum_t F_t^T F_t        (F_t: layer l's features of core t, M_l: positions of layer l)
    L   = alpha L_content + beta sum_l w_l E_l(G_l, A_l) + gamma TV(x)

and so does its gradient: with D_l = dE/dG_l, the style term's gradient through core t is that of
<D_l, F_t^T F_t> / M_l. One evaluation is therefore two passes over the tiles (`make_loss_fn`): the first sums
the Gram matrices and the content error, the second backpropagates each window against the *global* D_l,
adding its gradient into the image's. Only one window's activations exist at a time, and the result is the
gradient of the untiled objective up to the context beyond `halo` px that a window does not see (exactly it
when the windows span the image): no seams to hide, no cross-fade, and the solver (in-graph L-BFGS or Adam,
unchanged) optimises the whole image at once.

Cost: a forward pass more per evaluation than an untiled step (about 4/3 of its time), plus the halo.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfstyle import features, losses

# Core side (px) when tiling is automatic, and the context around each core.
CPU_TILE, GPU_TILE = 512, 1024
OVERLAP = 64
# Cores and halos are multiples of the deepest VGG stride used (block5: 16 px), so that every window's feature
# maps line up with the image's.
STRIDE = 16


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclasses.dataclass(frozen=True)
class Axis:
    """One axis of a `Grid`: where each core and each window starts along it, in px.

    The image's `length` is first rounded up to `STRIDE` (`span`). Cores of `core` px follow each other from 0;
    the last one is moved back to end at `span` (overlapping the one before, which keeps the shared positions).
    Each core's window is `window` px long, `halo` px before and after the core where the image allows, moved
    inside the image at its ends: a window never reaches past the image, so VGG pads its borders with zeros
    exactly as it does in an untiled pass.
    """

    length: int
    core: int
    halo: int

    @property
    def span(self) -> int:
        return _round_up(self.length, STRIDE)

    @property
    def count(self) -> int:
        return math.ceil(self.span / self.core)

    @property
    def window(self) -> int:
        return min(self.core + 2 * self.halo, self.span)

    def core_starts(self) -> list[int]:
        return [min(index * self.core, self.span - self.core) for index in range(self.count)]

    def window_starts(self) -> list[int]:
        return [min(max(start - self.halo, 0), self.span - self.window) for start in self.core_starts()]

    def owned(self) -> list[tuple[int, int]]:
        """[start, end) px of the image each core answers for: they partition [0, length)."""
        starts = self.core_starts()
        ends = [min(start + self.core, self.length) for start in starts]
        return [(max(start, ends[index - 1] if index else 0), end) for index, (start, end)
                in enumerate(zip(starts, ends, strict=True))]

    def masks(self, stride: int) -> np.ndarray:
        """float32 [count, core / stride]: 1 on the feature positions (of a layer of this stride) each core answers
        for: those of the untiled feature map (length // stride of them) that no earlier core has."""
        size = self.core // stride
        masks = np.zeros((self.count, size), np.float32)
        claimed = 0
        for index, start in enumerate(self.core_starts()):
            first = start // stride
            positions = np.arange(first, first + size)
            masks[index] = (positions >= claimed) & (positions < self.length // stride)
            claimed = first + size
        return masks


@dataclasses.dataclass(frozen=True)
class Grid:
    """A `height` x `width` px image cut into `rows.count` x `cols.count` cores, each seen through its window
    (`Axis`); the tiles go in raster order."""

    rows: Axis
    cols: Axis

    @property
    def height(self) -> int:
        return self.rows.length

    @property
    def width(self) -> int:
        return self.cols.length

    @property
    def tiles(self) -> int:
        return self.rows.count * self.cols.count

    @property
    def window(self) -> tuple[int, int]:
        """(height, width) px of the window one VGG pass sees."""
        return self.rows.window, self.cols.window

    @property
    def padded(self) -> tuple[int, int]:
        """(height, width) px of the image as the windows see it: rounded up to `STRIDE`."""
        return self.rows.span, self.cols.span

    def cores(self) -> list[tuple[int, int, int, int]]:
        """(top, left, bottom, right) px of the image each tile answers for, in raster order (they partition it)."""
        return [(top, left, bottom, right) for top, bottom in self.rows.owned() for left, right in self.cols.owned()]

    def pad(self, image: tf.Tensor) -> tf.Tensor:
        """float [B, height, width, C] -> [B, *padded, C]: mirrored by the under 16 px the rounding adds (the
        feature positions there are outside the untiled map and never counted). Differentiable."""
        extra_h, extra_w = self.rows.span - self.height, self.cols.span - self.width
        if not (extra_h or extra_w):
            return image
        return tf.pad(image, [[0, 0], [0, extra_h], [0, extra_w], [0, 0]], mode="SYMMETRIC")


def plan_grid(height: int, width: int, tile: int, overlap: int) -> Grid:
    """The grid of a `height` x `width` px stage with cores of at most `tile` px (rounded down to `STRIDE`; a
    side shorter than that gets one core of its own length, rounded up) and windows `overlap` px larger on each
    side (rounded up to `STRIDE`)."""
    core = max(STRIDE, tile // STRIDE * STRIDE)
    halo = _round_up(overlap, STRIDE)
    return Grid(*(Axis(length, min(core, _round_up(length, STRIDE)), halo) for length in (height, width)))


def tile_extent(height: int, width: int, tile: int, overlap: int) -> tuple[int, int]:
    """(height, width) px of the window one optimisation pass sees: what must fit in memory."""
    return plan_grid(height, width, tile, overlap).window


def masked_gram_sum(features_: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """sum_x m(x) F(x) F(x)^T: float [B, h, w, C], mask float32 [h, w] of 0/1 -> float32 [B, C, C] (unnormalised)."""
    values = tf.cast(features_, tf.float32)
    return tf.einsum("bhwi,bhwj->bij", values * mask[None, :, :, None], values)


class TiledObjective:
    """The objective of `objective.make_loss_fn` (content, Gram style and TV terms) for one stage, evaluated
    tile by tile on `grid` (see the module docstring).

    Args:
        extractor: the feature model (returns at least the content and style layers).
        grid: the stage's `Grid`.
        backbone: the extractor's backbone (each layer's stride).
        content_layers, style_layers: layer names; style_layer_weights: {layer: w_l}.
    """

    def __init__(self, extractor, grid: Grid, backbone: str, content_layers: Sequence[str],
                 style_layers: Sequence[str], style_layer_weights: Mapping[str, float]):
        self.extractor = extractor
        self.grid = grid
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)
        self.style_layer_weights = dict(style_layer_weights)
        layers = dict.fromkeys(self.content_layers + self.style_layers)
        self.strides = {layer: features.min_image_size(backbone, [layer]) for layer in layers}
        axes = (grid.rows, grid.cols)
        self.masks = {layer: [tf.constant(axis.masks(stride)) for axis in axes]
                      for layer, stride in self.strides.items()}
        self.positions = {layer: float(np.asarray(rows).sum() * np.asarray(cols).sum())
                          for layer, (rows, cols) in self.masks.items()}
        self.window_starts = [tf.constant(axis.window_starts(), tf.int32) for axis in axes]
        self.core_offsets = [tf.constant([c - w for c, w in zip(axis.core_starts(), axis.window_starts(),
                                                                 strict=True)], tf.int32) for axis in axes]

    def _place(self, index) -> tuple[tf.Tensor, tf.Tensor]:
        return index // self.grid.cols.count, index % self.grid.cols.count

    def _window(self, padded: tf.Tensor, index) -> tf.Tensor:
        row, col = self._place(index)
        begin = tf.stack([0, self.window_starts[0][row], self.window_starts[1][col], 0])
        return tf.slice(padded, begin, [-1, *self.grid.window, -1])

    def _core(self, outputs, layer: str, index) -> tuple[tf.Tensor, tf.Tensor]:
        """Layer `layer`'s features of window `index`, cropped to its core, and the mask of the positions the
        core answers for (float32 [h, w])."""
        g, stride = self.grid, self.strides[layer]
        row, col = self._place(index)
        height, width = g.rows.core // stride, g.cols.core // stride
        begin = tf.stack([0, self.core_offsets[0][row] // stride, self.core_offsets[1][col] // stride, 0])
        values = tf.slice(outputs[layer], begin, [-1, height, width, -1])
        rows, cols = self.masks[layer]
        return values, rows[row][:, None] * cols[col][None, :]

    def content_targets(self, photo: tf.Tensor) -> dict[str, tf.Tensor]:
        """{content layer: float32 [tiles, B, core_rows / s, core_cols / s, C]}: the photo's features core by core."""
        padded = self.grid.pad(photo)

        def body(index, arrays):
            outputs = self.extractor(self._window(padded, index), training=False)
            return index + 1, [array.write(index, tf.cast(self._core(outputs, layer, index)[0], tf.float32))
                               for array, layer in zip(arrays, self.content_layers, strict=True)]

        arrays = [tf.TensorArray(tf.float32, size=self.grid.tiles) for _ in self.content_layers]
        _, arrays = tf.while_loop(lambda i, _: i < self.grid.tiles, body, [tf.constant(0), arrays],
                                  parallel_iterations=1)
        return {layer: array.stack() for layer, array in zip(self.content_layers, arrays, strict=True)}

    def _content_error(self, outputs, targets, index, batch) -> tf.Tensor:
        """sum over content layers of sum m (F - P)^2 / (B M_l C_l n): this core's share of L_content."""
        total = 0.0
        for layer in self.content_layers:
            values, mask = self._core(outputs, layer, index)
            error = tf.square(tf.cast(values, tf.float32) - targets[layer][index]) * mask[None, :, :, None]
            channels = tf.cast(tf.shape(values)[-1], tf.float32)
            total += tf.reduce_sum(error) / (batch * self.positions[layer] * channels * len(self.content_layers))
        return total

    def make_loss_fn(self, targets: Mapping[str, tf.Tensor], style_grams: Mapping[str, tf.Tensor],
                     content_weight: float, style_weight, tv_weight: float):
        """loss_fn(x float32 [B, height, width, 3] in [0, 1]) -> (total, {"content", "style", "tv"}), the
        `solvers.LossFn` of the stage; `targets` from `content_targets`, `style_grams` {layer: [B or 1, C, C]}
        (`loss_targets.blended_grams` at the stage's scale)."""
        g = self.grid

        def grams_and_content(padded, batch):
            def body(index, sums, content):
                outputs = self.extractor(self._window(padded, index), training=False)
                sums = [total + masked_gram_sum(*self._core(outputs, layer, index))
                        for total, layer in zip(sums, self.style_layers, strict=True)]
                return index + 1, sums, content + self._content_error(outputs, targets, index, batch)

            channels = [int(style_grams[layer].shape[-1]) for layer in self.style_layers]
            start = [tf.zeros([tf.shape(padded)[0], c, c], tf.float32) for c in channels]
            _, sums, content = tf.while_loop(lambda i, *_: i < g.tiles, body, [tf.constant(0), start, 0.0],
                                             parallel_iterations=1)
            return sums, content

        def gradient(padded, directions, batch):
            """d(alpha L_content + beta L_style) / d padded, window by window."""
            def body(index, total):
                window = self._window(padded, index)
                with tf.GradientTape() as tape:
                    tape.watch(window)
                    outputs = self.extractor(window, training=False)
                    surrogate = content_weight * self._content_error(outputs, targets, index, batch)
                    for layer, direction in zip(self.style_layers, directions, strict=True):
                        surrogate += style_weight * tf.reduce_sum(
                            direction * masked_gram_sum(*self._core(outputs, layer, index)))
                grad = tape.gradient(surrogate, window)
                row, col = self._place(index)
                top, left = self.window_starts[0][row], self.window_starts[1][col]
                placed = tf.pad(grad, [[0, 0], [top, g.padded[0] - top - g.window[0]],
                                       [left, g.padded[1] - left - g.window[1]], [0, 0]])
                return index + 1, total + placed

            _, total = tf.while_loop(lambda i, _: i < g.tiles, body, [tf.constant(0), tf.zeros_like(padded)],
                                     parallel_iterations=1)
            return total

        def loss_fn(x: tf.Tensor):
            fixed = tf.stop_gradient(x)
            padded = g.pad(fixed)
            batch = tf.cast(tf.shape(x)[0], tf.float32)
            sums, content = grams_and_content(padded, batch)
            with tf.GradientTape() as tape:
                tape.watch(sums)
                style = tf.add_n([self.style_layer_weights[layer] * losses.gram_style_loss(
                    total / self.positions[layer], style_grams[layer])
                    for total, layer in zip(sums, self.style_layers, strict=True)])
            directions = tape.gradient(style, sums)  # dE / d(sum_t F_t^T F_t), global
            grad = tf.stop_gradient(gradient(padded, directions, batch))
            tv = losses.total_variation_loss(x)
            link = tf.reduce_sum(grad * g.pad(x))  # carries grad to x (through the mirroring); worth 0
            total = content_weight * content + style_weight * style + tv_weight * tv + (link - tf.stop_gradient(link))
            return total, {"content": content, "style": style, "tv": tv}

        return loss_fn
