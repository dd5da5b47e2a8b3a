"""The style-transfer objective (Gatys et al. 2016, eq. 7 plus a total-variation prior):

    L_total(x) = alpha * L_content(x, p) + beta * sum_l w_l E_l(x, a) + gamma * TV(x)

with the per-layer terms from `tfstyle.losses`. Several style images a_k with blend weights b_k
(sum 1) are combined by blending their Gram matrices: sum_k b_k ||G - A_k||^2 equals
||G - sum_k b_k A_k||^2 up to a constant, so one blended target per layer gives the same
gradients at the cost of a single style term. Targets are computed once per run, never per step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import tensorflow as tf

from tfstyle import losses

LossFn = Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]]


def normalised(weights: Sequence[float], count: int) -> list[float]:
    """`weights` scaled to sum to 1; equal weights when empty."""
    if not weights:
        return [1.0 / count] * count
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def blended_grams(extractor, style_images: Sequence[tf.Tensor], blend: Sequence[float],
                  layers: Sequence[str]) -> dict[str, tf.Tensor]:
    """Blended Gram targets sum_k b_k G_l(a_k) for every style layer l.

    Args:
        extractor: model from `tfstyle.features.build_feature_extractor` (float [B,H,W,3] in [0,1] -> dict).
        style_images: float32 [1, H_k, W_k, 3] in [0, 1] each (sizes may differ).
        blend: one weight per style image, summing to 1.
        layers: style layer names.

    Returns:
        {layer: float32 [1, C, C]}.
    """
    targets: dict[str, tf.Tensor] = {}
    for image, weight in zip(style_images, blend, strict=True):
        outputs = extractor(image, training=False)
        for layer in layers:
            gram = weight * losses.gram_matrix(outputs[layer])
            targets[layer] = gram if layer not in targets else targets[layer] + gram
    return targets


def content_targets(extractor, content: tf.Tensor, layers: Sequence[str]) -> dict[str, tf.Tensor]:
    """Feature maps of the content batch float32 [B, H, W, 3] in [0, 1]: {layer: [B, h, w, C]} (float32)."""
    outputs = extractor(content, training=False)
    return {layer: tf.cast(outputs[layer], tf.float32) for layer in layers}


def make_loss_fn(
    extractor,
    content_features: Mapping[str, tf.Tensor],
    style_grams: Mapping[str, tf.Tensor],
    style_layer_weights: Mapping[str, float],
    content_weight: float,
    style_weight: float,
    tv_weight: float,
) -> LossFn:
    """Builds loss_fn(x) -> (total, {"content", "style", "tv"}) for x float32 [B, H, W, 3] in [0, 1].

    Content loss is averaged over the content layers; the style loss is sum_l w_l E_l with the
    given layer weights (normally summing to 1). Everything is float32 scalars, averaged over B.

    Args:
        extractor: feature model returning at least the content and style layers.
        content_features: {layer: float32 [B, h, w, C]} targets (from `content_targets`).
        style_grams: {layer: float32 [B or 1, C, C]} targets (from `blended_grams`).
        style_layer_weights: {layer: w_l}.
        content_weight, style_weight, tv_weight: alpha, beta, gamma.
    """
    content_layers = list(content_features)
    style_layers = list(style_grams)

    def loss_fn(x: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        outputs = extractor(x, training=False)
        content = tf.add_n([losses.content_loss(outputs[layer], content_features[layer])
                            for layer in content_layers]) / float(len(content_layers))
        style = tf.add_n([style_layer_weights[layer] * losses.style_loss(outputs[layer], style_grams[layer])
                          for layer in style_layers])
        tv = losses.total_variation_loss(x)
        total = content_weight * content + style_weight * style + tv_weight * tv
        return total, {"content": content, "style": style, "tv": tv}

    return loss_fn
