"""Distances between two sets of image features: KID and FID (numpy, float64).

Both take feature matrices `x` [N_x, D] and `y` [N_y, D] (one row per image, e.g. the
global-average-pooled VGG19 block5_conv4 or the InceptionV3 pool features of
`tfstyle.evaluate.translation`) and say how far apart the two distributions are; 0 means "the
same distribution". Which network made the features decides the metric's name (KID-VGG vs
KID-Inception): the numbers of different feature spaces are not comparable.

KID, the Kernel Inception Distance (Binkowski, Sutherland, Arbel & Gretton 2018, "Demystifying
MMD GANs", section 4 and appendix D): the squared maximum mean discrepancy under the cubic
polynomial kernel

    k(a, b) = (a . b / D + 1)^3,

estimated without bias (Gretton et al. 2012, eq. 3) from samples X = {x_i} (m rows) and
Y = {y_j} (n rows):

    MMD^2_u = 1 / (m (m - 1)) sum_{i != i'} k(x_i, x_i')
            + 1 / (n (n - 1)) sum_{j != j'} k(y_j, y_j')
            - 2 / (m n)       sum_{i, j}     k(x_i, y_j).

Being unbiased it can be slightly negative when the two sets come from one distribution. As in
the reference code, it is averaged over `subsets` random subsets of `subset_size` rows from each
set, drawn without replacement within a subset and independently between subsets, and reported
with the standard deviation of the subset estimates.

FID, the Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium"): the Frechet (2-Wasserstein) distance between
Gaussians fitted to the two sets,

    FID = ||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2)),

with means mu and unbiased (N - 1) covariances S. FID is biased upwards for small sets (it
grows as the sample shrinks, and with N <= D the covariances are singular), so compare FIDs only
at equal set sizes; KID has no such bias.
"""

from __future__ import annotations

import numpy as np

# Defaults of the reference KID code (Binkowski et al.: 100 subsets of 1000; clamped to the set sizes).
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def _features(name: str, value, min_rows: int = 2) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a [N, D] feature matrix, got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} feature rows (images), got {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: features contain NaN or inf")
    return array


def _pair(features_x, features_y) -> tuple[np.ndarray, np.ndarray]:
    x = _features("features_x", features_x)
    y = _features("features_y", features_y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sizes differ: {x.shape[1]} (features_x) vs {y.shape[1]} (features_y)")
    return x, y


def polynomial_kernel(a, b) -> np.ndarray:
    """The KID kernel k(a, b) = (a . b / D + 1)^3 for every pair of rows.

    Args:
        a: float [M, D]; b: float [N, D].

    Returns:
        float64 [M, N].
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(features_x, features_y) -> float:
    """Unbiased estimate of MMD^2 under `polynomial_kernel` (formula in the module docstring).

    Args:
        features_x: float [m, D], m >= 2; features_y: float [n, D], n >= 2.

    Returns:
        MMD^2_u as a float (can be slightly negative).
    """
    x, y = _pair(features_x, features_y)
    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def kid(features_x, features_y, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: MMD^2_u averaged over random subsets, with its spread.

    The subset size is clamped to the smaller set: m = min(subset_size, N_x, N_y). With
    `rng = np.random.default_rng(seed)`, subset s takes rows `rng.choice(N_x, m, replace=False)`
    of `features_x`, then rows `rng.choice(N_y, m, replace=False)` of `features_y`, and computes
    `mmd2_unbiased` on them. So the same inputs and seed always give the same numbers.

    When m equals a set's size, every subset holds that whole set and the spread only reflects
    the resampling of the other set (0 when both sets are used whole): the std then understates
    the uncertainty.

    Args:
        features_x: float [N_x, D]; features_y: float [N_y, D]; N_x, N_y >= 2.
        subsets: number of subsets (reference: 100).
        subset_size: rows per subset and set before clamping (reference: 1000).
        seed: seed of the subset draws.

    Returns:
        (mean, std): the mean of the subset estimates (the KID) and their standard deviation
        (the error bar the reference code reports; the subsets overlap, so it is not divided
        by sqrt(subsets)).

    Raises:
        ValueError: fewer than 2 rows in a set, differing feature sizes, NaN / inf features,
            subsets < 1 or subset_size < 2.
    """
    x, y = _pair(features_x, features_y)
    if subsets < 1:
        raise ValueError(f"KID needs at least 1 subset, got subsets={subsets}")
    if subset_size < 2:
        raise ValueError(f"KID subsets need at least 2 rows, got subset_size={subset_size}")
    size = min(subset_size, x.shape[0], y.shape[0])
    rng = np.random.default_rng(seed)
    estimates = np.empty(subsets, dtype=np.float64)
    for index in range(subsets):
        rows_x = rng.choice(x.shape[0], size, replace=False)
        rows_y = rng.choice(y.shape[0], size, replace=False)
        estimates[index] = mmd2_unbiased(x[rows_x], y[rows_y])
    return float(estimates.mean()), float(estimates.std())


def kid_subset_size(num_x: int, num_y: int, subset_size: int = KID_SUBSET_SIZE) -> int:
    """The subset size `kid` actually uses for sets of `num_x` and `num_y` rows."""
    return min(subset_size, num_x, num_y)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(cov_x, cov_y) -> float:
    """Tr((S_x S_y)^(1/2)) for symmetric PSD S_x, S_y, without a general matrix square root.

    S_x S_y is similar to the symmetric PSD matrix A = S_x^(1/2) S_y S_x^(1/2)
    (S_x^(-1/2) A S_x^(1/2) = S_x S_y when S_x is invertible, and by continuity otherwise),
    so both have the same non-negative eigenvalues lambda_i and the trace is sum_i sqrt(lambda_i).

    Args:
        cov_x, cov_y: float [D, D], symmetric positive semi-definite.
    """
    cov_x = np.asarray(cov_x, dtype=np.float64)
    cov_y = np.asarray(cov_y, dtype=np.float64)
    root_x = _sqrt_psd(cov_x)
    product = root_x @ cov_y @ root_x
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2.0)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def fid(features_x, features_y) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (formula in the module docstring).

    Args:
        features_x: float [N_x, D]; features_y: float [N_y, D]; N_x, N_y >= 2.

    Returns:
        FID >= 0 (clamped at 0 against round-off).
    """
    x, y = _pair(features_x, features_y)
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    distance = (np.sum((mean_x - mean_y) ** 2) + np.trace(cov_x) + np.trace(cov_y)
                - 2.0 * trace_sqrt_product(cov_x, cov_y))
    return float(max(distance, 0.0))
