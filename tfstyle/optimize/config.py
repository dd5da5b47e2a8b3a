"""`OptimizeConfig`: every setting of Gatys-style optimisation, with its default, in one frozen dataclass.

The CLI (`python -m tfstyle.optimize`) defines its flags from these fields, so the library and the
command line share one set of defaults. Fields left at `None` are chosen for the machine by
`OptimizeConfig.resolved(has_gpu)` (smaller, faster settings on a CPU), and the choice is logged.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

from tfstyle import distribute, features, images, options
from tfstyle.loss_targets import STYLE_LOSSES

OPTIMIZERS = ("lbfgs", "adam")
PRESERVE_COLORS = options.PRESERVE_COLORS
STRATEGIES = distribute.LOCAL_STRATEGIES  # one process: the optimisation path has no cluster mode
INITS = ("content", "noise", "style")
# Precision of the VGG passes -> `tfstyle.distribute` precision name (its dtype policy). Losses, Grams and
# the image variable are float32 under both.
PRECISIONS = {"float32": "none", "bf16": "bf16"}

# The default style weight of each style loss: they differ in scale (a Gram loss is quartic in the features,
# mean_cov quadratic), and these give both about the same weighted style term at the start on the bundled pair.
STYLE_WEIGHTS = {"gram": 5e-3, "mean_cov": 50.0}

# CPU-aware defaults: what a 2-core laptop finishes in about two minutes, and full quality on a GPU.
CPU_IMAGE_SIZE, GPU_IMAGE_SIZE = 256, 512
CPU_ITERATIONS, GPU_ITERATIONS = 200, 500
# Largest side optimised in one stage; bigger outputs go coarse-to-fine in x2 steps.
CPU_STAGE_SIZE, GPU_STAGE_SIZE = 512, 1024


@dataclass(frozen=True)
class OptimizeConfig:
    """Settings of one style-transfer run. Sizes are pixels on the long side; weights are unitless."""

    image_size: int | None = options.option(
        None, f"long side of the output in px (default: {CPU_IMAGE_SIZE} on CPU, {GPU_IMAGE_SIZE} on GPU)")
    iterations: int | None = options.option(
        None, f"optimisation steps (default: {CPU_ITERATIONS} on CPU, {GPU_ITERATIONS} on GPU); with several "
        "scales, the coarsest gets these and each finer one half as many")
    optimizer: str = options.option("lbfgs", "lbfgs (in-graph L-BFGS) or adam", choices=OPTIMIZERS)
    learning_rate: float = options.option(0.02, "Adam step size, in [0, 1] pixel units")
    lbfgs_history: int = options.option(10, "L-BFGS memory: number of (s, y) pairs kept")
    content_weight: float = options.option(1.0, "weight of the content loss (alpha)")
    style_weight: float | None = options.option(
        None, "weight of the style loss (beta; default: "
        + ", ".join(f"{w:g} with --style_loss {k}" for k, w in STYLE_WEIGHTS.items()) + ")")
    tv_weight: float = options.option(1e4, "weight of the total-variation smoothness loss")
    strength: float | None = options.option(
        None, "0..1: how much style, the same on every photo/painting pair: the style loss is brought to "
        "10^(-2 s) of the photo's own (0.1 at 0.5, 0.01 at 1) by a style weight that sets itself during the run; "
        "0 keeps the photo; default: use --style_weight")
    backbone: str = options.option("vgg19", "feature network", choices=tuple(features.BACKBONES))
    weights: str = options.option(
        "auto", "auto (a weights file, Keras' cached ImageNet file, else the offline 8-bit ImageNet VGG19), "
        "imagenet (download), random, or a path")
    style_loss: str = options.option(
        "gram", "gram (Gatys et al.: Gram matrices) or mean_cov (mean and covariance, the 2-Wasserstein "
        "distance between Gaussians of the features)", choices=STYLE_LOSSES)
    pooling: str = options.option(
        "max", "pooling in the backbone: max (the trained network; at equal time it beats the TF tutorial under "
        "both poolings of the evaluator, docs/optimize_vs_recipe.md) or avg (Gatys et al.'s choice)",
        choices=("max", "avg"))
    content_layers: tuple[str, ...] = options.option((), "content layers (default: backbone's)")
    style_layers: tuple[str, ...] = options.option((), "style layers (default: backbone's)")
    style_layer_weights: tuple[float, ...] = options.option(
        (), "one weight per style layer (default: equal, summing to 1)")
    style_blend: tuple[float, ...] = options.option(
        (), "one weight per --style image (default: equal); normalised to sum to 1")
    style_masks: tuple[str, ...] = options.option(
        (), "one greyscale mask per --style: where that style paints (white), soft edges allowed; where no mask "
        "reaches, the photo is kept (Gatys et al. 2017's guided Gram matrices)")
    preserve_mask: str | None = options.option(
        None, "greyscale mask of a region kept photographic (white: the photo)")
    style_scale: float = options.option(1.0, "style image size relative to the output size")
    preserve_colors: str = options.option(
        "none", "none, luminance (style transfer on luminance only, YIQ) or histogram (match the style's "
        "colours to the content first)", choices=PRESERVE_COLORS)
    init: str = options.option("content", "start image: content, noise, style or a file path")
    seed: int = options.option(0, "random seed (noise init)")
    scales: int | None = options.option(
        None, "coarse-to-fine stages, each x2 the previous size (default: as many as keep each stage "
        f"<= {CPU_STAGE_SIZE} px on CPU, {GPU_STAGE_SIZE} on GPU)")
    tile_size: int | None = options.option(
        None, "run the VGG passes of stages larger than this (px) tile by tile (the whole image's objective and "
        "gradient, computed window by window; default: only the stages that would not fit in memory, in 512 px "
        "tiles on CPU, 1024 on GPU)")
    tile_overlap: int = options.option(64, "px of context each tile's window sees around it (rounded up to 16)")
    jit: bool = options.option(False, "compile the optimisation step with XLA")
    precision: str = options.option(
        "auto", "VGG passes in float32 or bf16 (bfloat16 compute, float32 weights; losses, Gram matrices "
        "and the image stay float32); auto: bf16 where the hardware computes it fast (a GPU of compute "
        "capability >= 8.0, a CPU with AVX512-BF16 or AMX), else float32", choices=("auto", *PRECISIONS))
    batch_size: int = options.option(4, "images per step in folder mode (global batch)")
    strategy: str = options.option("auto", "auto (all GPUs), one_device or mirrored", choices=STRATEGIES)
    cache_dir: str | None = options.option(None, "where converted weights are cached (default ~/.cache/tfstyle)")

    def validate(self, num_styles: int | None = None) -> OptimizeConfig:
        """Raises ValueError naming the first bad setting; returns self."""
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"--iterations must be at least 1, got {self.iterations}")
        if self.scales is not None and self.scales < 1:
            raise ValueError(f"--scales must be at least 1, got {self.scales}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, name) is None:  # filled by `resolved`
                continue
            if getattr(self, name) < 0 or not math.isfinite(getattr(self, name)):
                raise ValueError(f"--{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.strength is not None:
            if not 0.0 <= self.strength <= 1.0:
                raise ValueError(f"--strength must be in [0, 1], got {self.strength}")
            if self.style_weight is not None:
                raise ValueError("--strength sets the style weight from the pair: give --strength or --style_weight, "
                                 "not both")
        if self.tile_size is not None and self.tile_size < 64:
            raise ValueError(f"--tile_size must be at least 64 px, got {self.tile_size}")
        if self.tile_overlap < 0:
            raise ValueError(f"--tile_overlap must be >= 0, got {self.tile_overlap}")
        if self.learning_rate <= 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.lbfgs_history < 1:
            raise ValueError(f"--lbfgs_history must be at least 1, got {self.lbfgs_history}")
        if self.style_scale <= 0:
            raise ValueError(f"--style_scale must be > 0, got {self.style_scale}")
        if self.batch_size < 1:
            raise ValueError(f"--batch_size must be at least 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.preserve_colors not in PRESERVE_COLORS:
            raise ValueError(f"--preserve_colors must be one of {PRESERVE_COLORS}, got {self.preserve_colors!r}")
        if self.backbone not in features.BACKBONES:
            raise ValueError(f"--backbone must be one of {tuple(features.BACKBONES)}, got {self.backbone!r}")
        if self.pooling not in features.POOLING_MODES:
            raise ValueError(f"--pooling must be one of {features.POOLING_MODES}, got {self.pooling!r}")
        if self.style_loss not in STYLE_LOSSES:
            raise ValueError(f"--style_loss must be one of {STYLE_LOSSES}, got {self.style_loss!r}")
        if self.precision not in ("auto", *PRECISIONS):
            raise ValueError(f"--precision must be one of {('auto', *PRECISIONS)}, got {self.precision!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"--strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.init not in INITS and not os.path.isfile(os.path.expanduser(self.init)):
            raise ValueError(f"--init must be one of {INITS} or an image file, got {self.init!r} (no such file)")
        if num_styles is not None:
            if num_styles < 1:
                raise ValueError("at least one style image is needed")
        options.check_blend(self.style_blend, num_styles)
        if self.style_masks:
            if num_styles is not None and len(self.style_masks) != num_styles:
                raise ValueError(f"--style_masks has {len(self.style_masks)} masks for {num_styles} --style images "
                                 "(one mask per style)")
            if self.style_blend:
                raise ValueError("--style_blend mixes the styles everywhere; with --style_masks each style paints its "
                                 "own region: use one or the other")
        if self.strength is not None and self.style_loss != "gram":
            raise ValueError("--strength is calibrated for --style_loss gram; use --style_weight with mean_cov")
        if (self.style_masks or self.preserve_mask) and self.style_loss != "gram":
            raise ValueError("--style_masks and --preserve_mask work with --style_loss gram (guided Gram matrices)")
        for path in (*self.style_masks, *([self.preserve_mask] if self.preserve_mask else [])):
            images.check_file(path)
        if self.style_layer_weights and len(self.style_layer_weights) != len(self.resolved_style_layers):
            raise ValueError(f"--style_layer_weights has {len(self.style_layer_weights)} weights for "
                             f"{len(self.resolved_style_layers)} style layers")
        for flag, layers in (("content_layers", self.resolved_content_layers),
                             ("style_layers", self.resolved_style_layers)):
            try:
                features.min_image_size(self.backbone, layers)  # checks the names
            except ValueError as error:
                raise ValueError(f"--{flag}: {error}") from None
        if self.image_size is not None:  # the backbone owns its minimum size
            try:
                features.check_image_size(self.image_size, self.image_size, self.backbone,
                                          self.resolved_content_layers + self.resolved_style_layers)
            except ValueError as error:
                raise ValueError(f"--image_size {self.image_size} is too small: {error}") from None
        return self

    @property
    def resolved_content_layers(self) -> tuple[str, ...]:
        return self.content_layers or features.BACKBONES[self.backbone].content_layers

    @property
    def resolved_style_layers(self) -> tuple[str, ...]:
        return self.style_layers or features.BACKBONES[self.backbone].style_layers

    def resolved(self, has_gpu: bool | None = None, fast_bf16: bool | None = None) -> OptimizeConfig:
        """Fills the `None` fields with the CPU or GPU defaults (and the style loss's weight) and
        `precision="auto"` with bf16 when `fast_bf16`, else float32; everything else is kept.

        Args:
            has_gpu, fast_bf16: what the machine has; None asks `tfstyle.distribute` (`has_gpu`,
                `fast_bf16`) about this one.
        """
        if has_gpu is None:
            has_gpu = distribute.has_gpu()
        if fast_bf16 is None:
            fast_bf16 = distribute.fast_bf16()[0]
        image_size = self.image_size or (GPU_IMAGE_SIZE if has_gpu else CPU_IMAGE_SIZE)
        iterations = self.iterations or (GPU_ITERATIONS if has_gpu else CPU_ITERATIONS)
        scales = self.scales
        if scales is None:
            stage = GPU_STAGE_SIZE if has_gpu else CPU_STAGE_SIZE
            scales = 1 + max(0, math.ceil(math.log2(image_size / stage)))
        precision = self.precision if self.precision != "auto" else ("bf16" if fast_bf16 else "float32")
        style_weight = self.style_weight if self.style_weight is not None else STYLE_WEIGHTS.get(self.style_loss)
        if self.strength is not None:  # set per pair by the Stylizer (objective.style_weight_for_strength)
            style_weight = None
        return dataclasses.replace(self, image_size=image_size, iterations=iterations, scales=scales,
                                   precision=precision, style_weight=style_weight)
