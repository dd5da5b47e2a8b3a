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

SIZE_MULTIPLE = 4
MIN_SIZE = 8


def check_size(height: int, width: int, what: str = "image", *, exact: bool = False) -> None:
    """Raises ValueError when an image of `height` x `width` px is smaller than `MIN_SIZE` on a side.

    With `exact` (training crops, which are not padded), the sides must also be multiples of
    `SIZE_MULTIPLE`; images of other sizes are padded by the callers that run the network.
    The message gives the size as width x height, like `tfstyle.features.check_image_size`.
    """
    if min(height, width) < MIN_SIZE:
        raise ValueError(f"{what} is {width}x{height} px, below the {MIN_SIZE} px minimum the network needs "
                         "on each side")
    if exact and (height % SIZE_MULTIPLE or width % SIZE_MULTIPLE):
        raise ValueError(f"{what} is {width}x{height} px; it must be a multiple of {SIZE_MULTIPLE} "
                         "(the network's two stride-2 stages)")


check_generator_size = check_size  # the CycleGAN generator's name for it
