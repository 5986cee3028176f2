"""Synthetic backbone features for the recipe's tests: clusters of views around class centres."""

from __future__ import annotations

import numpy as np

CHANNELS = (6, 6, 6, 6)  # four levels of six features: 24 columns


def clustered_features(
    seed: int = 0, *, spread: float, classes: int, per_class: int, views: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[photos, views, 24]`` and labels: ``classes`` centres drawn with scale
    ``spread``, each view a centre plus unit noise (``spread`` 4: well separated; 1 or less:
    overlapping)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(classes, sum(CHANNELS)))
    labels = np.repeat(np.arange(classes), per_class)
    feats = centres[labels][:, None, :] + rng.normal(size=(len(labels), views, sum(CHANNELS)))
    return feats.astype(np.float32), labels
