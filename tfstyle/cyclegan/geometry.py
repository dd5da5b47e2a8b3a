"""The ResNet generator's size rule, in one place and without TensorFlow.

The generator (`tfstyle.cyclegan.models.build_generator`, Zhu et al. 2017 appendix 7.2)
downsamples twice by 2, so H and W must be multiples of `SIZE_MULTIPLE` for the output to have the
input's size: translate and the SavedModel pad to it and crop back (`tfstyle.export.translate_uint8`),
training crops must be exact multiples. `MIN_SIZE` is the smallest side it runs on: 8 px -> 2 px at
the bottleneck, which its 1-px reflection padding needs.

TensorFlow-free so that `TrainConfig.validate` can check `--image_size` before TensorFlow loads.
"""

from __future__ import annotations

SIZE_MULTIPLE = 4
MIN_SIZE = 8


def check_generator_size(height: int, width: int, what: str = "image", *, exact: bool = False) -> None:
    """Raises ValueError when an image of `height` x `width` px is smaller than `MIN_SIZE` on a side.

    With `exact` (training crops, which are not padded), the sides must also be multiples of
    `SIZE_MULTIPLE`; images of other sizes are padded by the callers that translate them.
    The message gives the size as width x height, like `tfstyle.features.check_image_size`.
    """
    if min(height, width) < MIN_SIZE:
        raise ValueError(f"{what} is {width}x{height} px, below the {MIN_SIZE} px minimum the generator needs "
                         "on each side")
    if exact and (height % SIZE_MULTIPLE or width % SIZE_MULTIPLE):
        raise ValueError(f"{what} is {width}x{height} px; it must be a multiple of {SIZE_MULTIPLE} "
                         "(the generator's two stride-2 stages)")
