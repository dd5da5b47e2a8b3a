"""The style-transfer objective (Gatys et al. 2016, eq. 7 plus a total-variation prior):

    L_total(x) = alpha * L_content(x, p) + beta * sum_l w_l E_l(x, a) + gamma * TV(x)
                 [+ lambda * L_temporal(x, w, c)  for a video frame, Ruder et al. 2016]

with the per-layer terms from `tfstyle.losses`. The targets (content features p, blended Gram
matrices sum_k b_k A_k of the style images a_k) come from `tfstyle.loss_targets`, computed once per
run, never per step; `normalised`, `blended_grams` and `content_targets` are imported from there (the
evaluator uses the same functions) and stay reachable here as `objective.<name>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import tensorflow as tf

from tfstyle import losses
from tfstyle.loss_targets import STYLE_LOSSES, blended_grams, content_targets, normalised, style_targets

__all__ = ["STRENGTH_DECADES", "STRENGTH_REFERENCE", "STYLE_LOSSES", "LossFn", "blended_grams", "content_targets",
           "controlled_style_weight", "make_loss_fn", "normalised", "strength_multiplier", "strength_target",
           "style_targets", "style_weight_for_strength"]

# k below: at strength 0.5 the bundled pair (astronaut, Starry Night; 256 px, Gram loss, the default layers)
# gets the default style weight 5e-3 (float32: content scale m = 1.059e6, start style loss S0 = 1.193e10 there;
# 5e-3 * 1.193e10 / 1.059e6 = 56.3), so the dial's middle is the default look.
STRENGTH_REFERENCE = 56.3
# r(s) = 10^(-STRENGTH_DECADES s): the share of the photo's own style loss that strength s asks the output to keep
# (1 at s = 0, 0.1 at the middle, 0.01 at s = 1): a quarter turn divides it by 3.2.
STRENGTH_DECADES = 2.0
# The multiplier beta may move by at most this factor (either way) per control step.
MAX_CONTROL_STEP = 10.0

LossFn = Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]]


def make_loss_fn(
    extractor,
    content_features: Mapping[str, tf.Tensor],
    style_grams: Mapping[str, tf.Tensor],
    style_layer_weights: Mapping[str, float],
    content_weight: float,
    style_weight: float,
    tv_weight: float,
    style_loss: str = "gram",
    temporal: tuple[tf.Tensor, tf.Tensor] | None = None,
    temporal_weight: float = 0.0,
) -> LossFn:
    """Builds loss_fn(x) -> (total, {"content", "style", "tv"}) for x float32 [B, H, W, 3] in [0, 1].

    Content loss is averaged over the content layers; the style loss is sum_l w_l E_l with the
    given layer weights (normally summing to 1). Everything is float32 scalars, averaged over B.

    Args:
        extractor: feature model returning at least the content and style layers.
        content_features: {layer: float32 [B, h, w, C]} targets (from `content_targets`).
        style_grams: the style targets from `style_targets(..., style_loss)`: for "gram",
            {layer: float32 [B or 1, C, C]} (`blended_grams`), or with spatial control {layer: {"gram":
            [B or 1, K, C, C], "mask": [B or 1, h, w, K]}} (`guided_targets`); for "mean_cov",
            {layer: {"mean": [B or 1, C], "cov_sqrt": [B or 1, C, C]}} (`blended_moments`).
        style_layer_weights: {layer: w_l}.
        content_weight, style_weight, tv_weight: alpha, beta, gamma.
        style_loss: "gram" (E_l = `losses.style_loss`, Gatys et al.) or "mean_cov"
            (E_l = `losses.mean_cov_style_loss`, 2-Wasserstein between Gaussians).
        temporal: for a video frame, (w, c): the previous output warped onto this frame, float32
            [B, H, W, 3] in [0, 1], and its per-pixel weights float32 [B, H, W, 1] in [0, 1]; adds
            `temporal_weight` * `losses.temporal_loss` and reports it as "temporal". None: no such term.
    """
    if style_loss not in STYLE_LOSSES:
        raise ValueError(f"unknown style loss {style_loss!r}: use one of {', '.join(STYLE_LOSSES)}")

    def layer_style_loss(features, target):
        if style_loss == "gram" and isinstance(target, Mapping):  # spatial control: a style per region
            return losses.guided_style_loss(features, target["gram"], target["mask"])
        if style_loss == "gram":
            return losses.style_loss(features, target)
        return losses.mean_cov_style_loss(features, target["mean"], target["cov_sqrt"])

    content_layers = list(content_features)
    style_layers = list(style_grams)

    def loss_fn(x: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        outputs = extractor(x, training=False)
        content = tf.add_n([losses.content_loss(outputs[layer], content_features[layer])
                            for layer in content_layers]) / float(len(content_layers))
        style = tf.add_n([style_layer_weights[layer] * layer_style_loss(outputs[layer], style_grams[layer])
                          for layer in style_layers])
        tv = losses.total_variation_loss(x)
        total = content_weight * content + style_weight * style + tv_weight * tv
        terms = {"content": content, "style": style, "tv": tv}
        if temporal is not None:
            terms["temporal"] = losses.temporal_loss(x, *temporal)
            total = total + temporal_weight * terms["temporal"]
        return total, terms

    return loss_fn


def strength_multiplier(strength: float) -> float:
    """w(s): the dial's curve, 0 at s = 0, 1 at s = 0.5, x10 per quarter turn (0.1 at 0.25, 10 at 0.75, 100 at 1):
    a logarithmic dial, as the useful style weights span decades."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"--strength must be in [0, 1], got {strength}")
    return 0.0 if strength == 0 else 10.0 ** (4.0 * (strength - 0.5))


def style_weight_for_strength(strength: float, content_weight: float, content_scale: float,
                              start_style_loss: float) -> float:
    """The style weight beta that `--strength` s starts one content/style pair from (the controller,
    `controlled_style_weight`, then moves it until the style loss reaches `strength_target`):

        beta = k w(s) alpha m / S0

    i.e. the objective alpha L_content + beta L_style with both terms made relative to the pair's own scale:
    L_content / m with m = mean_l mean(P_l^2) (the content features' mean square, so the content loss is a
    relative error), and L_style / S0 with S0 = L_style(photo) (the style loss the photo starts from, so the
    style term starts at the same value for every pair). k = `STRENGTH_REFERENCE`, w = `strength_multiplier`.
    A painting far from the photo (large S0) then gets a smaller beta, one close to it a larger one, and one
    strength means the same relative trade on every pair.

    Args:
        strength: s in [0, 1]; content_weight: alpha; content_scale: m (> 0); start_style_loss: S0 (> 0).
    """
    if start_style_loss <= 0 or content_scale <= 0:
        return 0.0  # the photo already has the style (or no features): nothing to weigh
    return STRENGTH_REFERENCE * strength_multiplier(strength) * content_weight * content_scale / start_style_loss


def strength_target(strength: float) -> float:
    """r(s) = 10^(-2 s): the style loss the output should reach under `--strength` s, as a fraction of the
    style loss of the photo itself (the ratio the fixed evaluator reports as "how far towards the painting").
    1 at s = 0 (the photo), 0.1 at s = 0.5, 0.01 at s = 1."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"--strength must be in [0, 1], got {strength}")
    return 10.0 ** (-STRENGTH_DECADES * strength)


def controlled_style_weight(style_weight: float, ratio: float, target: float, gain: float = 1.0) -> float:
    """One step of the strength controller: the style weight beta for the next chunk of iterations.

    `--strength` asks for a constraint rather than a weight: keep the content, subject to
    L_style(x) <= r(s) L_style(photo). beta is that constraint's Lagrange multiplier, found by multiplicative
    dual ascent between chunks (as GECO does for VAEs, Rezende & Viola 2018, "Taming VAEs"):

        log beta <- log beta + gain * log(ratio / target),   the step clipped to a factor of `MAX_CONTROL_STEP`

    so a pair still above its target (a painting far from the photo, or one the solver reaches slowly) gets a
    larger beta, and one below it a smaller one, until the ratio sits at the target: the same for every pair.

    Args:
        style_weight: beta now (> 0). ratio: L_style(x) / L_style(photo) now (>= 0). target: r(s) in (0, 1].
        gain: the step's exponent (1: jump to where a linear response would land).
    """
    if style_weight <= 0 or target <= 0:
        return style_weight
    step = (max(ratio, 1e-12) / target) ** gain
    return style_weight * min(max(step, 1.0 / MAX_CONTROL_STEP), MAX_CONTROL_STEP)
