"""`FastTrainConfig`: every setting of a feed-forward style network's training run, in one frozen dataclass.

The CLI (`python -m tfstyle.fast.train`) takes its flags and defaults from this class; the task
(`tfstyle.fast.task`) takes an instance; the run saves it as `<model_dir>/config.json` (task "fast_style")
beside its checkpoints, and `stylize` / `export` read it back to rebuild the network.

Defaults follow Johnson, Alahi & Fei-Fei 2016 ("Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", supplementary material) with Ulyanov et al.'s instance norm: 256 px training crops,
batch 4, Adam at 1e-3, a 32-filter network with 5 residual blocks, and their loss layers on VGG19 (style
relu1_2, relu2_2, relu3_3, relu4_3 = block1_conv2, block2_conv2, block3_conv3, block4_conv3), with the content
at relu2_2 (block2_conv2) as in their released code rather than the paper's relu3_3. Not the optimisation
path's block4_conv2: a network trained from scratch has no content image to start from, and on that deep
layer it kept the content loss as low as an optimised image's while the photo's shapes were gone (a 256 px
run of 375 steps on the bundled Starry Night). The weights are on tfstyle's normalised losses
(`tfstyle.losses`), not the paper's: a 150-step calibration at 128 px put the weighted style and content
terms level at style_weight 2e-4 (5e-3, the optimisation path's, left no photo visible).
"""

from __future__ import annotations

import dataclasses
import os
from typing import ClassVar

from tfstyle import distribute, options

TASK = "fast_style"  # config.json's "task" key

# Johnson et al.'s layers on VGG19 (see the module docstring); features.py checks the names when it builds the VGG.
CONTENT_LAYERS = ("block2_conv2",)
STYLE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3")


@dataclasses.dataclass(frozen=True)
class FastTrainConfig:
    """Settings of one per-style network's training run."""

    # Fields that fix the shape of the saved state or the meaning of the step counter.
    INCOMPATIBLE_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "filters", "residual_blocks", "image_size", "load_size", "batch_size", "mixed_precision",
    )
    FREE_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "model_dir", "max_steps", "steps", "strategy", "jit", "keep_checkpoints", "checkpoint_every_steps",
        "image_every_steps", "log_every_steps", "cache_dir",
    )

    # Data.
    style: str = options.option("", "the style image (a painting) the network learns (required)")
    content_dir: str | None = options.option(None, "folder of content photos to train on")
    dataset: str | None = options.option(None, "TFDS image dataset instead of a folder, e.g. coco/2017")
    data_dir: str | None = options.option(None, "TFDS data_dir (where the prepared dataset lives)")
    image_size: int = options.option(256, "training crop size in px (a multiple of 4, >= 16)")
    load_size: int | None = options.option(None, "photos are resized to this square before the random crop "
                                                 "(default: image_size + image_size / 8)")
    batch_size: int = options.option(4, "GLOBAL batch size, split over all replicas")
    style_scale: float = options.option(1.0, "style image long side relative to --image_size")

    # Model.
    filters: int = options.option(32, "filters of the first convolution (Johnson et al.: 32)")
    residual_blocks: int = options.option(5, "residual blocks at 1/4 resolution (Johnson et al.: 5)")

    # Loss.
    content_weight: float = options.option(1.0, "weight of the content loss (alpha)")
    style_weight: float = options.option(2e-4, "weight of the style loss (beta)")
    tv_weight: float = options.option(1e4, "weight of the total-variation loss (gamma)")
    content_layers: tuple[str, ...] = options.option(CONTENT_LAYERS, "VGG content layers")
    style_layers: tuple[str, ...] = options.option(STYLE_LAYERS, "VGG style layers (equal weights)")
    pooling: str = options.option("max", "VGG pooling of the loss network", ["max", "avg"])
    weights: str = options.option("auto", "VGG weights: auto, imagenet, random or a file (see tfstyle.weights)")
    cache_dir: str | None = options.option(None, "where converted VGG weights are cached (default ~/.cache/tfstyle)")

    # Optimiser and schedule.
    learning_rate: float = options.option(1e-3, "Adam learning rate")
    steps: int = options.option(4000, "training steps (global batches)")
    seed: int = options.option(0, "seed of weights, data order, crops and flips")

    # Runtime (read by the training core).
    strategy: str = options.option("auto", "tf.distribute strategy (auto: all local GPUs, else CPU)",
                                   distribute.STRATEGIES)
    mixed_precision: str = options.option("none", "mixed precision policy (losses stay float32)",
                                          distribute.PRECISIONS)
    jit: bool = options.option(False, "compile the train step with XLA")
    model_dir: str = options.option("", "run folder: config.json, checkpoints/, logs/ (required)")
    keep_checkpoints: int = options.option(3, "checkpoints kept in <model_dir>/checkpoints")
    checkpoint_every_steps: int = options.option(500, "save a checkpoint every N steps (and at each epoch end)")
    image_every_steps: int = options.option(250, "write a photo / stylised grid to TensorBoard every N steps")
    log_every_steps: int = options.option(50, "write losses and learning rate to TensorBoard every N steps")
    max_steps: int | None = options.option(None, "stop once the global step reaches N (counts across resumes)")

    @property
    def resolved_load_size(self) -> int:
        return self.load_size if self.load_size is not None else self.image_size + self.image_size // 8

    def validate(self) -> FastTrainConfig:
        """Raises ValueError naming the first bad field; returns the config."""
        from tfstyle import geometry

        if not self.model_dir:
            raise ValueError("--model_dir is required")
        if not self.style:
            raise ValueError("--style is required (the painting the network learns)")
        if bool(self.content_dir) == bool(self.dataset):
            raise ValueError("give either --content_dir (a folder of photos) or --dataset (TFDS), not both"
                             if self.content_dir else "give --content_dir (a folder of photos) or --dataset")
        for name, choices in (("strategy", distribute.STRATEGIES), ("mixed_precision", distribute.PRECISIONS),
                              ("pooling", ("max", "avg"))):
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        for name in ("batch_size", "filters", "residual_blocks", "steps", "keep_checkpoints",
                     "checkpoint_every_steps", "image_every_steps", "log_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        geometry.check_size(self.image_size, self.image_size, "--image_size", exact=True)
        if self.resolved_load_size < self.image_size:
            raise ValueError(f"--load_size ({self.load_size}) must be >= --image_size ({self.image_size})")
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not self.style_scale > 0:
            raise ValueError(f"--style_scale must be > 0, got {self.style_scale}")
        if not self.content_layers or not self.style_layers:
            raise ValueError("--content_layers and --style_layers need at least one layer each")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"--max_steps must be >= 0, got {self.max_steps}")
        return self

    def check_files(self) -> None:
        """Raises FileNotFoundError / ValueError for a missing or unreadable style image or content folder
        (headers only), so that bad input fails before TensorFlow builds anything."""
        from tfstyle import images

        images.check_file(self.style)
        if self.content_dir:
            if not os.path.isdir(self.content_dir):
                raise FileNotFoundError(f"--content_dir does not exist: {self.content_dir}")
            images.list_images(self.content_dir)


def tiny(**overrides) -> FastTrainConfig:
    """A run small enough for a CPU test: 32 px crops, an 8-filter network with one residual block,
    batch 2, random VGG weights unless given, checkpoints every 2 steps, logs and images every step."""
    values = dict(image_size=32, load_size=36, batch_size=2, filters=8, residual_blocks=1, steps=4,
                  weights="random", checkpoint_every_steps=2, image_every_steps=1, log_every_steps=1)
    values.update(overrides)
    return FastTrainConfig(**values)
