"""`stylize()`: Gatys-style neural style transfer, the importable entry point of the optimisation path.

    from tfstyle.optimize import OptimizeConfig, stylize
    image = stylize("photo.jpg", ["painting.jpg"], OptimizeConfig(image_size=384))

The image itself is the variable. Per stage (coarse to fine, see `multiscale.py`) the content
features and the blended style Grams are computed once (`Stylizer.begin_stage`), then the solver
(`solvers.py`, Adam or in-graph L-BFGS) runs in chunks of iterations inside one `tf.function`
(`StageRun.run`), so progress can be reported between chunks; `experiments/bench_optimize.py` times
that same chunk. A batch of same-size images is split over the replicas of a `tf.distribute`
strategy; each replica optimises its own images (they are independent, so nothing is all-reduced).

Deviations from Gatys et al.: max pooling by default (they recommend average pooling; at equal time max
pooling scored as well or better under both poolings of the fixed evaluator, docs/optimize_vs_recipe.md); a
total-variation term; Gram matrices normalised by the number of positions; blended multi-style
targets; coarse-to-fine stages for large outputs; optionally (`precision="bf16"`) the VGG passes in
bfloat16, with losses, Grams and the image in float32.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from tfstyle import colour, data, distribute, features, images, loss_targets
from tfstyle.images import ImageLike
from tfstyle.optimize import masks, multiscale, objective, solvers, tiling
from tfstyle.optimize.config import PRECISIONS, OptimizeConfig

logger = logging.getLogger(__name__)

# A stage whose estimated step (multiscale.estimate_bytes) needs more than this share of the memory there is goes
# tile by tile when --tile_size is not given; the paintings' long side is capped (Stylizer._style_size).
TILE_MEMORY_SHARE = 0.6
MAX_STYLE_SIDE = 2048
# Under --strength the style weight is corrected every this many iterations (objective.controlled_style_weight).
CONTROL_EVERY = 10


def tiled_bytes_per_pixel(history: int) -> int:
    """Bytes per output pixel a tiled stage keeps besides one window's pass: float32 RGB copies of the image (the
    L-BFGS history's 2m, the iterate, its gradient, the mirrored and padded copies, photo and resize buffers)."""
    return (2 * history + 12) * 3 * 4

DEFAULT_CONTENT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "astronaut.jpg")
DEFAULT_STYLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "vangogh_starry_night.jpg")


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """What a progress callback receives after each chunk of iterations.

    Attributes:
        step: iterations done so far over all stages (1-based count).
        total_steps: iterations of the whole run.
        stage: index of the current stage (0 = coarsest); stages: number of stages.
        size: (height, width) of the current stage in px.
        loss: total loss (mean over the batch); terms: {"content", "style", "tv"} unweighted.
        elapsed_s: seconds since the run started.
        image: call it to get the current result(s), float32 [B, H, W, 3] in [0, 1], colours
            post-processed as the final output will be (costs a device-to-host copy).
    """

    step: int
    total_steps: int
    stage: int
    stages: int
    size: tuple[int, int]
    loss: float
    terms: dict[str, float]
    elapsed_s: float
    image: Callable[[], np.ndarray]


Callback = Callable[[StepInfo], None]


class Stylizer:
    """What a run shares across batches and stages: strategy, extractor, styles, config and the compiled
    solver functions. `stylize()` and `stylize_files()` run everything through it, and so does
    `experiments/bench_optimize.py`, which times `StageRun.run`, the very chunk `stylize()` runs.

    Args:
        styles: style images float32 [H, W, 3] in [0, 1].
        config: a resolved, validated `OptimizeConfig` (see `resolve`).
        strategy: the tf.distribute strategy whose replicas share each batch.
        temporal_weight: lambda of Ruder et al.'s temporal loss, for stages begun with `temporal` (video
            frames; `tfstyle.video.engines.OptimizeEngine`).
        style_masks: spatial control: one mask float32 [h, w] in [0, 1] per style (any size: resized to each
            stage), or empty; preserve_mask: a region kept photographic, or None (`tfstyle.optimize.masks`).
    """

    def __init__(self, styles: Sequence[np.ndarray], config: OptimizeConfig, strategy: tf.distribute.Strategy,
                 temporal_weight: float = 0.0, style_masks: Sequence[np.ndarray] = (),
                 preserve_mask: np.ndarray | None = None):
        self.config = config
        self.temporal_weight = temporal_weight
        if style_masks and len(style_masks) != len(styles):
            raise ValueError(f"{len(style_masks)} style masks for {len(styles)} styles (one mask per style)")
        self.style_masks = [np.asarray(mask, np.float32) for mask in style_masks]
        self.preserve_mask = None if preserve_mask is None else np.asarray(preserve_mask, np.float32)
        self.guided = bool(self.style_masks) or self.preserve_mask is not None
        self.last_style_weight: float | None = None  # beta of the last stage begun (set per stage by --strength)
        self.start_style_loss: float | None = None  # --strength: the style loss of the last stage's photo (S0)
        self.strategy = strategy
        self.styles = list(styles)
        self.blend = objective.normalised(config.style_blend, len(self.styles))
        self.content_layers = config.resolved_content_layers
        self.style_layers = config.resolved_style_layers
        layer_weights = objective.normalised(config.style_layer_weights, len(self.style_layers))
        self.style_layer_weights = dict(zip(self.style_layers, layer_weights, strict=True))
        layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        # bf16: the extractor's layers compute in bfloat16 (mixed_bfloat16: float32 weights, the caffe
        # preprocessing in float32); its feature maps are cast to float32 by `tfstyle.losses` and
        # `loss_targets`, so losses, Grams, gradients and the image stay float32.
        with strategy.scope(), distribute.dtype_policy(PRECISIONS[config.precision]):
            self.extractor = features.build_feature_extractor(
                config.backbone, layers, weights=config.weights, pooling=config.pooling,
                cache_dir=config.cache_dir,
            )
        logger.info("precision %s: VGG passes in %s; losses, Gram matrices and the image in float32",
                    config.precision, "bfloat16" if config.precision == "bf16" else "float32")
        self.min_size = features.min_image_size(config.backbone, layers)
        self._grams_cache: dict = {}
        self._functions: tuple | None = None  # (init_fn, run_fn) of a whole stage, once traced

    # -- targets ---------------------------------------------------------------------------------

    def prepare_content(self, content) -> tf.Tensor:
        """An image as the optimisation sees it: its luminance in 3 channels under `preserve_colors="luminance"`,
        else unchanged (float32 [..., H, W, 3] in [0, 1])."""
        if self.config.preserve_colors == "luminance":
            return colour.luminance(content)
        return content

    def _style_size(self, stage_long_side: int) -> int:
        """The style image's long side at a stage: `style_scale` x the stage's, at most `MAX_STYLE_SIDE` (one
        forward pass of a painting larger than that would not fit, and no painting file has the detail)."""
        return max(self.min_size, min(MAX_STYLE_SIDE, round(stage_long_side * self.config.style_scale)))

    def style_images(self, content: np.ndarray, stage_long_side: int) -> list[np.ndarray]:
        """The style images as a stage sees them: colour-matched to `content` (float32 [H, W, 3]) when
        `preserve_colors` asks for it, long side `style_scale` x the stage's; each float32 [1, h, w, 3]."""
        mode = self.config.preserve_colors
        prepared = []
        for style in self.styles:
            if mode == "histogram":
                style = colour.match_color(style, content)
            elif mode == "luminance":
                style = colour.match_luminance(style, content)
            prepared.append(np.asarray(images.resize_long_side(style, self._style_size(stage_long_side)))[None])
        return prepared

    def _grams_for(self, content: np.ndarray, stage_long_side: int) -> dict[str, tf.Tensor]:
        """Style targets for one content image (colour matching depends on it): blended Grams {layer:
        [1, C, C]}, or under `style_loss="mean_cov"` {layer: {"mean", "cov_sqrt"}} (`objective.style_targets`)."""
        mode = self.config.preserve_colors
        key = (stage_long_side, content.shape[:2] if self.guided else None,
               None if mode == "none" else content.tobytes().__hash__())
        if key in self._grams_cache:
            return self._grams_cache[key]
        prepared = self.style_images(content, stage_long_side)
        if self.guided:
            grams = self._guided_targets(prepared, content.shape[:2])
        else:
            grams = objective.style_targets(self.extractor, prepared, self.blend, self.style_layers,
                                            self.config.style_loss)
        if mode == "none":
            self._grams_cache[key] = grams
        return grams

    def _guided_targets(self, prepared: list[np.ndarray], size: tuple[int, int]) -> dict:
        """Spatial control's targets at a stage of `size` (H, W): one Gram per region (each style's own with
        style masks, else the blend's) and the regions at every style layer's size."""
        if self.style_masks:
            region_grams = [objective.blended_grams(self.extractor, [image], [1.0], self.style_layers)
                            for image in prepared]
        else:
            region_grams = [objective.blended_grams(self.extractor, prepared, self.blend, self.style_layers)]
        region, _ = masks.regions(self.style_masks, self.preserve_mask, size, len(self.styles))
        outputs = self.extractor(tf.zeros((1, *size, 3)), training=False)
        layer_sizes = {layer: tuple(outputs[layer].shape[1:3]) for layer in self.style_layers}
        return loss_targets.guided_targets(region_grams, region[None], layer_sizes)

    def initial_images(self, contents: np.ndarray) -> np.ndarray:
        """Starting images float32 [B, H, W, 3] for the first stage of `contents` [B, H, W, 3] (`config.init`)."""
        init = self.config.init
        batch, size = contents.shape[0], contents.shape[1:3]
        if init == "content":
            return np.asarray(self.prepare_content(contents))
        if init == "noise":
            noise = tf.random.stateless_uniform((batch, *size, 3), seed=[self.config.seed, 0])
            return np.asarray(noise)
        if init == "style":
            style = self.prepare_content(images.resize(self.styles[0], size))
            return np.repeat(np.asarray(style)[None], batch, axis=0)
        start = self.prepare_content(images.resize(images.load_image(os.path.expanduser(init)), size))
        return np.repeat(np.asarray(start)[None], batch, axis=0)

    def loss_function(self, contents: np.ndarray, stage_long_side: int) -> solvers.LossFn:
        """The objective a stage of `contents` (float32 [B, H, W, 3] in [0, 1], the stage's size) optimises,
        as a plain `solvers.LossFn` on one device: the same targets and weights as `begin_stage` uses."""
        stacked = self._stacked_grams(contents, stage_long_side)
        grams = tf.nest.map_structure(tf.constant, stacked)
        prepared = np.asarray(self.prepare_content(contents))
        targets = objective.content_targets(self.extractor, tf.constant(prepared), self.content_layers)
        return self._loss_fn(targets, grams, style_weight=self.stage_style_weight(prepared, stacked))

    # -- the per-replica optimisation ------------------------------------------------------------

    def _split(self, array: np.ndarray):
        """[B, ...] numpy -> per-replica values (B is already a multiple of the replica count)."""
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            return tf.constant(array)
        chunks = np.split(array, replicas)
        return self.strategy.experimental_distribute_values_from_function(
            lambda context: tf.constant(chunks[context.replica_id_in_sync_group]))

    def _gather(self, value) -> np.ndarray:
        return np.concatenate([np.asarray(v) for v in self.strategy.experimental_local_results(value)], axis=0)

    def _mean(self, value) -> float:
        return float(np.mean([float(v) for v in self.strategy.experimental_local_results(value)]))

    def _loss_fn(self, content_features, grams, temporal=None, style_weight=None):
        """The objective with `style_weight` beta (a float32 scalar tensor per stage; default the config's)."""
        c = self.config
        beta = c.style_weight if style_weight is None else style_weight
        return objective.make_loss_fn(self.extractor, content_features, grams, self.style_layer_weights,
                                      c.content_weight, beta, c.tv_weight, c.style_loss,
                                      temporal=temporal, temporal_weight=self.temporal_weight)

    def stage_style_weight(self, prepared: np.ndarray, grams) -> float:
        """beta for a stage of the (prepared) contents float32 [B, H, W, 3]: the config's `style_weight`, or under
        `strength` `objective.style_weight_for_strength` from the contents' own scales (the mean over the batch:
        with `batch_size` 1 each image gets its own)."""
        c = self.config
        if c.strength is None:
            return float(c.style_weight)
        targets = objective.content_targets(self.extractor, tf.constant(prepared), self.content_layers)
        scale = float(np.mean([np.mean(np.square(np.asarray(targets[layer]))) for layer in self.content_layers]))
        _, terms = self._loss_fn(targets, tf.nest.map_structure(tf.constant, grams), style_weight=1.0)(
            tf.constant(prepared))
        self.start_style_loss = float(terms["style"])
        weight = objective.style_weight_for_strength(c.strength, c.content_weight, scale, self.start_style_loss)
        logger.info("strength %g: style weight %.4g (content scale %.4g, start style loss %.4g)", c.strength,
                     weight, scale, float(terms["style"]))
        return weight

    def _compiled(self):
        """(init_fn, run_fn) of a whole stage (`_compile` on the untiled objective), built once per run."""
        if self._functions is None:
            self._functions = self._compile(
                lambda content: objective.content_targets(self.extractor, content, self.content_layers),
                self._loss_fn, self.config.jit)
        return self._functions

    def _compile(self, make_targets, make_loss, jit: bool = False):
        """(init_fn, run_fn): tf.functions over strategy.run that start the solver on a stage and run chunks of it.

        Args:
            make_targets: content (prepared, per replica) -> the objective's content targets.
            make_loss: (targets, grams, temporal, style_weight) -> `solvers.LossFn`. `temporal` is None (a still
                image: traced without the term) or (warped previous output, weights); `style_weight` is a
                float32 scalar tensor, so a --strength run sets it per stage and per control step without
                retracing.
            jit: XLA-compile the chunk.
        """
        c = self.config

        def replica_init(content, grams, x0, temporal, style_weight):
            targets = make_targets(content)
            state = solvers.init(c.optimizer, make_loss(targets, grams, temporal, style_weight), x0,
                                 history_size=c.lbfgs_history)
            return targets, state

        def replica_run(targets, grams, state, iterations, temporal, style_weight):
            return solvers.run(c.optimizer, make_loss(targets, grams, temporal, style_weight), state,
                               iterations, learning_rate=c.learning_rate)

        # autograph=False: the solvers, losses and extractor use no Python control flow on tensors (their
        # loops are explicit tf.while_loops), and AutoGraph's source conversion of them was 70 % of the
        # tracing time (about 3 s of a default 256 px CPU start-up; experiments/profile_startup.py).
        replica_run = tf.function(replica_run, jit_compile=jit or None, autograph=False)

        @functools.partial(tf.function, autograph=False)
        def init_fn(content, grams, x0, temporal, style_weight):
            return self.strategy.run(replica_init, args=(content, grams, x0, temporal, style_weight))

        @functools.partial(tf.function, autograph=False)
        def run_fn(targets, grams, state, iterations, temporal, style_weight):
            return self.strategy.run(replica_run, args=(targets, grams, state, iterations, temporal, style_weight))

        return init_fn, run_fn

    def begin_stage(self, contents: np.ndarray, stage_long_side: int, x0: np.ndarray,
                    temporal: tuple[np.ndarray, np.ndarray] | None = None,
                    style_weight: float | None = None) -> StageRun:
        """Targets and solver state of one stage, on the replicas, ready to `run`.

        Args:
            contents: float32 [B, H, W, 3] in [0, 1] at the stage's size; B a multiple of the replicas.
            stage_long_side: the stage's long side in px (sizes the style images).
            x0: float32 [B, H, W, 3], the starting images.
            temporal: for video frames, (w float32 [B, H, W, 3], c float32 [B, H, W, 1]): the previous outputs
                warped onto these frames (as `prepare_content` sees images) and where they are reliable; the
                stage then adds `temporal_weight` x Ruder et al.'s temporal loss (`objective.make_loss_fn`).
            style_weight: beta for this stage, overriding the config's and `strength`'s (the video engine keeps
                the weight its first frame's strength controller settled on).
        """
        init_fn, run_fn = self._compiled()
        stacked = self._stacked_grams(contents, stage_long_side)
        grams = self._split_grams(stacked)
        prepared = np.asarray(self.prepare_content(contents))
        if style_weight is not None:
            self.last_style_weight = float(style_weight)
        else:
            self.last_style_weight = self.stage_style_weight(prepared, stacked)
        weight = tf.constant(self.last_style_weight, tf.float32)
        if temporal is not None:
            temporal = tuple(self._split(np.asarray(value, np.float32)) for value in temporal)
        content = self._split(prepared)
        targets, state = init_fn(content, grams, self._split(x0), temporal, weight)
        return StageRun(self, run_fn, targets, grams, state, temporal, weight,
                        restart=functools.partial(init_fn, content, grams))

    def begin_tiled_stage(self, contents: np.ndarray, stage_long_side: int, x0: np.ndarray,
                          grid: tiling.Grid) -> StageRun:
        """`begin_stage` for a stage too large for one pass: the same objective, evaluated window by window on
        `grid` (`tiling.TiledObjective`), the whole image still the solver's variable. Under `strength` the stage
        keeps the weight of the stage before (measuring the photo's scales would be one more tiled pass); a first
        stage that is tiled takes it from the photo at the size of one window."""
        c = self.config
        stacked = self._stacked_grams(contents, stage_long_side)
        grams = self._split_grams(stacked)
        prepared = np.asarray(self.prepare_content(contents))
        if c.strength is None:
            self.last_style_weight = float(c.style_weight)
        elif self.last_style_weight is None:
            small = np.asarray(images.resize(contents, images.scaled_size(*contents.shape[1:3], max(grid.window))))
            self.last_style_weight = self.stage_style_weight(np.asarray(self.prepare_content(small)),
                                                             self._stacked_grams(small, stage_long_side))
        weight = tf.constant(self.last_style_weight, tf.float32)
        tiled = tiling.TiledObjective(self.extractor, grid, c.backbone, self.content_layers, self.style_layers,
                                      self.style_layer_weights)

        init_fn, run_fn = self._compile(
            tiled.content_targets,
            lambda targets, grams_, temporal, style_weight: tiled.make_loss_fn(
                targets, grams_, c.content_weight, style_weight, c.tv_weight))
        content = self._split(prepared)
        targets, state = init_fn(content, grams, self._split(x0), None, weight)
        return StageRun(self, run_fn, targets, grams, state, None, weight,
                        restart=functools.partial(init_fn, content, grams))

    def optimize_batch(self, contents: np.ndarray, callback: Callback | None, chunk_size: int) -> np.ndarray:
        """Stylises a batch of same-size content images float32 [B, H, W, 3] -> [B, H, W, 3] in [0, 1].

        The sizes of every stage must have been checked (`check_content_size`).
        """
        c = self.config
        replicas = self.strategy.num_replicas_in_sync
        batch = contents.shape[0]
        padded = math.ceil(batch / replicas) * replicas
        if padded != batch:  # every replica gets the same number of images; extras are dropped at the end
            contents = np.concatenate([contents, np.repeat(contents[-1:], padded - batch, axis=0)], axis=0)
        height, width = contents.shape[1:3]
        stages = multiscale.plan_stages(max(height, width), c.scales, c.iterations)
        sizes = [images.scaled_size(height, width, stage.long_side) for stage in stages]
        grids = [self.grid_for(*size, padded // replicas) for size in sizes]
        total_steps = sum(stage.iterations for stage in stages)
        start = time.perf_counter()
        step, result = 0, None
        for index, (stage, size, grid) in enumerate(zip(stages, sizes, grids, strict=True)):
            stage_content = np.asarray(images.resize(contents, size)) if size != (height, width) else contents
            x0 = self.initial_images(stage_content) if result is None else np.asarray(images.resize(result, size))
            if grid is None:
                stage_run = self.begin_stage(stage_content, stage.long_side, x0)
            else:
                logger.info("stage %d: %dx%d px, its VGG passes in %d windows of %dx%d px", index + 1, size[1],
                            size[0], grid.tiles, *reversed(grid.window))
                stage_run = self.begin_tiled_stage(stage_content, stage.long_side, x0, grid)
            # --strength: correct beta towards the target ratio between chunks (a tiled stage keeps the weight the
            # stage before settled on).
            control = c.strength is not None and c.strength > 0 and grid is None and bool(self.start_style_loss)
            done = 0
            while done < stage.iterations:
                count = min(chunk_size, stage.iterations - done, CONTROL_EVERY if control else stage.iterations)
                loss, terms = stage_run.run(count)
                done += count
                step += count
                if control and done < stage.iterations:
                    self.last_style_weight = objective.controlled_style_weight(
                        self.last_style_weight, terms["style"] / self.start_style_loss,
                        objective.strength_target(c.strength))
                    stage_run.reweigh(self.last_style_weight)
                if callback is not None:
                    def image(x=stage_run.state.x, sc=stage_content):  # this chunk's iterate
                        return self.finish(self._gather(x), sc)[:batch]

                    callback(StepInfo(
                        step=step, total_steps=total_steps, stage=index, stages=len(stages), size=size,
                        loss=loss, terms=terms, elapsed_s=time.perf_counter() - start, image=image,
                    ))
            result = np.clip(stage_run.output(), 0.0, 1.0)
        return self.finish(result, contents)[:batch]

    def grid_for(self, height: int, width: int, per_replica: int) -> tiling.Grid | None:
        """How a stage of `height` x `width` px runs: None (whole), or the `tiling.Grid` of its windows when it is
        larger than `tile_size`, or, with no `tile_size`, when one step would not fit in memory."""
        if not needs_tiles(height, width, per_replica, self.config):
            return None
        if self.guided:
            raise ValueError("--style_masks / --preserve_mask with a tiled stage are not supported yet: lower "
                             "--image_size below the size that needs tiling")
        return tiling.plan_grid(height, width, tile_side(self.config), self.config.tile_overlap)

    def _stacked_grams(self, contents: np.ndarray, stage_long_side: int) -> dict:
        """The style targets of each content image (see `_grams_for`), stacked along the batch axis."""
        per_image = [self._grams_for(content, stage_long_side) for content in contents]
        return tf.nest.map_structure(lambda *values: np.concatenate([np.asarray(v) for v in values], axis=0),
                                     *per_image)

    def _split_grams(self, grams: dict):
        return tf.nest.map_structure(self._split, grams)

    def finish(self, result: np.ndarray, contents: np.ndarray) -> np.ndarray:
        """The output as users get it: `result` [B, H, W, 3] clipped to [0, 1], with the colours of `contents`
        put back under `preserve_colors="luminance"`, and with spatial control the photo where no style paints
        (`masks.composite`); float32."""
        result = np.clip(result, 0.0, 1.0)
        if contents.shape[1:3] != result.shape[1:3]:
            contents = np.asarray(images.resize(contents, result.shape[1:3]))
        if self.config.preserve_colors == "luminance":
            result = np.asarray(colour.recombine_luminance(result, contents))
        if self.guided:
            _, keep = masks.regions(self.style_masks, self.preserve_mask, result.shape[1:3], len(self.styles))
            result = masks.composite(result, contents, keep)
        return result.astype(np.float32)


class StageRun:
    """One stage of one batch in progress (from `Stylizer.begin_stage`): the solver state on the replicas
    and the compiled chunk of iterations that `stylize()` runs between two progress reports."""

    def __init__(self, stylizer: Stylizer, run_fn, targets, grams, state, temporal=None, style_weight=None,
                 restart=None):
        self._stylizer = stylizer
        self._restart = restart  # (x0, temporal, style_weight) -> (targets, state): the stage's init_fn
        self._run_fn = run_fn
        self._targets = targets
        self._grams = grams
        self._temporal = temporal
        self._style_weight = style_weight
        self.state = state

    def run(self, iterations: int) -> tuple[float, dict[str, float]]:
        """Advances every replica by `iterations` solver iterations (one compiled call; waits for the result).

        Returns:
            (loss, terms): mean over the replicas of the total loss and of each unweighted term
            ("content", "style", "tv", and "temporal" for a video frame) that the solver reports (see
            `solvers.adam_run` / `lbfgs_run`).
        """
        self.state, loss, terms = self._run_fn(self._targets, self._grams, self.state, tf.constant(iterations),
                                               self._temporal, self._style_weight)
        mean = self._stylizer._mean  # noqa: SLF001 - the stylizer's own replica helpers
        return mean(loss), {name: mean(value) for name, value in terms.items()}

    def reweigh(self, style_weight: float) -> None:
        """Goes on from the current iterates with a new style weight beta: the solver restarts there (an L-BFGS
        history gathered under the old objective would describe the wrong one; one more loss evaluation)."""
        self._style_weight = tf.constant(style_weight, tf.float32)
        self._targets, self.state = self._restart(self.state.x, self._temporal, self._style_weight)

    def images(self) -> np.ndarray:
        """The current iterates, float32 [B, H, W, 3] (in [0, 1]: both solvers keep them in the box)."""
        return self._stylizer._gather(self.state.x)  # noqa: SLF001

    def output(self) -> np.ndarray:
        """The stage's result so far, float32 [B, H, W, 3]: the current iterates."""
        return self.images()

    @property
    def evaluations(self) -> int:
        """Loss+gradient evaluations so far on one replica (L-BFGS: including the one at the start)."""
        values = self._stylizer.strategy.experimental_local_results(
            solvers.evaluations(self._stylizer.config.optimizer, self.state))
        return int(values[0])


def resolve(config: OptimizeConfig, num_styles: int) -> tuple[OptimizeConfig, tf.distribute.Strategy]:
    """Fills the machine defaults, validates, and builds the strategy `config.strategy` names
    (`tfstyle.distribute.make_strategy`); nothing is logged yet (bad input fails quietly first)."""
    resolved = config.resolved().validate(num_styles)
    return resolved, distribute.make_strategy(resolved.strategy)


def _log_choices(config: OptimizeConfig, resolved: OptimizeConfig) -> None:
    if config.precision == "auto":
        logger.info("precision auto -> %s (%s)", resolved.precision, distribute.fast_bf16()[1])
    if config.image_size is None or config.iterations is None:
        logger.info("%s: image_size=%d px, iterations=%d, scales=%d, optimizer=%s",
                    "GPU found" if distribute.has_gpu() else "no GPU, CPU defaults", resolved.image_size,
                    resolved.iterations, resolved.scales, resolved.optimizer)


def load_masks(config: OptimizeConfig, size: tuple[int, int] | None = None
                ) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The masks `config` names, loaded and checked (`masks.load_mask`); a line is logged for each whose shape
    differs from the output's `size` (H, W), when known."""
    style_masks = [masks.load_mask(path, f"--style_masks {index + 1}")
                   for index, path in enumerate(config.style_masks)]
    preserve = masks.load_mask(config.preserve_mask, "--preserve_mask") if config.preserve_mask else None
    if size is not None:
        named = list(zip(config.style_masks, style_masks, strict=True))
        masks.log_resizes(named + ([(config.preserve_mask, preserve)] if preserve is not None else []), size)
    return style_masks, preserve


def tile_side(config: OptimizeConfig) -> int:
    """The tiles' side in px: `config.tile_size`, else `tiling.CPU_TILE` / `GPU_TILE` for the machine."""
    return config.tile_size or (tiling.GPU_TILE if distribute.has_gpu() else tiling.CPU_TILE)


def needs_tiles(height: int, width: int, batch: int, config: OptimizeConfig) -> bool:
    """Whether a `height` x `width` px stage (batch per replica `batch`) goes tile by tile: when it is larger than
    `config.tile_size`, or, with no `tile_size`, when one step would need more than `TILE_MEMORY_SHARE` of the
    memory there is (`multiscale.estimate_bytes`)."""
    if config.tile_size is not None:
        return max(height, width) > config.tile_size
    available = multiscale.available_bytes(distribute.has_gpu())
    return available is not None and multiscale.estimate_bytes(height, width, batch) > TILE_MEMORY_SHARE * available


def check_memory(height: int, width: int, batch: int, config: OptimizeConfig) -> None:
    """Raises ValueError before any work when the largest step of a `height` x `width` px output (batch per
    replica `batch`) would not fit: the whole image, or one tile where the finest stages go tile by tile
    (`Stylizer.grid_for`)."""
    has_gpu = distribute.has_gpu()
    host = multiscale.available_bytes(False)
    images_bytes = tiled_bytes_per_pixel(config.lbfgs_history or 0) * height * width * batch
    if host is not None and images_bytes > host:  # the image, its solver state and its copies
        raise ValueError(f"a {width}x{height} px output needs about "
                         f"{images_bytes / 2**30:.1f} GiB for its images alone but "
                         f"only {host / 2**30:.1f} GiB of RAM is available: lower --image_size")
    if not needs_tiles(height, width, batch, config):
        if config.tile_size is not None:
            multiscale.check_fits(height, width, batch, has_gpu)
        return
    if config.style_masks or config.preserve_mask:
        raise ValueError(f"a {width}x{height} px output is optimised tile by tile, and --style_masks / "
                         "--preserve_mask do not work with tiles yet: lower --image_size")
    multiscale.check_fits(*tiling.tile_extent(height, width, tile_side(config), config.tile_overlap), batch, has_gpu)


def check_content_size(height: int, width: int, config: OptimizeConfig, what: str) -> None:
    """Raises ValueError, before any model is built, when an `height` x `width` px image would give a
    stage (the output, or a coarser stage of a coarse-to-fine run) smaller than the backbone needs.

    The minimum is the backbone's (`features.check_image_size` for the configured layers).
    """
    layers = config.resolved_content_layers + config.resolved_style_layers
    stages = multiscale.plan_stages(config.image_size, config.scales, config.iterations)
    for index in reversed(range(len(stages))):  # the output first: if it is too small, so is every stage
        stage_height, stage_width = images.scaled_size(height, width, stages[index].long_side)
        try:
            features.check_image_size(stage_height, stage_width, config.backbone, layers)
        except ValueError as error:
            if index == len(stages) - 1:
                raise ValueError(f"{what}, resized to --image_size {config.image_size}: {error}") from None
            raise ValueError(f"{what}, in coarse-to-fine stage {index + 1} of {len(stages)} (--scales "
                             f"{config.scales}): {error}; use fewer --scales") from None


def stylize(content: ImageLike = DEFAULT_CONTENT, styles: Sequence[ImageLike] = (DEFAULT_STYLE,),
            config: OptimizeConfig | None = None, callback: Callback | None = None, *,
            chunk_size: int = 10, strategy: tf.distribute.Strategy | None = None) -> np.ndarray:
    """Renders `content` in the style of `styles` by optimising the image (Gatys et al. 2016).

    Args:
        content: a path, or an image float32 [H, W, 3] in [0, 1] (uint8 [0, 255] also accepted).
        styles: one or more paths / images, blended with `config.style_blend`.
        config: settings; `None` fields are filled for this machine (CPU or GPU) and logged.
        callback: called with a `StepInfo` after every `chunk_size` iterations.
        chunk_size: iterations per compiled call (progress granularity).
        strategy: a tf.distribute strategy (default: `tfstyle.distribute.make_strategy(config.strategy)`).

    Returns:
        float32 [H', W', 3] in [0, 1], long side `config.image_size`, aspect ratio of `content`.

    Raises:
        ValueError / FileNotFoundError: bad images or settings, named in the message.
    """
    requested = config or OptimizeConfig()
    config, default_strategy = resolve(requested, len(styles))
    strategy = strategy or default_strategy
    content_image = images.as_image(content, "content")
    style_images = [images.as_image(style, f"style {i + 1}") for i, style in enumerate(styles)]
    check_content_size(*content_image.shape[:2], config, "content image")
    check_memory(*images.scaled_size(*content_image.shape[:2], config.image_size), 1, config)
    resized = np.asarray(images.resize_long_side(content_image, config.image_size))[None]
    style_masks, preserve_mask = load_masks(config, resized.shape[1:3])
    runner = Stylizer(style_images, config, strategy, style_masks=style_masks, preserve_mask=preserve_mask)
    # (weights errors surface in Stylizer, before any log line)
    _log_choices(requested, config)
    return runner.optimize_batch(resized, callback, chunk_size)[0]


def stylize_files(paths: Sequence[str], styles: Sequence[ImageLike], config: OptimizeConfig | None = None,
                  callback: Callback | None = None, *, chunk_size: int = 10,
                  strategy: tf.distribute.Strategy | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Stylises many files, `config.batch_size` same-size images per step, through `tfstyle.data`.

    Images are resized to `config.image_size` on the long side and grouped by resulting size, so
    nothing is cropped or padded; each group is split over the strategy's replicas.

    Yields:
        (path, float32 [H, W, 3] in [0, 1]) as each batch finishes.
    """
    requested = config or OptimizeConfig()
    config, default_strategy = resolve(requested, len(styles))
    strategy = strategy or default_strategy
    for path, (height, width) in zip(paths, data.validate_image_files(paths), strict=True):
        check_content_size(height, width, config, os.fspath(path))
    style_images = [images.as_image(style, f"style {i + 1}") for i, style in enumerate(styles)]
    per_replica = math.ceil(config.batch_size / strategy.num_replicas_in_sync)
    check_memory(config.image_size, config.image_size, per_replica, config)
    style_masks, preserve_mask = load_masks(config)
    runner = Stylizer(style_images, config, strategy, style_masks=style_masks, preserve_mask=preserve_mask)
    _log_choices(requested, config)
    for batch_paths, batch in data.content_batches(list(paths), config.image_size, config.batch_size):
        results = runner.optimize_batch(np.asarray(batch), callback, chunk_size)
        for path, result in zip(batch_paths.numpy(), results, strict=True):
            yield path.decode(), result
