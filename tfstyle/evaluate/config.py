"""Flags of `python -m tfstyle.evaluate {style,translation}`: one frozen dataclass holds their defaults."""

from __future__ import annotations

import dataclasses

from tfstyle import options
from tfstyle.evaluate import metrics  # numpy only: the CLI can fail on bad flags before TensorFlow loads

MODES = ("style", "translation", "video")
# The style evaluator's long side in px (`tfstyle.evaluate.stylization`): keep it to compare runs.
LONG_SIDE = 512
# The style evaluator's pooling choices (`tfstyle.features.POOLING_MODES`, kept TensorFlow-free here).
POOLINGS = ("max", "avg")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Settings of both modes; the library functions take them as plain arguments."""

    # style
    output: tuple[str, ...] = options.option((), "style: stylised image(s), comma separated, or a folder of them")
    content: str | None = options.option(None, "style: the content image, or a folder of content images matched to "
                                       "the outputs by file name (without extension)")
    style: tuple[str, ...] = options.option((), "style: style image(s), comma separated")
    blend: tuple[float, ...] = options.option((), "style: one weight per style image (default: equal)")
    long_side: int = options.option(LONG_SIDE, "style: evaluation size in px (keep the default to compare runs)")
    pooling: str = options.option("max", "style: VGG19 pooling of the evaluator: max (the trained network) or avg "
                                  "(tfstyle's optimiser default); scores compare only under the same one",
                                  choices=POOLINGS)
    weights: str = options.option("auto", "VGG19 weights: auto (offline search), imagenet, or a weights file")
    # translation
    generated: str | None = options.option(None, "translation: folder of translated images")
    target: str | None = options.option(None, "translation: folder of real target-domain images (held-out split)")
    features: str = options.option("vgg", "translation: vgg (KID-VGG/FID-VGG, offline) or inception "
                                  "(Keras InceptionV3)", choices=["vgg", "inception"])
    inception_weights: str | None = options.option(None, "translation: InceptionV3 (no top) weights file for "
                                                 "--features=inception (default: Keras' ImageNet download)")
    image_size: int | None = options.option(None, "translation: resize side in px "
                                          "(default 224 for vgg, 299 for inception)")
    max_images: int | None = options.option(None, "translation: at most this many images per set (seeded sample)")
    kid_subsets: int = options.option(metrics.KID_SUBSETS, "translation: KID subsets")
    kid_subset_size: int = options.option(metrics.KID_SUBSET_SIZE, "translation: images per KID subset "
                                                           "(clamped to the smaller set)")
    seed: int = options.option(0, "translation: seed of the KID subsets and of --max_images sampling")
    batch_size: int = options.option(16, "images per forward pass")
    # video
    input: str | None = options.option(None, "video: the input clip (video file or frame folder) --output was made "
                                             "from; --output is then the stylised clip")
    baseline: str | None = options.option(None, "video: the same --input painted frame by frame (--temporal none): "
                                                "also report each frame's losses relative to it, and the worst")
    frame_step: int = options.option(1, "video: score the style and content of every N-th frame (the warping error "
                                        "uses every frame)")
    # all
    json: str | None = options.option(None, "also write the results as JSON to this file (atomically)")
    cache_dir: str | None = options.option(None, "folder of converted VGG weights (default ~/.cache/tfstyle)")
    verbose: bool = options.option(False, "debug logging")
