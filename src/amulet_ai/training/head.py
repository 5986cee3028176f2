"""The linear classifier on pooled backbone features: standardise, then softmax regression.

Fitted by L-BFGS in float64 with an L2 penalty, which is deterministic and takes seconds on
a few thousand feature vectors.

Example::

    >>> x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    >>> y = np.repeat(np.arange(3), 20)
    >>> x[:, 0] += 3 * y
    >>> head = fit_linear_head(x, y, n_classes=3, l2=1e-2)
    >>> float((head.logits(x).argmax(1) == y).mean()) > 0.9
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LinearHead:
    """``logits = ((x - mean) / std) @ weight.T + bias``, all float32 numpy."""

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.std) @ self.weight.T + self.bias)

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """Weight and bias acting on raw features (standardisation folded in)."""
        weight = self.weight / self.std
        bias = self.bias - weight @ self.mean
        return weight.astype(np.float32), bias.astype(np.float32)


def fit_linear_head(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    l2: float,
    label_smoothing: float = 0.0,
    max_iter: int = 500,
) -> LinearHead:
    """Softmax regression minimising mean cross-entropy + ``l2/2 * ||W||^2``; with
    ``label_smoothing`` the target puts that share of its mass evenly on every class."""
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    x = torch.from_numpy((features - mean) / std).double()
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    weight = torch.zeros(n_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            x @ weight.T + bias, y, label_smoothing=label_smoothing
        )
        loss = loss + 0.5 * l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return LinearHead(
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        weight=weight.detach().numpy().astype(np.float32),
        bias=bias.detach().numpy().astype(np.float32),
    )
