"""The size rule of tfstyle's image-to-image networks, in one place and without TensorFlow.

The CycleGAN ResNet generator (`tfstyle.cyclegan.models.build_generator`, Zhu et al. 2017 appendix 7.2)
and the feed-forward style network (`tfstyle.fast.models.build_transformer`, Johnson et al. 2016) both
downsample twice by 2 and upsample twice by 2, so H and W must be multiples of `SIZE_MULTIPLE` for the
output to have the input's size: inference and the exports pad to it and crop back
(`tfstyle.export.translate_uint8`), training crops must be exact multiples. `MIN_SIZE` is the smallest
side they run on: 8 px -> 2 px at the bottleneck, which its 1-px reflection padding needs.

TensorFlow-free so that the training configs can check `--image_size` before TensorFlow loads.
"""

from __future__ import annotations

import math
import re

SIZE_MULTIPLE = 4
MIN_SIZE = 8

NORMS = ("instance", "batch", "none")  # the reference's --norm
CHANNELS = (1, 3)  # --input_nc / --output_nc: grey or RGB

_GENERATOR_NAME = re.compile(r"(?:resnet_(\d+)blocks|unet_(\d+))")


def check_size(height: int, width: int, what: str = "image", *, exact: bool = False, min_size: int = MIN_SIZE) -> None:
    """Raises ValueError when an image of `height` x `width` px is smaller than `MIN_SIZE` on a side.

    With `exact` (training crops, which are not padded), the sides must also be multiples of
    `SIZE_MULTIPLE`; images of other sizes are padded by the callers that run the network.
    The message gives the size as width x height, like `tfstyle.features.check_image_size`.
    """
    if min(height, width) < min_size:
        raise ValueError(f"{what} is {width}x{height} px, below the {min_size} px minimum the network needs "
                         "on each side")
    if exact and (height % SIZE_MULTIPLE or width % SIZE_MULTIPLE):
        raise ValueError(f"{what} is {width}x{height} px; it must be a multiple of {SIZE_MULTIPLE} "
                         "(the network's two stride-2 stages)")


check_generator_size = check_size  # the CycleGAN generator's name for it


def parse_generator(name: str) -> tuple[str, int]:
    """A `--generator` / `--netG` name -> ("resnet", residual blocks) or ("unet", stride-2 levels).

    "resnet_<n>blocks" (the reference's resnet_9blocks, resnet_6blocks) and "unet_<side>" with side a power
    of 2 >= 32 (unet_256: 8 levels, unet_128: 7).

    Raises:
        ValueError: any other name.
    """
    match = _GENERATOR_NAME.fullmatch(name)
    side = int(match.group(2)) if match and match.group(2) else None
    if match is None or (side is not None and (side < 32 or side & (side - 1))):
        raise ValueError(f"unknown generator {name!r}: expected resnet_9blocks, resnet_6blocks, unet_256, unet_128 "
                         "(or resnet_<n>blocks, unet_<power of 2 >= 32>)")
    if side is None:
        return "resnet", int(match.group(1))
    return "unet", int(math.log2(side))


def generator_rule(name: str) -> tuple[int, int]:
    """(multiple, min_size) in px of the generator called `name`: its input sides must be multiples of
    `multiple`, and an image is padded (reflect, bottom and right) to one. A ResNet generator: 4 and 8 px.
    A U-Net of k levels: 2 ** k (a side halves k times) and 2 ** (k - 1) + 1 px (reflection needs a pad
    shorter than the side).
    """
    kind, depth = parse_generator(name)
    if kind == "resnet":
        return SIZE_MULTIPLE, MIN_SIZE
    return 2**depth, 2 ** (depth - 1) + 1


def check_crop(size: int, generator: str, what: str = "--image_size") -> None:
    """Raises ValueError unless a square training crop of `size` px suits `generator` (no padding in training)."""
    multiple, min_size = generator_rule(generator)
    if size < max(min_size, MIN_SIZE) or size % multiple:
        raise ValueError(f"{what} is {size} px; {generator} needs a multiple of {multiple} px"
                         f"{'' if multiple > MIN_SIZE else f' and at least {MIN_SIZE} px'}")
