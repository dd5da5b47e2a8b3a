"""Style-transfer evaluation: content and style loss of a result under one fixed evaluator.

The losses a run reports while it optimises depend on its own settings (backbone, layers, layer
weights, pooling, image and style size), so they cannot rank runs made with different settings.
This evaluator scores every output the same way:

* network: ImageNet VGG19 (`tfstyle.features`, weights "auto": Keras' float32 file when it is
  in Keras' cache, else the offline 8-bit copy; the JSON names the one used), max pooling (the
  trained network; `pooling="avg"` swaps in average pooling, the features Gatys et al. optimise (and
  tfstyle's `--pooling avg`): each method scores best on the features it optimises, so compare runs under both;
  the JSON names the one used), the caffe preprocessing of `tfstyle.features` (RGB [0, 1] ->
  BGR 0-255 minus the ImageNet mean);
* content: block4_conv2 (Gatys et al.'s conv4_2), `tfstyle.losses.content_loss`
  (mean squared feature difference);
* style: block1_conv1 ... block5_conv1 (conv1_1 ... conv5_1), equal weights w_l = 1/5,
  `tfstyle.losses.style_loss` per layer (Gatys et al. eq. 4 on size-normalised Grams), summed
  (eq. 5); several styles are blended into one Gram target per layer with weights summing to 1
  (`tfstyle.loss_targets.blended_grams`, the same function the optimiser uses);
* sizes: the output is resized to `long_side` (default 512 px) on its long side, aspect kept;
  the content image is resized to exactly that size (its aspect ratio must match the output's
  within 2 % or 1 px); each style image is resized to the same long side, aspect kept. Resizing
  is `tfstyle.images.resize` (bicubic, antialiased, clipped to [0, 1]).

    from tfstyle.evaluate import evaluate_stylization
    scores = evaluate_stylization("out.png", "photo.jpg", ["starry_night.jpg"])
    scores["content_loss"], scores["style_loss"]

Lower is closer: content_loss to the photo's block4_conv2 features, style_loss to the paintings'
Gram statistics. The two trade off; compare runs on both.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfstyle import features, images, loss_targets, losses
from tfstyle import weights as weights_lib
from tfstyle.evaluate.config import LONG_SIDE

logger = logging.getLogger(__name__)

BACKBONE = "vgg19"
POOLING = "max"  # the default: the trained network
POOLING_MODES = features.POOLING_MODES
CONTENT_LAYER = "block4_conv2"
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
STYLE_LAYER_WEIGHTS = tuple(1.0 / len(STYLE_LAYERS) for _ in STYLE_LAYERS)
# The content image may differ from the output's aspect ratio by this much (rounding of sizes).
ASPECT_TOLERANCE = 0.02


@dataclasses.dataclass(frozen=True)
class StyleScores:
    """The scores of one output.

    Attributes:
        content_loss: `losses.content_loss` at block4_conv2 (float, >= 0).
        style_loss: sum_l w_l E_l over the style layers (float, >= 0).
        style_loss_per_layer: {layer: E_l}, unweighted.
        size: (height, width) in px at which the output was evaluated.
    """

    content_loss: float
    style_loss: float
    style_loss_per_layer: dict[str, float]
    size: tuple[int, int]


def _check_blend(blend: Sequence[float] | None, count: int) -> list[float]:
    if count < 1:
        raise ValueError("no style image given")
    blend = list(blend or ())
    if blend and len(blend) != count:
        raise ValueError(f"blend has {len(blend)} weights but there are {count} style images")
    if any(weight < 0 for weight in blend) or (blend and sum(blend) <= 0):
        raise ValueError(f"blend weights must be >= 0 and not all 0, got {blend}")
    return loss_targets.normalised(blend, count)


def check_sizes(output_size: tuple[int, int], content_size: tuple[int, int],
                long_side: int = LONG_SIDE) -> tuple[int, int]:
    """The evaluation size of an output, after checking it against its content image.

    Args:
        output_size, content_size: (height, width) in px of the two images as read.
        long_side: the evaluation long side.

    Returns:
        (height, width) of the output (and content) at the evaluation size.

    Raises:
        ValueError: the evaluation size is below the VGG19 minimum, or the content's aspect
            ratio differs from the output's by more than 2 % (and 1 px).
    """
    height, width = images.scaled_size(output_size[0], output_size[1], long_side)
    try:
        features.check_image_size(height, width, BACKBONE, (CONTENT_LAYER, *STYLE_LAYERS))
    except ValueError as error:
        raise ValueError(f"the output at long side {long_side} px: {error}") from None
    expected_height, expected_width = images.scaled_size(content_size[0], content_size[1], long_side)
    if (abs(expected_height - height) > max(1.0, ASPECT_TOLERANCE * height)
            or abs(expected_width - width) > max(1.0, ASPECT_TOLERANCE * width)):
        raise ValueError(
            f"the output ({output_size[1]}x{output_size[0]} px) and the content image "
            f"({content_size[1]}x{content_size[0]} px) have different aspect ratios: "
            "is this the content image of that output?")
    return height, width


class StyleEvaluator:
    """The fixed evaluator (see the module docstring); builds VGG19 once for many outputs.

    Args:
        weights: VGG19 weights, as `tfstyle.weights.resolve_weights` takes them ("auto",
            "imagenet", a file; "random" only for tests).
        long_side: evaluation size in px (default 512); keep it fixed to compare runs.
        cache_dir: folder of converted weights (default `tfstyle.weights.default_cache_dir()`).
        pooling: "max" (default, the trained network) or "avg" (average pooling, same conv weights);
            scores under different poolings do not compare.

    Raises:
        FileNotFoundError: no weights found (the message says how to get them).
        ValueError: a weights file of the wrong kind; `long_side` below the VGG19 minimum; an
            unknown pooling.
    """

    def __init__(self, *, weights: str = "auto", long_side: int = LONG_SIDE, cache_dir: str | None = None,
                 pooling: str = POOLING):
        if pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLING_MODES)}")
        self.pooling = pooling
        self.layers = (CONTENT_LAYER, *STYLE_LAYERS)
        minimum = features.min_image_size(BACKBONE, self.layers)
        if long_side < minimum:
            raise ValueError(f"long_side {long_side} px is below the {minimum} px the {BACKBONE} layers need")
        self.long_side = int(long_side)
        self.weights = weights_lib.resolve_weights(BACKBONE, weights, cache_dir=cache_dir)
        self.extractor = features.build_feature_extractor(
            BACKBONE, self.layers, weights=self.weights.path or "random", pooling=self.pooling,
            cache_dir=cache_dir)
        self._grams: dict[tuple, dict[str, tf.Tensor]] = {}

    @property
    def protocol(self) -> dict:
        """What the evaluator is, as JSON-ready values: store it beside the scores."""
        return {
            "backbone": BACKBONE,
            "weights": self.weights.description,
            "weights_source": self.weights.source,
            "pooling": self.pooling,
            "preprocessing": "caffe: RGB [0, 1] x 255 -> BGR minus the ImageNet mean (tfstyle.features)",
            "content_layer": CONTENT_LAYER,
            "style_layers": list(STYLE_LAYERS),
            "style_layer_weights": list(STYLE_LAYER_WEIGHTS),
            "long_side": self.long_side,
            "resize": "output to long_side (aspect kept), content to the output's size, each style to "
                      "long_side (aspect kept); bicubic, antialiased",
            "losses": "tfstyle.losses.content_loss; sum_l w_l tfstyle.losses.style_loss, blended Grams",
        }

    def _style_targets(self, style_images: Sequence[np.ndarray], blend: list[float]) -> dict[str, tf.Tensor]:
        """Blended Gram targets {layer: float32 [1, C, C]}; the last (styles, blend) is cached."""
        key = (tuple((image.shape, hash(image.tobytes())) for image in style_images), tuple(blend))
        if key not in self._grams:
            self._grams.clear()  # one entry: many outputs of one style are scored in a row
            resized = []
            for index, image in enumerate(style_images):
                style = images.resize_long_side(image, self.long_side)
                self._check_size(style.shape[0], style.shape[1], f"style image {index + 1}")
                resized.append(style[None])
            self._grams[key] = loss_targets.blended_grams(self.extractor, resized, blend, STYLE_LAYERS)
        return self._grams[key]

    def _check_size(self, height: int, width: int, what: str) -> None:
        try:
            features.check_image_size(height, width, BACKBONE, self.layers)
        except ValueError as error:
            raise ValueError(f"{what} at long side {self.long_side} px: {error}") from None

    def score(self, output: images.ImageLike, content: images.ImageLike, styles: Sequence[images.ImageLike],
              blend: Sequence[float] | None = None) -> StyleScores:
        """Scores one output against its content image and style image(s).

        Args:
            output: the stylised image: a path, uint8 [H, W, 3] or float32 [H, W, 3] in [0, 1].
            content: the content photo it was made from (same forms).
            styles: one or more style images (same forms).
            blend: one weight per style (normalised to sum 1); None or empty means equal weights.

        Returns:
            StyleScores.

        Raises:
            FileNotFoundError, ValueError: unreadable images, mismatched aspect ratios, a bad blend.
        """
        if isinstance(styles, str | os.PathLike):
            styles = [styles]
        blend = _check_blend(blend, len(styles))
        output_image = images.as_image(output, "output")
        content_image = images.as_image(content, "content")
        size = check_sizes(output_image.shape[:2], content_image.shape[:2], self.long_side)
        output_image = images.resize(output_image, size)
        content_image = images.resize(content_image, size)
        style_images = [images.as_image(style, f"style {index + 1}") for index, style in enumerate(styles)]
        grams = self._style_targets(style_images, blend)

        output_features = self.extractor(output_image[None], training=False)
        content_targets = loss_targets.content_targets(self.extractor, content_image[None], (CONTENT_LAYER,))
        content_loss = losses.content_loss(output_features[CONTENT_LAYER], content_targets[CONTENT_LAYER])
        per_layer = {layer: float(losses.style_loss(output_features[layer], grams[layer]))
                     for layer in STYLE_LAYERS}
        style_loss = sum(weight * per_layer[layer] for layer, weight in zip(STYLE_LAYERS, STYLE_LAYER_WEIGHTS,
                                                                               strict=True))
        return StyleScores(float(content_loss), float(style_loss), per_layer, size)

    def evaluate(self, output: images.ImageLike, content: images.ImageLike, styles: Sequence[images.ImageLike],
                 blend: Sequence[float] | None = None) -> dict:
        """`score` as a JSON-ready row: paths (None for arrays), blend, size and the losses."""
        if isinstance(styles, str | os.PathLike):
            styles = [styles]
        scores = self.score(output, content, styles, blend)

        def name(image):
            return os.fspath(image) if isinstance(image, str | os.PathLike) else None

        return {
            "output": name(output),
            "content": name(content),
            "styles": [name(style) for style in styles],
            "blend": _check_blend(blend, len(styles)),
            "size": {"height": scores.size[0], "width": scores.size[1]},
            "content_loss": scores.content_loss,
            "style_loss": scores.style_loss,
            "style_loss_per_layer": scores.style_loss_per_layer,
        }


def evaluate_stylization(output: images.ImageLike, content: images.ImageLike, styles: Sequence[images.ImageLike],
                         blend: Sequence[float] | None = None, *, weights: str = "auto",
                         long_side: int = LONG_SIDE, cache_dir: str | None = None,
                         pooling: str = POOLING) -> dict:
    """Content and style loss of one stylised image under the fixed evaluator.

    Builds a `StyleEvaluator` (use one directly to score many outputs without rebuilding VGG19).

    Args:
        output: the stylised image (path, uint8 or float32 [H, W, 3] in [0, 1]).
        content: its content photo; styles: its style image(s); blend: style weights.
        weights, long_side, cache_dir, pooling: see `StyleEvaluator` (keep them fixed to compare runs).

    Returns:
        {"output", "content", "styles", "blend", "size", "content_loss", "style_loss",
         "style_loss_per_layer", "evaluator": the evaluator's `protocol`}.
    """
    evaluator = StyleEvaluator(weights=weights, long_side=long_side, cache_dir=cache_dir, pooling=pooling)
    return {**evaluator.evaluate(output, content, styles, blend), "evaluator": evaluator.protocol}
