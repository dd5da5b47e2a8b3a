"""The targets of the style-transfer losses, computed once per run: content features and blended Grams.

Beside `tfstyle.losses`: the losses compare an image's features with these targets. Used by the
optimiser (`tfstyle.optimize.objective`) and the fixed evaluator (`tfstyle.evaluate.stylization`),
so both blend several styles by the same rule. The extractor is passed in (any model mapping
float32 [B, H, W, 3] in [0, 1] to {layer: [B, h, w, C]}, normally `tfstyle.features`'), and nothing
here builds one.

Several style images s with blend weights w_s (sum 1) are combined by blending their Gram matrices,
per style layer l:

    G_blend^l = sum_s w_s G^l(style_s)

Since sum_s w_s ||G - G_s||^2 = ||G - sum_s w_s G_s||^2 + const (for sum_s w_s = 1), one blended
target per layer gives the same gradients as one style term per style, at the cost of one.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfstyle import losses

STYLE_LOSSES = ("gram", "mean_cov")


def normalised(weights: Sequence[float], count: int) -> list[float]:
    """`weights` scaled to sum to 1 (w_s / sum_t w_t); `count` equal weights 1 / count when empty.

    Args:
        weights: non-negative weights, not all zero (the caller validates); or empty.
        count: how many weights there should be (used only when `weights` is empty).
    """
    if not weights:
        return [1.0 / count] * count
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def blended_grams(extractor, style_images: Sequence[tf.Tensor], blend: Sequence[float],
                  layers: Sequence[str]) -> dict[str, tf.Tensor]:
    """Blended Gram targets G_blend^l = sum_s w_s G^l(style_s) for every style layer l.

    G^l is `losses.gram_matrix` (size-normalised, so styles of different sizes blend fairly).

    Args:
        extractor: float32 [1, H, W, 3] in [0, 1] -> {layer: [1, h, w, C]} (any float dtype).
        style_images: float32 [1, H_s, W_s, 3] in [0, 1] each (sizes may differ).
        blend: one weight w_s per style image, summing to 1 (see `normalised`).
        layers: style layer names.

    Returns:
        {layer: float32 [1, C, C]}, symmetric.
    """
    return _blended(extractor, style_images, blend, layers, {"gram": losses.gram_matrix})["gram"]


def _blended(extractor, style_images, blend, layers, statistics) -> dict[str, dict[str, tf.Tensor]]:
    """sum_s w_s f(features_l(style_s)) for each named statistic f and layer l, one extractor pass per style.

    Returns:
        {statistic name: {layer: float32 tensor}}.
    """
    sums: dict[str, dict[str, tf.Tensor]] = {name: {} for name in statistics}
    for image, weight in zip(style_images, blend, strict=True):
        outputs = extractor(image, training=False)
        for name, statistic in statistics.items():
            for layer in layers:
                value = weight * statistic(outputs[layer])
                sums[name][layer] = value if layer not in sums[name] else sums[name][layer] + value
    return sums


def blended_moments(extractor, style_images: Sequence[tf.Tensor], blend: Sequence[float],
                    layers: Sequence[str]) -> dict[str, dict[str, tf.Tensor]]:
    """Targets of `losses.mean_cov_style_loss`: the blend's mean and covariance square root per layer.

    The styles blend as one mixture, as the Grams do: mu = sum_s w_s mu_s and the second moment
    G_blend = sum_s w_s G_s, so Sigma = G_blend - mu mu^T (`losses.covariance_from_moments`).
    Sigma^1/2 is taken once here (`losses.psd_sqrt`), never per step.

    Args:
        extractor, style_images, blend, layers: as for `blended_grams`.

    Returns:
        {layer: {"mean": float32 [1, C], "cov_sqrt": float32 [1, C, C]}}.
    """
    moments = _blended(extractor, style_images, blend, layers,
                       {"mean": losses.feature_mean, "gram": losses.gram_matrix})
    means, grams = moments["mean"], moments["gram"]
    return {layer: {"mean": means[layer],
                    "cov_sqrt": losses.psd_sqrt(losses.covariance_from_moments(means[layer], grams[layer]))}
            for layer in layers}


def style_targets(extractor, style_images: Sequence[tf.Tensor], blend: Sequence[float], layers: Sequence[str],
                  style_loss: str = "gram") -> dict:
    """The style targets that `style_loss` ("gram" or "mean_cov") compares with: `blended_grams` or
    `blended_moments` (same arguments)."""
    if style_loss == "gram":
        return blended_grams(extractor, style_images, blend, layers)
    if style_loss == "mean_cov":
        return blended_moments(extractor, style_images, blend, layers)
    raise ValueError(f"unknown style loss {style_loss!r}: use one of {', '.join(STYLE_LOSSES)}")


def guided_targets(region_grams: Sequence[dict[str, tf.Tensor]], masks, layer_sizes: dict[str, tuple[int, int]]
                   ) -> dict[str, dict[str, tf.Tensor]]:
    """Targets of `losses.guided_style_loss`: one style Gram per region, and the regions at each layer's size.

    Args:
        region_grams: K dicts {layer: float32 [1, C, C]} (`blended_grams` of the style that paints region k).
        masks: float32 [1, H, W, K] in [0, 1], the regions at the image's size (`tfstyle.optimize.masks`).
        layer_sizes: {layer: (h, w)}, the feature maps' sizes for that image.

    Returns:
        {layer: {"gram": float32 [1, K, C, C], "mask": float32 [1, h, w, K]}}; the masks are area-averaged
        down to each layer, so a pixel's share of a region is kept.
    """
    masks = tf.convert_to_tensor(masks, tf.float32)
    return {layer: {"gram": tf.stack([grams[layer][0] for grams in region_grams])[None],
                    "mask": tf.image.resize(masks, size, method="area")}
            for layer, size in layer_sizes.items()}


def content_targets(extractor, content: tf.Tensor, layers: Sequence[str]) -> dict[str, tf.Tensor]:
    """Content targets P^l: the features of the content batch, cast to float32.

    Args:
        extractor: float32 [B, H, W, 3] in [0, 1] -> {layer: [B, h, w, C]} (float16 under mixed precision).
        content: float32 [B, H, W, 3] in [0, 1].
        layers: content layer names.

    Returns:
        {layer: float32 [B, h, w, C]}.
    """
    outputs = extractor(content, training=False)
    return {layer: tf.cast(outputs[layer], tf.float32) for layer in layers}
