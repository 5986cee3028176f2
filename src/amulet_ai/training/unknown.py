"""Unknown-photo score: Mahalanobis distance to the nearest class mean in feature space.

The covariance is shared by the classes (pooled within-class scatter) and shrunk towards a
multiple of the identity with the Ledoit-Wolf estimate. To keep the exported graph small,
the top ``rank`` eigen-directions keep their own variance and the rest share the mean of the
remaining eigenvalues (probabilistic-PCA form). Max softmax probability is not used: on this
data photos that are not amulets get higher confidence than real ones.

Example::

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 16)); y = np.repeat(np.arange(4), 50); x[:, 0] += 5 * y
    >>> det = fit_mahalanobis(x, y, n_classes=4, rank=8)
    >>> bool(det.score(x[:5]).mean() < det.score(x[:5] + 20).mean())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MahalanobisDetector:
    """Class means, ``rank`` eigen-directions with their variances and a residual variance."""

    means: np.ndarray  # [C, D]
    directions: np.ndarray  # [D, rank]
    variances: np.ndarray  # [rank]
    residual_variance: float
    shrinkage: float

    def score(self, x: np.ndarray) -> np.ndarray:
        """``sqrt(min_c d_c^2 / D)``: the root-mean-square Mahalanobis distance per dimension."""
        diff = x[:, None, :].astype(np.float64) - self.means[None].astype(np.float64)
        proj = diff @ self.directions
        in_span = (proj**2 / self.variances).sum(-1)
        residual = (diff**2).sum(-1) - (proj**2).sum(-1)
        d2 = in_span + residual / self.residual_variance
        return np.asarray(np.sqrt(np.maximum(d2.min(axis=1), 0.0) / x.shape[1]), np.float32)


def _ledoit_wolf(residuals: np.ndarray) -> tuple[np.ndarray, float]:
    n, dim = residuals.shape
    cov = residuals.T @ residuals / n
    mu = np.trace(cov) / dim
    delta = ((cov - mu * np.eye(dim)) ** 2).sum()
    beta = ((residuals**2).sum(1) ** 2).sum() / n**2 - (cov**2).sum() / n
    shrinkage = float(np.clip(min(beta, delta) / delta, 0.0, 1.0))
    return (1 - shrinkage) * cov + shrinkage * mu * np.eye(dim), shrinkage


def fit_mahalanobis(
    features: np.ndarray, labels: np.ndarray, *, n_classes: int, rank: int
) -> MahalanobisDetector:
    """Fit on training features (all views of all training photos)."""
    x = features.astype(np.float64)
    labels = np.asarray(labels)
    means = np.stack([x[labels == c].mean(axis=0) for c in range(n_classes)])
    cov, shrinkage = _ledoit_wolf(x - means[labels])
    eigvals, eigvecs = np.linalg.eigh(cov)
    order = np.argsort(eigvals)[::-1]
    eigvals, eigvecs = eigvals[order], eigvecs[:, order]
    rank = min(rank, x.shape[1] - 1)
    return MahalanobisDetector(
        means=means.astype(np.float32),
        directions=eigvecs[:, :rank].astype(np.float32),
        variances=eigvals[:rank].astype(np.float32),
        residual_variance=float(eigvals[rank:].mean()),
        shrinkage=shrinkage,
    )


def keep_threshold(known_scores: np.ndarray, keep_rate: float) -> float:
    """The smallest threshold that keeps ``keep_rate`` of known photos (score <= threshold)."""
    return float(np.quantile(known_scores, keep_rate, method="higher"))


def auroc(known_scores: np.ndarray, unknown_scores: np.ndarray) -> float:
    """Probability that an unknown photo scores higher than a known one (ties count half)."""
    known = np.asarray(known_scores, dtype=np.float64)[:, None]
    unknown = np.asarray(unknown_scores, dtype=np.float64)[None, :]
    return float((unknown > known).mean() + 0.5 * (unknown == known).mean())
