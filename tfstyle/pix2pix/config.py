"""`Pix2PixConfig`: every setting of a paired (pix2pix) training run, in one frozen dataclass.

Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial Networks". The
option set is CycleGAN's (`tfstyle.cyclegan.config.TrainConfig`: the same generator, discriminator,
normalisation, schedule and runtime flags, with the reference's names as aliases: `--netG`,
`--n_layers_D`, `--crop_size`, `--lr`, `--n_epochs`, ...) with pix2pix's defaults, as the reference's
`pix2pix_model.py` sets them: U-Net 256 generator with dropout, batch norm, the vanilla GAN loss, no image
pool, L1 weight lambda_L1 = 100, Adam(2e-4, beta_1 0.5), 100 + 100 epochs, 286 -> 256 px crops, batch 1.

Data: paired images, as the reference's aligned format (`--aligned folder/`: each file A|B side by side,
`--direction AtoB` learns left -> right, `BtoA` right -> left) or two folders whose files pair up by
name (`--domain_a inputs/ --domain_b targets/`, matched on the name without its extension).

The run saves the config as `<model_dir>/config.json` with `"task": "pix2pix"`; `tfstyle.cyclegan`'s
translate / export, the video command and the app read such a run folder as they read a CycleGAN one
(its one generator is `--direction a2b`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from tfstyle import geometry, options
from tfstyle.cyclegan.config import GAN_MODES, TrainConfig

TASK = "pix2pix"
DIRECTIONS = ("AtoB", "BtoA")
# CycleGAN's flags that mean nothing for a paired run: `python -m tfstyle.pix2pix.train` does not define them.
CYCLEGAN_ONLY = ("dataset", "data_dir", "lambda_cycle", "lambda_identity", "pool_size")

__all__ = ["CYCLEGAN_ONLY", "DIRECTIONS", "TASK", "Pix2PixConfig", "tiny"]


@dataclasses.dataclass(frozen=True)
class Pix2PixConfig(TrainConfig):
    """Settings of one pix2pix run: `TrainConfig`'s fields with pix2pix's defaults, plus the paired data."""

    INCOMPATIBLE_ON_RESUME: ClassVar[tuple[str, ...]] = TrainConfig.INCOMPATIBLE_ON_RESUME + ("direction",)

    domain_a: str | None = options.option(None, "folder of input images, paired with --domain_b by file name")
    domain_b: str | None = options.option(None, "folder of target images, paired with --domain_a by file name")
    aligned: str | None = options.option(None, "folder of A|B images side by side (the reference's aligned "
                                               "format), instead of --domain_a/--domain_b")
    direction: str = options.option("AtoB", "with --aligned: AtoB learns left -> right, BtoA right -> left",
                                    DIRECTIONS)

    generator: str = options.option("unet_256", "generator: unet_256, unet_128, resnet_9blocks, resnet_6blocks "
                                    "(or unet_<2 ** k>, resnet_<n>blocks)", aliases=("netG",))
    norm: str = options.option("batch", "normalisation of G and D (the reference's --norm)", geometry.NORMS)
    no_dropout: bool = options.option(False, "no dropout in the generator's decoder (pix2pix keeps it)")
    gan_mode: str = options.option("vanilla", "adversarial loss", GAN_MODES)
    lambda_l1: float = options.option(100.0, "weight of the L1 loss |G(x) - y| (paper: lambda)", aliases=("lambda_L1",))
    pool_size: int = options.option(0, "no history pool in pix2pix", cli=False)
    lambda_identity: float = options.option(0.0, "no identity loss in pix2pix", cli=False)

    def validate_data(self) -> None:
        """Either --aligned or both --domain_a and --domain_b."""
        folders = self.domain_a is not None or self.domain_b is not None
        if folders and self.aligned:
            raise ValueError("give either --aligned or --domain_a/--domain_b, not both")
        if not self.aligned and not (self.domain_a and self.domain_b):
            raise ValueError("give --aligned (a folder of A|B images) or both --domain_a and --domain_b "
                             "(folders of images paired by file name)")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"--direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        if self.lambda_l1 < 0:
            raise ValueError(f"--lambda_l1 must be >= 0, got {self.lambda_l1}")


def tiny(**overrides) -> Pix2PixConfig:
    """A run small enough for a CPU test: 32 px crops of 36 px images, a 5-level U-Net with 8 filters, a
    2-layer PatchGAN with 8, log/images every step, checkpoint every 2 steps."""
    values = dict(
        load_size=36, image_size=32, batch_size=1, generator="unet_32", ngf=8, ndf=8, net_d="n_layers", n_layers_d=2,
        epochs=1, decay_epochs=1, keep_checkpoints=3, checkpoint_every_steps=2, image_every_steps=1,
        log_every_steps=1,
    )
    values.update(overrides)
    return Pix2PixConfig(**values)
