"""Unknown-photo score: distance in feature space to the nearest of a set of centres.

Two detectors share one form, ``sqrt(min_c d_c^2 / D)`` under a shared covariance:

* nearest reference (shipped): the centres are the training photos themselves (each photo
  and its mirror image) and the covariance is the identity on standardised features, so
  the score is the distance to the closest photo seen in training. A held-out amulet type
  lies far from every training photo even where it sits between class means (leave one
  class out: AUROC 0.85 against 0.80 for class means; model card);
* class means: the centres are the class means and the covariance is the pooled
  within-class scatter, shrunk towards a multiple of the identity with the Ledoit-Wolf
  estimate. To keep the exported graph small, the top ``rank`` eigen-directions keep their
  own variance and the rest share the mean of the remaining eigenvalues.

Each centre may carry its class (``labels``): :meth:`MahalanobisDetector.class_scores`
gives the score against each class's centres alone. The default recipe's unknown score is
the one of the class the head predicts (``predicted_class_distance``,
:mod:`amulet_ai.training.crossval`); it is on the same scale and never below the score
against all centres.

Max softmax probability is not used: on this data photos that are not amulets get higher
confidence than real ones (non-amulet AUROC 0.69-0.87 against 0.998-1.000 for the distance;
models/README.md, "Unknown score for other types").

Example::

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 16)); y = np.repeat(np.arange(4), 50); x[:, 0] += 5 * y
    >>> det = fit_mahalanobis(x, y, n_classes=4, rank=8)
    >>> bool(det.score(x[:5]).mean() < det.score(x[:5] + 20).mean())
    True
    >>> near = fit_nearest_reference(x)
    >>> round(float(near.score(x[:1])[0]), 6), bool(near.score(x[:1] + 20)[0] > 1)
    (0.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MahalanobisDetector:
    """Centres (class means or reference photos), ``rank`` eigen-directions with their
    variances (none for the nearest-reference detector) and a residual variance."""

    means: np.ndarray  # [C, D]: the centres
    directions: np.ndarray  # [D, rank]
    variances: np.ndarray  # [rank]
    residual_variance: float
    shrinkage: float
    labels: np.ndarray | None = None  # [C]: each centre's class, where known

    def _d2(self, x: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances ``[N, centres]``."""
        diff = x[:, None, :].astype(np.float64) - self.means[None].astype(np.float64)
        proj = diff @ self.directions
        in_span = (proj**2 / self.variances).sum(-1)
        residual = (diff**2).sum(-1) - (proj**2).sum(-1)
        return np.asarray(in_span + residual / self.residual_variance)

    def score(self, x: np.ndarray) -> np.ndarray:
        """``sqrt(min_c d_c^2 / D)``: the root-mean-square Mahalanobis distance per dimension."""
        d2 = self._d2(x)
        return np.asarray(np.sqrt(np.maximum(d2.min(axis=1), 0.0) / x.shape[1]), np.float32)

    def class_scores(self, x: np.ndarray, n_classes: int) -> np.ndarray:
        """``[N, n_classes]``: the score against the centres of each class only (``inf``
        for a class without centres); needs ``labels``."""
        if self.labels is None:
            raise ValueError("the detector's centres carry no class labels")
        d2 = self._d2(x)
        out = np.full((len(x), n_classes), np.inf, dtype=np.float32)
        for c in range(n_classes):
            own = self.labels == c
            if own.any():
                best = np.maximum(d2[:, own].min(axis=1), 0.0)
                out[:, c] = np.sqrt(best / x.shape[1])
        return out


def _eigen_ledoit_wolf(residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Eigen-decomposition of the Ledoit-Wolf shrunk covariance of ``residuals`` ``[n, D]``.

    Returns the eigenvalues (descending) and eigenvectors of the sample covariance's span,
    the shrinkage and ``mu`` (the isotropic target's variance). Outside that span every
    eigenvalue is ``shrinkage * mu``. With fewer rows than dimensions the work goes
    through the ``n x n`` Gram matrix, which has the same non-zero spectrum.
    """
    n, dim = residuals.shape
    gram_side = 2 * n < dim  # the Gram route pays off when clearly fewer rows
    small = residuals @ residuals.T if gram_side else residuals.T @ residuals
    small /= n
    mu = float(np.trace(small)) / dim
    cov_sq = float((small**2).sum())  # ||cov||_F^2 is the same on the Gram side
    delta = cov_sq - mu**2 * dim
    beta = float(((residuals**2).sum(1) ** 2).sum()) / n**2 - cov_sq / n
    shrinkage = float(np.clip(min(beta, delta) / delta, 0.0, 1.0)) if delta > 0 else 1.0
    eigvals, eigvecs = np.linalg.eigh(small)
    order = np.argsort(eigvals)[::-1]
    eigvals, eigvecs = np.maximum(eigvals[order], 0.0), eigvecs[:, order]
    if gram_side:  # v = R^T u / sqrt(n * lambda): the covariance's own eigenvectors
        keep = eigvals > eigvals[0] * 1e-10
        eigvals = eigvals[keep]
        eigvecs = residuals.T @ eigvecs[:, keep] / np.sqrt(n * eigvals)
    return (1 - shrinkage) * eigvals + shrinkage * mu, eigvecs, shrinkage, mu


def fit_mahalanobis(
    features: np.ndarray, labels: np.ndarray, *, n_classes: int, rank: int
) -> MahalanobisDetector:
    """Fit on training features (all views of all training photos)."""
    x = features.astype(np.float64)
    labels = np.asarray(labels)
    dim = x.shape[1]
    means = np.stack([x[labels == c].mean(axis=0) for c in range(n_classes)])
    eigvals, eigvecs, shrinkage, mu = _eigen_ledoit_wolf(x - means[labels])
    rank = min(rank, dim - 1, len(eigvals))
    # The residual variance is the mean of all D - rank remaining eigenvalues, including
    # the ones outside the sample span (each shrinkage * mu): from the trace.
    total = dim * mu  # the trace is unchanged by shrinkage towards mu * I
    residual_variance = (total - float(eigvals[:rank].sum())) / (dim - rank)
    return MahalanobisDetector(
        means=means.astype(np.float32),
        directions=eigvecs[:, :rank].astype(np.float32),
        variances=eigvals[:rank].astype(np.float32),
        residual_variance=float(residual_variance),
        shrinkage=shrinkage,
        labels=np.arange(n_classes),
    )


def fit_nearest_reference(
    references: np.ndarray, labels: np.ndarray | None = None
) -> MahalanobisDetector:
    """The nearest-reference detector over ``references`` ``[M, D]`` (standardised features)
    of classes ``labels`` ``[M]`` (where given).

    Each reference is a centre and the covariance is the identity (no eigen-directions, unit
    residual variance), so ``score`` is the RMS distance per dimension to the closest one.
    """
    refs = np.ascontiguousarray(references, dtype=np.float32)
    dim = refs.shape[1]
    return MahalanobisDetector(
        means=refs,
        directions=np.zeros((dim, 0), dtype=np.float32),
        variances=np.zeros(0, dtype=np.float32),
        residual_variance=1.0,
        shrinkage=0.0,
        labels=None if labels is None else np.asarray(labels),
    )


def keep_threshold(known_scores: np.ndarray, keep_rate: float) -> float:
    """The smallest threshold that keeps ``keep_rate`` of known photos (score <= threshold)."""
    return float(np.quantile(known_scores, keep_rate, method="higher"))


def auroc(known_scores: np.ndarray, unknown_scores: np.ndarray) -> float:
    """Probability that an unknown photo scores higher than a known one (ties count half)."""
    known = np.asarray(known_scores, dtype=np.float64)[:, None]
    unknown = np.asarray(unknown_scores, dtype=np.float64)[None, :]
    return float((unknown > known).mean() + 0.5 * (unknown == known).mean())
