"""Colour control for style transfer (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving Color in
Neural Artistic Style Transfer" / "Controlling Perceptual Factors in Neural Style Transfer", section 5).

Two ways to keep the content photo's colours:

* `histogram`: before optimising, give the style image the content's colour statistics with a linear
  map x' = A (x - mu_s) + mu_c that matches mean and covariance (A = Sigma_c^1/2 Sigma_s^-1/2, the
  symmetric "image analogies" square roots the paper prefers to the Cholesky variant).
* `luminance`: transfer style on luminance only. Content and style are reduced to their YIQ luma Y
  (the style's Y is first matched to the content's mean and standard deviation), the optimisation
  runs on grey images, and the result's Y is recombined with the content's I and Q channels.

All functions take and return float32 [H, W, 3] or [B, H, W, 3] RGB in [0, 1]. Used by the optimisation path
(`tfstyle.optimize`, before and after optimising) and the feed-forward networks (`tfstyle.fast`, on their output).
"""

from __future__ import annotations

import tensorflow as tf

from tfstyle import images


def _mean_and_covariance(pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """pixels: float32 [N, 3] -> (mean [3], covariance [3, 3])."""
    mean = tf.reduce_mean(pixels, axis=0)
    centred = pixels - mean
    covariance = tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(pixels)[0], tf.float32)
    return mean, covariance


def _matrix_power(matrix: tf.Tensor, power: float, eps: float = 1e-5) -> tf.Tensor:
    """Symmetric positive semi-definite [3, 3] -> matrix ** power via eigendecomposition (eigenvalues floored)."""
    values, vectors = tf.linalg.eigh(matrix)
    values = tf.maximum(values, eps)
    return tf.matmul(vectors * tf.pow(values, power)[None, :], vectors, transpose_b=True)


def match_color(source, reference) -> tf.Tensor:
    """Gives `source` the mean and covariance of `reference`'s RGB colours (linear colour transfer).

    x' = Sigma_r^1/2 Sigma_s^-1/2 (x - mu_s) + mu_r, applied to every pixel of `source`, then clipped.

    Args:
        source: float32 [H, W, 3] in [0, 1], the image to recolour (the style image).
        reference: float32 [H', W', 3] in [0, 1], whose colours to take (the content image).

    Returns:
        float32 [H, W, 3] in [0, 1].
    """
    source = tf.convert_to_tensor(source, tf.float32)
    reference = tf.convert_to_tensor(reference, tf.float32)
    source_pixels = tf.reshape(source, [-1, 3])
    mean_s, cov_s = _mean_and_covariance(source_pixels)
    mean_r, cov_r = _mean_and_covariance(tf.reshape(reference, [-1, 3]))
    transform = tf.matmul(_matrix_power(cov_r, 0.5), _matrix_power(cov_s, -0.5))
    matched = tf.matmul(source_pixels - mean_s, transform, transpose_b=True) + mean_r
    return tf.clip_by_value(tf.reshape(matched, tf.shape(source)), 0.0, 1.0)


def luminance(image) -> tf.Tensor:
    """RGB [..., 3] in [0, 1] -> its YIQ luma Y repeated on 3 channels (a grey RGB image in [0, 1])."""
    y = images.rgb_to_yiq(image)[..., :1]
    return tf.clip_by_value(tf.concat([y, y, y], axis=-1), 0.0, 1.0)


def match_luminance(source, reference) -> tf.Tensor:
    """Luminance matching: Y_s' = (sigma_r / sigma_s) (Y_s - mu_s) + mu_r, on grey images.

    Args:
        source: float32 [H, W, 3] in [0, 1], the style image.
        reference: float32 [H', W', 3] in [0, 1], the content image.

    Returns:
        float32 [H, W, 3] in [0, 1]: the source's luma, matched, repeated on 3 channels.
    """
    y_source = luminance(source)[..., 0]
    y_reference = luminance(reference)[..., 0]
    mean_s, std_s = tf.reduce_mean(y_source), tf.math.reduce_std(y_source)
    mean_r, std_r = tf.reduce_mean(y_reference), tf.math.reduce_std(y_reference)
    matched = (y_source - mean_s) * (std_r / tf.maximum(std_s, 1e-6)) + mean_r
    matched = tf.clip_by_value(matched, 0.0, 1.0)[..., None]
    return tf.concat([matched, matched, matched], axis=-1)


def recombine_luminance(stylised, content) -> tf.Tensor:
    """Takes the luma Y of `stylised` and the chroma I, Q of `content`; back to RGB, clipped.

    Args:
        stylised: float32 [..., H, W, 3] in [0, 1] (the grey result of luminance-only transfer).
        content: float32 [..., H, W, 3] in [0, 1], same size.

    Returns:
        float32 [..., H, W, 3] in [0, 1].
    """
    y = images.rgb_to_yiq(stylised)[..., :1]
    iq = images.rgb_to_yiq(content)[..., 1:]
    return tf.clip_by_value(images.yiq_to_rgb(tf.concat([y, iq], axis=-1)), 0.0, 1.0)
