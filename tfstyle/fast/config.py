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

`--init magenta` fine-tunes Magenta's pretrained transformer (`tfstyle.fast.magenta`) instead of training Johnson
et al.'s from random weights: the network holds the painting's style vector (predicted once, at the predictor's
256 px) and learns on the optimisation path's loss layers (content block4_conv2, style block1..5_conv1, the
protocol `tfstyle.evaluate` scores with) and its weights (style 5e-3, TV 1e4): the network learns to give what
the optimiser gives, which a network that starts from a painting-like output can afford.
`--finetune norms` moves only its conditional instance norms' projections (Dumoulin et al. 2017: a style lives
in the normalisation parameters), `all` every weight.

`--arbitrary` trains Huang & Belongie 2017's AdaIN decoder instead (`tfstyle.fast.models.build_decoder`) on a
folder of paintings (`--style_dir`), with their defaults: content loss on the AdaIN target at relu4_1
(block4_conv1), mean / standard-deviation style loss on relu1_1..relu4_1 (block1..4_conv1) at weight 10,
Adam at 1e-4, no TV term. Fields left at None take the mode's default in `__post_init__`, so the saved
config.json always holds the values the run used.
"""

from __future__ import annotations

import dataclasses
import os
from typing import ClassVar

from tfstyle import distribute, options

TASK = "fast_style"  # config.json's "task" key
# Bundled models (config.json, weights.npz, MODEL_CARD.md each); here so TensorFlow-free code can find them.
ASSETS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets")
BUNDLED_MODEL = os.path.join(ASSETS, "models", "starry_night")  # the per-style network `stylize` uses by default
MAGENTA = "magenta"  # `--model_dir` / `load_model` name of Magenta's pretrained arbitrary-style network
PRECISIONS = ("auto", "float32", "bf16")  # inference precisions (`tfstyle.fast.inference.resolve_precision`)

# Johnson et al.'s layers on VGG19 (see the module docstring); features.py checks the names when it builds the VGG.
CONTENT_LAYERS = ("block2_conv2",)
STYLE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3")
# Huang & Belongie 2017: style on relu1_1..relu4_1, content on the AdaIN target at relu4_1 (the encoder's output).
ARBITRARY_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1")
ARBITRARY_CONTENT_LAYERS = ("block4_conv1",)  # = models.ENCODER_LAYER (models imports Keras; this must not)
# `--init magenta`: the optimisation path's layers (`tfstyle.optimize`'s defaults, the evaluator's protocol).
MAGENTA_CONTENT_LAYERS = ("block4_conv2",)
MAGENTA_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
INITS = ("scratch", MAGENTA)
FINETUNE = ("all", "norms")
# Defaults of the fields left at None: (per-style from scratch, arbitrary, per-style from magenta).
MODE_DEFAULTS = {
    "style_weight": (2e-4, 10.0, 5e-3),
    "tv_weight": (1e4, 0.0, 1e4),
    "learning_rate": (1e-3, 1e-4, 1e-4),
    "content_layers": (CONTENT_LAYERS, ARBITRARY_CONTENT_LAYERS, MAGENTA_CONTENT_LAYERS),
    "style_layers": (STYLE_LAYERS, ARBITRARY_STYLE_LAYERS, MAGENTA_STYLE_LAYERS),
}


@dataclasses.dataclass(frozen=True)
class FastTrainConfig:
    """Settings of one per-style network's training run."""

    # Fields that fix the shape of the saved state or the meaning of the step counter.
    INCOMPATIBLE_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "arbitrary", "init", "finetune", "filters", "residual_blocks", "decoder_width", "image_size", "load_size",
        "batch_size", "mixed_precision",
    )
    FREE_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "model_dir", "max_steps", "steps", "strategy", "jit", "keep_checkpoints", "checkpoint_every_steps",
        "image_every_steps", "log_every_steps", "cache_dir",
    )

    # Data.
    arbitrary: bool = options.option(False, "train an arbitrary-style (AdaIN) network on --style_dir instead of "
                                            "a network for one --style")
    style: str = options.option("", "the style image (a painting) the network learns (per-style networks)")
    style_dir: str | None = options.option(None, "folder of paintings an --arbitrary network learns from")
    content_dir: str | None = options.option(None, "folder of content photos to train on")
    dataset: str | None = options.option(None, "TFDS image dataset instead of a folder, e.g. coco/2017")
    data_dir: str | None = options.option(None, "TFDS data_dir (where the prepared dataset lives)")
    image_size: int = options.option(256, "training crop size in px (a multiple of 4, >= 16)")
    load_size: int | None = options.option(None, "photos are resized to this square before the random crop "
                                                 "(default: image_size + image_size / 8)")
    batch_size: int = options.option(4, "GLOBAL batch size, split over all replicas")
    style_scale: float = options.option(1.0, "style image long side relative to --image_size (per-style)")

    # Model.
    init: str = options.option("scratch", "per-style networks: scratch (Johnson et al.'s transformer, random "
                                          "weights) or magenta (fine-tune Magenta's pretrained transformer on "
                                          "--style; python -m tfstyle.weights fetch gets it)", list(INITS))
    finetune: str = options.option("all", "--init magenta: the weights that move: all, or norms (the conditional "
                                          "instance norms' projections only)", list(FINETUNE))
    filters: int = options.option(32, "filters of the first convolution (Johnson et al.: 32; --init scratch)")
    residual_blocks: int = options.option(5, "residual blocks at 1/4 resolution (Johnson et al.: 5; --init scratch)")
    decoder_width: int = options.option(64, "--arbitrary: filters of the decoder's last block (Huang et al.: 64)")

    # Loss.
    content_weight: float = options.option(1.0, "weight of the content loss (alpha)")
    style_weight: float | None = options.option(None, "weight of the style loss (beta; default 2e-4, "
                                                      "10 with --arbitrary, 5e-3 with --init magenta)")
    tv_weight: float | None = options.option(None, "weight of the total-variation loss (gamma; default 1e4, "
                                                   "or 0 with --arbitrary)")
    content_layers: tuple[str, ...] | None = options.option(
        None, f"VGG content layers (default {','.join(CONTENT_LAYERS)}; --init magenta: "
              f"{','.join(MAGENTA_CONTENT_LAYERS)}; --arbitrary: the AdaIN target at {ARBITRARY_CONTENT_LAYERS[0]}, "
              "fixed)")
    style_layers: tuple[str, ...] | None = options.option(
        None, f"VGG style layers, equal weights (default {','.join(STYLE_LAYERS)}; --init magenta: "
              f"{','.join(MAGENTA_STYLE_LAYERS)}; --arbitrary: {','.join(ARBITRARY_STYLE_LAYERS)})")
    pooling: str = options.option("max", "VGG pooling of the loss network", ["max", "avg"])
    weights: str = options.option("auto", "VGG weights: auto, imagenet, random or a file (see tfstyle.weights)")
    cache_dir: str | None = options.option(None, "where converted VGG weights are cached (default ~/.cache/tfstyle)")

    # Optimiser and schedule.
    learning_rate: float | None = options.option(None, "Adam learning rate (default 1e-3, or 1e-4 with "
                                                        "--arbitrary or --init magenta)")
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

    def __post_init__(self):
        mode = 1 if self.arbitrary else 2 if self.init == MAGENTA else 0
        for name, defaults in MODE_DEFAULTS.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[mode])
        for name in ("content_layers", "style_layers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def resolved_load_size(self) -> int:
        return self.load_size if self.load_size is not None else self.image_size + self.image_size // 8

    def validate(self) -> FastTrainConfig:
        """Raises ValueError naming the first bad field; returns the config."""
        from tfstyle import geometry

        if not self.model_dir:
            raise ValueError("--model_dir is required")
        for name, choices in (("init", INITS), ("finetune", FINETUNE)):
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if self.arbitrary and self.init != "scratch":
            raise ValueError(f"--init {self.init} fine-tunes a per-style network; an --arbitrary (AdaIN) network "
                             "trains from scratch")
        if self.finetune != "all" and self.init != MAGENTA:
            raise ValueError("--finetune chooses what moves in a network that starts from --init magenta")
        if self.arbitrary:
            if self.style:
                raise ValueError("--style names one painting; an --arbitrary network learns from a folder: "
                                 "give --style_dir instead")
            if not self.style_dir:
                raise ValueError("--arbitrary needs --style_dir (a folder of paintings)")
            if self.content_layers != ARBITRARY_CONTENT_LAYERS:
                raise ValueError(f"an --arbitrary network's content loss is on the AdaIN target at "
                                 f"{ARBITRARY_CONTENT_LAYERS[0]}; leave --content_layers out")
        else:
            if self.style_dir:
                raise ValueError("--style_dir is for --arbitrary networks; a per-style network learns one --style")
            if not self.style:
                raise ValueError("--style is required (the painting the network learns), or --arbitrary with "
                                 "--style_dir")
        if bool(self.content_dir) == bool(self.dataset):
            raise ValueError("give either --content_dir (a folder of photos) or --dataset (TFDS), not both"
                             if self.content_dir else "give --content_dir (a folder of photos) or --dataset")
        for name, choices in (("strategy", distribute.STRATEGIES), ("mixed_precision", distribute.PRECISIONS),
                              ("pooling", ("max", "avg"))):
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        for name in ("batch_size", "filters", "residual_blocks", "decoder_width", "steps", "keep_checkpoints",
                     "checkpoint_every_steps", "image_every_steps", "log_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        geometry.check_size(self.image_size, self.image_size, "--image_size", exact=True)
        if self.arbitrary and self.image_size % 8:
            raise ValueError(f"--image_size is {self.image_size}; an --arbitrary network needs a multiple of 8 "
                             "(the encoder's three pools)")
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
        (headers only), or `--init magenta` before the network was fetched, so that bad input fails before
        TensorFlow builds anything."""
        from tfstyle import images

        if self.style:
            images.check_file(self.style)
        if self.init == MAGENTA:
            from tfstyle.weights import magenta, resolve

            magenta.converted_path(self.cache_dir or resolve.default_cache_dir())
        for flag, folder in (("--style_dir", self.style_dir), ("--content_dir", self.content_dir)):
            if folder:
                if not os.path.isdir(folder):
                    raise FileNotFoundError(f"{flag} does not exist: {folder}")
                images.list_images(folder)


def tiny(**overrides) -> FastTrainConfig:
    """A run small enough for a CPU test: 32 px crops, an 8-filter network with one residual block (or a
    width-4 decoder), batch 2, random VGG weights unless given, checkpoints every 2 steps, logs and images
    every step."""
    values = dict(image_size=32, load_size=36, batch_size=2, filters=8, residual_blocks=1, decoder_width=4, steps=4,
                  weights="random", checkpoint_every_steps=2, image_every_steps=1, log_every_steps=1)
    values.update(overrides)
    return FastTrainConfig(**values)


def resolve_model_dir(model_dir: str, styles) -> str:
    """`--model_dir`, or with none `MAGENTA` when `--style` paintings are given (`""`: the bundled per-style
    network)."""
    return model_dir or (MAGENTA if styles else "")

