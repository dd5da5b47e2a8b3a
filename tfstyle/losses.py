"""Loss functions for both paths, as pure functions of tensors.

Style transfer (Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional Neural
Networks"): `gram_matrix`, `content_loss`, `style_loss`, `total_variation_loss`; and the mean +
covariance alternative to the Gram loss, `mean_cov_style_loss` (2-Wasserstein between Gaussians) with
`feature_mean`, `covariance_from_moments`, `psd_sqrt`; for video, Ruder et al.'s `temporal_loss`. They
return scalars and compute in float32.

CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): `lsgan_*`, `vanilla_*`, `cycle_loss`, `identity_loss`. They return
*per-example* losses of shape [B] so that a distributed trainer can average them over the
global batch (`tf.nn.compute_average_loss`); the caller applies the weights (lambda).
"""

from __future__ import annotations

import tensorflow as tf


def _f32(x) -> tf.Tensor:
    return tf.cast(x, tf.float32)


# ---------------------------------------------------------------------------------------------
# Style transfer
# ---------------------------------------------------------------------------------------------


def gram_matrix(features) -> tf.Tensor:
    """Gram matrix of feature maps, normalised by the number of positions.

    G_ij = (1 / (H W)) * sum_k F_ik F_jk, with F the [H W, C] reshaped features (Gatys et al.
    eq. 3, plus the 1 / (H W) = 1 / M_l normalisation so that images of any size compare).

    Args:
        features: float [B, H, W, C] (any float dtype; computed in float32).

    Returns:
        float32 [B, C, C], symmetric.
    """
    features = _f32(features)
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], tf.float32)
    return tf.einsum("bhwi,bhwj->bij", features, features) / positions


def content_loss(features, target) -> tf.Tensor:
    """Content loss: mean squared error between feature maps.

    L_content = (1 / (N M)) * sum_ij (F_ij - P_ij)^2, i.e. Gatys et al. eq. 1 with the
    1/2 factor replaced by a mean over the N channels x M positions (so the weight does not
    depend on image size).

    Args:
        features: float [B, H, W, C], features of the image being optimised.
        target: float [B or 1, H, W, C], features of the content image (broadcast over B).

    Returns:
        float32 scalar, mean over batch too.
    """
    return tf.reduce_mean(tf.square(_f32(features) - _f32(target)))


def style_loss(features, target_gram) -> tf.Tensor:
    """Style loss of one layer: squared Frobenius distance between Gram matrices.

    E_l = (1 / (4 N_l^2)) * sum_ij (G_ij - A_ij)^2 with G and A already divided by M_l (see
    `gram_matrix`); this equals Gatys et al. eq. 4, 1 / (4 N^2 M^2) sum (G - A)^2, on the
    unnormalised Grams. Summing layers with weights w_l (eq. 5) is the caller's job.

    Args:
        features: float [B, H, W, C], features of the image being optimised.
        target_gram: float32 [B or 1, C, C], Gram matrix of the style (broadcast over B).

    Returns:
        float32 scalar, mean over batch.
    """
    return gram_style_loss(gram_matrix(features), target_gram)


def gram_style_loss(gram, target_gram) -> tf.Tensor:
    """`style_loss` from a Gram matrix already computed: E_l = (1 / (4 N_l^2)) sum_ij (G_ij - A_ij)^2.

    Args:
        gram: float32 [B, C, C], normalised by the positions (`gram_matrix`, or a sum over tiles divided by
            the positions of the whole image, `tfstyle.optimize.tiling`).
        target_gram: float32 [B or 1, C, C].

    Returns:
        float32 scalar, mean over batch.
    """
    gram = _f32(gram)
    channels = tf.cast(tf.shape(gram)[-1], tf.float32)
    per_example = tf.reduce_sum(tf.square(gram - _f32(target_gram)), axis=[1, 2]) / (4.0 * channels**2)
    return tf.reduce_mean(per_example)


def guided_gram_matrix(features, mask, eps: float = 1e-8) -> tf.Tensor:
    """Gram matrix of the features inside a soft region (Gatys et al. 2017, "Controlling Perceptual Factors in
    Neural Style Transfer", guided Gram matrices), normalised by the region's size:

        G_ij = sum_x m(x) F_i(x) F_j(x) / sum_x m(x)

    so that a full mask (m = 1) gives `gram_matrix` and a region compares with a whole style image's Gram.

    Args:
        features: float [B, H, W, C].
        mask: float [B or 1, H, W, K] in [0, 1], K regions at the features' resolution.

    Returns:
        float32 [B, K, C, C] (an empty region gives zeros).
    """
    features = _f32(features)
    mask = _f32(mask) * tf.ones_like(features[..., :1])  # [B, H, W, K]: einsum does not broadcast the batch
    area = tf.reduce_sum(mask, axis=[1, 2])  # [B, K]
    weighted = tf.einsum("bhwk,bhwi,bhwj->bkij", mask, features, features)
    return weighted / tf.maximum(area, eps)[:, :, None, None]


def guided_style_loss(features, target_grams, mask) -> tf.Tensor:
    """Style loss of one layer with one style per region (Gatys et al. 2017, eq. 2 with guided Grams):

        E_l = sum_k a_k ||G_k - A_k||^2 / (4 N_l^2),   a_k = mean_x m_k(x)

    with G_k = `guided_gram_matrix` of region k, A_k the Gram of the k-th style image, and a_k the region's
    share of the image, so one full region equals `style_loss` and small regions do not outweigh large ones.

    Args:
        features: float [B, H, W, C].
        target_grams: float32 [B or 1, K, C, C], one style Gram per region.
        mask: float [B or 1, H, W, K] in [0, 1] at the features' resolution.

    Returns:
        float32 scalar, mean over batch.
    """
    grams = guided_gram_matrix(features, mask)
    channels = tf.cast(tf.shape(grams)[-1], tf.float32)
    share = tf.reduce_mean(_f32(mask), axis=[1, 2])  # [B or 1, K]
    per_region = tf.reduce_sum(tf.square(grams - _f32(target_grams)), axis=[2, 3]) / (4.0 * channels**2)
    return tf.reduce_mean(tf.reduce_sum(share * per_region, axis=1))


def feature_mean(features) -> tf.Tensor:
    """Mean of each channel over positions: mu_i = (1 / (H W)) sum_k F_ik.

    Args:
        features: float [B, H, W, C] (any float dtype; computed in float32).

    Returns:
        float32 [B, C].
    """
    return tf.reduce_mean(_f32(features), axis=[1, 2])


def feature_std(features, eps: float = 1e-5) -> tf.Tensor:
    """Standard deviation of each channel over positions: sigma_i = sqrt((1 / (H W)) sum_k (F_ik - mu_i)^2 + eps).

    The eps keeps the gradient finite on a constant channel (Huang & Belongie 2017's AdaIN uses the same).

    Args:
        features: float [B, H, W, C] (any float dtype; computed in float32).
        eps: added to the variance.

    Returns:
        float32 [B, C], > 0.
    """
    _, variance = tf.nn.moments(_f32(features), axes=[1, 2])
    return tf.sqrt(variance + eps)


def mean_std_style_loss(features, target_mean, target_std) -> tf.Tensor:
    """Style loss of one layer as the distance of channel means and standard deviations (Huang & Belongie 2017,
    "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization", eq. 12, one layer):

        L_s = (1 / C) ||mu(F) - mu_t||^2 + (1 / C) ||sigma(F) - sigma_t||^2

    (their squared L2 norms divided by the channel count, so that layers of different widths weigh alike).

    Args:
        features: float [B, H, W, C].
        target_mean, target_std: float32 [B or 1, C] (`feature_mean`, `feature_std` of the style).

    Returns:
        float32 scalar, mean over the batch.
    """
    mean_error = tf.reduce_mean(tf.square(feature_mean(features) - _f32(target_mean)), axis=-1)
    std_error = tf.reduce_mean(tf.square(feature_std(features) - _f32(target_std)), axis=-1)
    return tf.reduce_mean(mean_error + std_error)


def covariance_from_moments(mean, gram) -> tf.Tensor:
    """Channel covariance Sigma = G - mu mu^T from the first moment and the size-normalised Gram.

    `gram_matrix` is the uncentred second moment (1 / (H W)) F^T F, so this is the (biased) covariance
    of the features over positions. Taking moments rather than features lets several styles blend as
    one mixture (`tfstyle.loss_targets.blended_moments`).

    Args:
        mean: float32 [B, C] (`feature_mean`); gram: float32 [B, C, C] (`gram_matrix`).

    Returns:
        float32 [B, C, C], symmetric positive semi-definite up to round-off.
    """
    mean = _f32(mean)
    return _f32(gram) - mean[:, :, None] * mean[:, None, :]


def psd_sqrt(matrix, eps: float = 1e-5) -> tf.Tensor:
    """Square root of a symmetric positive semi-definite matrix: V diag(sqrt(max(lambda, eps))) V^T.

    For the style targets, computed once per run (its gradient is never needed).

    Args:
        matrix: float [..., C, C], symmetric.
        eps: floor of the eigenvalues (round-off makes some slightly negative).

    Returns:
        float32 [..., C, C], symmetric; its square is `matrix` for eigenvalues above `eps`.
    """
    values, vectors = tf.linalg.eigh(_f32(matrix))
    roots = tf.sqrt(tf.maximum(values, eps))
    return tf.matmul(vectors * roots[..., None, :], vectors, transpose_b=True)


def mean_cov_style_loss(features, target_mean, target_cov_sqrt, eps: float = 1e-5) -> tf.Tensor:
    """Style loss of one layer as the squared 2-Wasserstein distance between Gaussians, per channel.

    The features of the image, N(mu, Sigma) over positions, against the style's N(mu_s, Sigma_s)
    (Dowson & Landau 1982; as a style loss, crowsonkb's style-transfer-pytorch):

        W2^2 = ||mu - mu_s||^2 + tr(Sigma) + tr(Sigma_s) - 2 tr((Sigma_s^1/2 Sigma Sigma_s^1/2)^1/2)

    divided by C so that layers of different widths weigh alike. Unlike a Gram (second-moment)
    loss, it matches the mean and the covariance separately, and it grows with the square of the
    features, not their fourth power. The last trace is sum_i sqrt(lambda_i) over the eigenvalues of
    the symmetric product, floored at `eps`; only eigenvalues are taken (`eigvalsh`), whose gradient
    needs no eigenvector differences and so stays finite with repeated eigenvalues.

    Args:
        features: float [B, H, W, C], features of the image being optimised.
        target_mean: float32 [B or 1, C], mu_s (`feature_mean` of the style, or a blend).
        target_cov_sqrt: float32 [B or 1, C, C], Sigma_s^1/2 (`psd_sqrt` of the style's covariance).
        eps: eigenvalue floor.

    Returns:
        float32 scalar, mean over the batch; >= 0 up to round-off, 0 when the statistics match.
    """
    features = _f32(features)
    mean = feature_mean(features)
    cov = covariance_from_moments(mean, gram_matrix(features))
    root = _f32(target_cov_sqrt)
    channels = tf.cast(tf.shape(cov)[-1], tf.float32)
    root = tf.broadcast_to(root, tf.shape(cov))
    product = tf.matmul(tf.matmul(root, cov), root)
    product = 0.5 * (product + tf.linalg.matrix_transpose(product))  # symmetric for eigvalsh
    cross = tf.reduce_sum(tf.sqrt(tf.maximum(tf.linalg.eigvalsh(product), eps)), axis=-1)
    mean_term = tf.reduce_sum(tf.square(mean - _f32(target_mean)), axis=-1)
    trace_term = tf.linalg.trace(cov) + tf.reduce_sum(tf.square(root), axis=[-2, -1])
    return tf.reduce_mean((mean_term + trace_term - 2.0 * cross) / channels)


def total_variation_loss(image) -> tf.Tensor:
    """Anisotropic total variation (L1 of neighbour differences), mean per pixel.

    TV(x) = (1 / (H W)) * sum_{i,j,c} |x_{i+1,j,c} - x_{i,j,c}| + |x_{i,j+1,c} - x_{i,j,c}|,
    averaged over the batch. Zero on a flat image. (Gatys et al. do not use it; Johnson et al.
    2016 do, as a smoothness prior.)

    Args:
        image: float [B, H, W, C], usually [0, 1].

    Returns:
        float32 scalar.
    """
    image = _f32(image)
    shape = tf.shape(image)
    pixels = tf.cast(shape[1] * shape[2], tf.float32)
    down = tf.reduce_sum(tf.abs(image[:, 1:, :, :] - image[:, :-1, :, :]), axis=[1, 2, 3])
    right = tf.reduce_sum(tf.abs(image[:, :, 1:, :] - image[:, :, :-1, :]), axis=[1, 2, 3])
    return tf.reduce_mean((down + right) / pixels)


def temporal_loss(image, previous, weights) -> tf.Tensor:
    """Short-term temporal loss of video style transfer (Ruder, Dosovitskiy & Brox 2016, eq. 7):

        L_temporal(x, w, c) = (1 / D) * sum_k c_k (x_k - w_k)^2,   D = H W C,

    with w the previous stylised frame warped onto this one by the optical flow and c the per-pixel
    weights (1 where the flow is reliable, 0 where the pixel was occluded); averaged over the batch.

    Args:
        image: float [B, H, W, C], the frame being optimised, [0, 1].
        previous: float [B, H, W, C], the warped previous output, same range.
        weights: float [B, H, W, 1] (or [B, H, W, C]) in [0, 1].

    Returns:
        float32 scalar, in squared [0, 1] units.
    """
    # [B, H, W, 1] weights broadcast over the channels, so the mean divides by B H W C.
    return tf.reduce_mean(_f32(weights) * tf.square(_f32(image) - _f32(previous)))


# ---------------------------------------------------------------------------------------------
# CycleGAN: per-example losses, shape [B]
# ---------------------------------------------------------------------------------------------


def _per_example_mean(x) -> tf.Tensor:
    """Mean over every axis but the first: [B, ...] -> [B]."""
    x = _f32(x)
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def lsgan_generator_loss(fake_logits) -> tf.Tensor:
    """Least-squares GAN generator loss (Mao et al. 2017), as the CycleGAN paper uses it.

    L_G = E[(D(G(x)) - 1)^2]: the generator wants the discriminator to output 1 on fakes.

    Args:
        fake_logits: float [B, h, w, 1], raw (linear) PatchGAN outputs on generated images.

    Returns:
        float32 [B]: mean over the patch grid.
    """
    return _per_example_mean(tf.square(_f32(fake_logits) - 1.0))


def lsgan_discriminator_loss(real_logits, fake_logits) -> tf.Tensor:
    """Least-squares GAN discriminator loss.

    L_D = 0.5 * (E[(D(y) - 1)^2] + E[D(G(x))^2]); the 0.5 halves D's learning speed relative to
    G as in the CycleGAN paper (section 4, "we divide the objective by 2 while optimizing D").

    Args:
        real_logits, fake_logits: float [B, h, w, 1], raw PatchGAN outputs.

    Returns:
        float32 [B].
    """
    real = _per_example_mean(tf.square(_f32(real_logits) - 1.0))
    fake = _per_example_mean(tf.square(_f32(fake_logits)))
    return 0.5 * (real + fake)


def vanilla_generator_loss(fake_logits) -> tf.Tensor:
    """Non-saturating GAN generator loss (Goodfellow et al. 2014): E[-log sigmoid(D(G(x)))].

    Args:
        fake_logits: float [B, h, w, 1], raw discriminator logits.

    Returns:
        float32 [B].
    """
    fake_logits = _f32(fake_logits)
    return _per_example_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(fake_logits), logits=fake_logits)
    )


def vanilla_discriminator_loss(real_logits, fake_logits) -> tf.Tensor:
    """Binary cross-entropy discriminator loss, halved as in CycleGAN:
    0.5 * (E[-log sigmoid(D(y))] + E[-log(1 - sigmoid(D(G(x))))]).

    Returns:
        float32 [B].
    """
    real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
    real = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(real_logits), logits=real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(fake_logits), logits=fake_logits)
    return 0.5 * (_per_example_mean(real) + _per_example_mean(fake))


def wgan_generator_loss(fake_logits) -> tf.Tensor:
    """Wasserstein GAN generator loss (Arjovsky et al. 2017): L_G = -E[D(G(x))] (the critic's raw output).

    Returns:
        float32 [B].
    """
    return -_per_example_mean(_f32(fake_logits))


def wgan_discriminator_loss(real_logits, fake_logits) -> tf.Tensor:
    """Wasserstein critic loss, halved as the reference halves every D loss: 0.5 * (E[D(G(x))] - E[D(y)]).

    This is what the reference's `--gan_mode wgangp` trains CycleGAN and pix2pix with: its `GANLoss` gives
    these terms, and its models never add the gradient penalty of Gulrajani et al. 2017 (`cal_gradient_penalty`
    exists there but neither model calls it), so neither does tfstyle under that name.

    Returns:
        float32 [B].
    """
    return 0.5 * (_per_example_mean(_f32(fake_logits)) - _per_example_mean(_f32(real_logits)))


GAN_LOSSES = {
    "lsgan": (lsgan_generator_loss, lsgan_discriminator_loss),
    "vanilla": (vanilla_generator_loss, vanilla_discriminator_loss),
    "wgangp": (wgan_generator_loss, wgan_discriminator_loss),
}


def l1_loss(target, output) -> tf.Tensor:
    """Mean absolute difference per pixel and channel, E[|y - G(x)|_1] (pix2pix's L1 term, Isola et al. eq. 3).

    Args:
        target, output: float [B, H, W, C], same range (CycleGAN / pix2pix: [-1, 1]).

    Returns:
        float32 [B].
    """
    return _per_example_mean(tf.abs(_f32(target) - _f32(output)))


def cycle_loss(real, cycled) -> tf.Tensor:
    """Cycle-consistency loss, L1: E[||F(G(x)) - x||_1] (Zhu et al. eq. 2), mean per pixel.

    Args:
        real: float [B, H, W, 3] in [-1, 1], the input x.
        cycled: float [B, H, W, 3] in [-1, 1], F(G(x)).

    Returns:
        float32 [B]. Multiply by lambda_cycle (paper: 10).
    """
    return l1_loss(real, cycled)


def identity_loss(real, same) -> tf.Tensor:
    """Identity-mapping loss: E[||G(y) - y||_1] (Zhu et al. section 5.2, from Taigman et al. 2017).

    Args:
        real: float [B, H, W, 3] in [-1, 1], an image y already in G's target domain.
        same: float [B, H, W, 3] in [-1, 1], G(y).

    Returns:
        float32 [B]. Multiply by lambda_identity * lambda_cycle (reference: 0.5 * 10).
    """
    return l1_loss(real, same)
