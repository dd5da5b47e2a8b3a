"""`TrainConfig`: every setting of a CycleGAN training run, in one frozen dataclass.

The CLI (`python -m tfstyle.cyclegan.train`) takes its flags and defaults from this class
(`tfstyle.cli.define_flags`); the trainer takes an instance; the run saves it as
`<model_dir>/config.json` beside its checkpoints, and translate/export read it back with
`load_config` to rebuild the generators.

Defaults are the reference's (Zhu et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix):
286 -> 256 px crops, batch 1, ResNet-9-block generator with 64 filters, 70x70 PatchGAN with 64
filters and 3 layers, LSGAN, lambda_cycle 10, lambda_identity 0.5, pool of 50, Adam(2e-4,
beta_1 0.5), 100 constant + 100 decaying epochs. `tiny()` is the 32 px, 8-filter, 2-block
preset used by the tests.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import ClassVar

from tfstyle import (  # TensorFlow-free: the CLI defines and checks flags before importing it
    distribute,
    geometry,
    options,
)

TASK = "cyclegan"  # config.json's "task" key for CycleGAN runs

STRATEGIES = distribute.STRATEGIES
MIXED_PRECISION = distribute.PRECISIONS
GAN_MODES = ("lsgan", "vanilla", "wgangp")  # wgangp: the reference's, without a gradient penalty
NORMS = geometry.NORMS
NET_D = ("basic", "n_layers")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")  # torch.nn.init's, drawn by `models.initialize`
LR_POLICIES = ("linear", "step", "cosine")
PREPROCESS = options.PREPROCESS

__all__ = ["GAN_MODES", "MIXED_PRECISION", "STRATEGIES", "TASK", "TrainConfig", "config_path",
           "load_config", "save_config", "tiny"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one CycleGAN training run (code name -> paper name in the field help)."""

    # Fields that fix the shape of the saved state (weights, optimiser slots, pools) or the meaning
    # of the step counter (the data position is step // steps_per_epoch): resuming with a
    # different value cannot continue the same run (the training core refuses, naming them).
    INCOMPATIBLE_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "generator", "ngf", "ndf", "net_d", "n_layers_d", "norm",
        "image_size", "pool_size", "batch_size", "mixed_precision",
    )
    # Fields that may change between runs of the same model_dir without comment.
    FREE_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "model_dir", "max_steps", "strategy", "jit", "keep_checkpoints", "checkpoint_every_steps",
        "image_every_steps", "log_every_steps",
    )

    # Data: two folders of images, or a TFDS `cycle_gan/<name>` dataset.
    domain_a: str | None = options.option(None, "folder of domain-A images (paper: X)")
    domain_b: str | None = options.option(None, "folder of domain-B images (paper: Y)")
    dataset: str | None = options.option(None, "TFDS dataset instead of folders, e.g. cycle_gan/horse2zebra")
    data_dir: str | None = options.option(None, "TFDS data_dir (where the prepared dataset lives)")
    load_size: int = options.option(286, "resize_and_crop: images are resized to this (px, square) before the "
                                         "random crop; scale_width_and_crop: to this width")
    preprocess: str = options.option("resize_and_crop", "augmentation: resize_and_crop (load_size square, then a "
                                     "random crop), crop (a random crop at the image's own size), "
                                     "scale_width_and_crop (width to load_size, aspect kept, then a crop)", PREPROCESS)
    no_flip: bool = options.option(False, "no random left-right flip")
    image_size: int = options.option(256, "random crop size in px (a multiple of 4, >= 8; of 2 ** k for unet_<2 ** k>)",
                                     aliases=("crop_size",))
    batch_size: int = options.option(1, "GLOBAL batch size, split over all replicas")

    # Models.
    generator: str = options.option("resnet_9blocks", "generator: resnet_9blocks, resnet_6blocks, unet_256, unet_128 "
                                    "(or resnet_<n>blocks, unet_<2 ** k>)", aliases=("netG",))
    ngf: int = options.option(64, "filters of the generator's first convolution")
    ndf: int = options.option(64, "filters of the discriminator's first convolution")
    net_d: str = options.option("basic", "discriminator: basic (the 70x70 PatchGAN) or n_layers (--n_layers_D "
                                "strided layers)", NET_D, aliases=("netD",))
    n_layers_d: int = options.option(3, "with --netD n_layers: strided layers of the PatchGAN (3 = 70x70 patches)",
                                     aliases=("n_layers_D",))
    init_type: str = options.option("normal", "weight init: normal N(0, gain), xavier, kaiming, orthogonal",
                                    INIT_TYPES)
    init_gain: float = options.option(0.02, "scale of normal, xavier and orthogonal init")
    norm: str = options.option("instance", "normalisation of G and D (the reference's --norm)", NORMS)
    no_dropout: bool = options.option(True, "no dropout in the generator (the reference's CycleGAN default)")

    # Losses.
    gan_mode: str = options.option("lsgan", "adversarial loss (wgangp: the reference's Wasserstein losses, which "
                                   "it trains without a gradient penalty)", GAN_MODES)
    lambda_cycle: float = options.option(10.0, "weight of the cycle-consistency L1 loss (paper: lambda)")
    lambda_identity: float = options.option(0.5, "identity-loss weight as a fraction of lambda_cycle (0 = off)")
    pool_size: int = options.option(50, "history pool of generated images shown to D (0 = off)")

    # Optimiser and schedule.
    learning_rate: float = options.option(2e-4, "Adam learning rate for G and D", aliases=("lr",))
    beta_1: float = options.option(0.5, "Adam beta_1", aliases=("beta1",))
    epochs: int = options.option(100, "epochs at the constant learning rate", aliases=("n_epochs",))
    decay_epochs: int = options.option(100, "epochs of linear decay to 0 after --epochs", aliases=("n_epochs_decay",))
    lr_policy: str = options.option("linear", "learning-rate schedule: linear (constant --n_epochs, then linear "
                                    "decay), step (x 0.1 every --lr_decay_iters epochs), cosine (period "
                                    "--n_epochs)", LR_POLICIES)
    lr_decay_iters: int = options.option(50, "step policy: epochs between x 0.1 drops")
    seed: int = options.option(0, "seed of weights, data order, crops, flips and the pool")

    # Runtime.
    strategy: str = options.option("auto", "tf.distribute strategy (auto: all local GPUs, else CPU)", STRATEGIES)
    mixed_precision: str = options.option("none", "mixed precision policy (losses stay float32)", MIXED_PRECISION)
    jit: bool = options.option(False, "compile the train step with XLA")
    model_dir: str = options.option("", "run folder: config.json, checkpoints/, logs/ (required)")
    keep_checkpoints: int = options.option(3, "checkpoints kept in <model_dir>/checkpoints")
    checkpoint_every_steps: int = options.option(1000, "save a checkpoint every N steps (and at each epoch end)")
    image_every_steps: int = options.option(500, "write an A->B->A / B->A->B image grid to TensorBoard every N steps")
    log_every_steps: int = options.option(100, "write losses and learning rate to TensorBoard every N steps")
    max_steps: int | None = options.option(None, "stop once the global step reaches N (counts across resumes)")

    # ------------------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raises ValueError naming the first bad field; returns None when the config is usable."""
        if not self.model_dir:
            raise ValueError("--model_dir is required")
        self.validate_data()
        self.validate_training()

    def validate_data(self) -> None:
        """The data flags: two folders or a TFDS name."""
        folders = self.domain_a is not None or self.domain_b is not None
        if folders and self.dataset:
            raise ValueError("give either --domain_a/--domain_b or --dataset, not both")
        if not self.dataset and not (self.domain_a and self.domain_b):
            raise ValueError("give both --domain_a and --domain_b (folders of images), or --dataset")

    def validate_training(self) -> None:
        """Every flag but the data's."""
        for name, choices in (("strategy", STRATEGIES), ("mixed_precision", MIXED_PRECISION),
                              ("gan_mode", GAN_MODES), ("norm", NORMS), ("net_d", NET_D),
                              ("init_type", INIT_TYPES), ("lr_policy", LR_POLICIES), ("preprocess", PREPROCESS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if self.net_d == "basic" and self.n_layers_d != 3:
            raise ValueError(f"--n_layers_D {self.n_layers_d} needs --netD n_layers (basic is the 3-layer PatchGAN)")
        if not self.init_gain > 0:
            raise ValueError(f"--init_gain must be > 0, got {self.init_gain}")
        for name in ("image_size", "load_size", "batch_size", "ngf", "ndf", "n_layers_d", "keep_checkpoints",
                     "lr_decay_iters",
                     "checkpoint_every_steps", "image_every_steps", "log_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        geometry.check_crop(self.image_size, self.generator)  # also refuses an unknown --generator
        if self.preprocess != "crop" and self.load_size < self.image_size:
            raise ValueError(f"--load_size ({self.load_size}) must be >= --image_size ({self.image_size})")
        if self.epochs < 0 or self.decay_epochs < 0 or self.epochs + self.decay_epochs < 1:
            raise ValueError("--epochs and --decay_epochs must be >= 0 with at least one epoch in total")
        for name in ("lambda_cycle", "lambda_identity", "pool_size", "learning_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.beta_1 < 1.0:
            raise ValueError(f"--beta_1 must be in [0, 1), got {self.beta_1}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"--max_steps must be >= 0, got {self.max_steps}")

    def to_json(self) -> str:
        """The config as a JSON object (`dataclasses.asdict`), keys in field order."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parses `to_json` output. Unknown keys (from a newer version) are ignored; missing keys
        take today's defaults.

        Raises:
            ValueError: `text` is not a JSON object.
        """
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"config is not valid JSON: {error}") from None
        if not isinstance(values, dict):
            raise ValueError("config JSON must be an object")
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def tiny(**overrides) -> TrainConfig:
    """A run small enough for a CPU test: 32 px crops of 36 px images, 8-filter G and D with 2
    residual blocks, 2-layer PatchGAN, pool of 4, log/images every step, checkpoint every 2 steps."""
    values = dict(
        load_size=36, image_size=32, batch_size=1, generator="resnet_2blocks", ngf=8, ndf=8, net_d="n_layers",
        n_layers_d=2,
        pool_size=4, epochs=1, decay_epochs=1, keep_checkpoints=3, checkpoint_every_steps=2,
        image_every_steps=1, log_every_steps=1,
    )
    values.update(overrides)
    return TrainConfig(**values)


def config_path(model_dir: str | os.PathLike) -> str:
    """`<model_dir>/config.json` (`RunDir.config_path`)."""
    from tfstyle.training.rundir import RunDir

    return RunDir(model_dir).config_path


def save_config(config: TrainConfig, model_dir: str | os.PathLike | None = None) -> str:
    """Writes `<model_dir>/config.json` atomically with `"task": "cyclegan"` (`RunDir.save_config`); returns its path.

    `model_dir` defaults to `config.model_dir`; the folder is created if needed.
    """
    from tfstyle.training.rundir import RunDir

    return RunDir(model_dir if model_dir is not None else config.model_dir).save_config(config, task=TASK)


def load_config(model_dir: str | os.PathLike) -> TrainConfig:
    """Reads `<model_dir>/config.json` (`RunDir.load_config`); a config.json without a "task" key
    (written before the key existed) is read as a CycleGAN run.

    Raises:
        FileNotFoundError: no config.json in `model_dir` (not a tfstyle run folder).
        ValueError: the file is not a valid config, or belongs to another trainer's run.
    """
    from tfstyle.training.rundir import RunDir

    return RunDir(model_dir).load_config(TrainConfig, task=TASK)
