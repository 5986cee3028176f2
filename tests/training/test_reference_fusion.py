"""The recipe's fusion of the head's logits with each class's nearest-reference distance."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from clusters import CHANNELS, clustered_features

pytest.importorskip("torch")

from amulet_ai.training.crossval import (  # noqa: E402
    Recipe,
    components,
    cross_validate,
    fit_parts,
    predict,
    reference_scale,
)

pytestmark = pytest.mark.train

RECIPE = Recipe(level_channels=CHANNELS, detector_views=2)


def _photos(seed: int = 0, spread: float = 1.0, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[photos, 3 views, 24]`` of ``classes`` overlapping clusters."""
    return clustered_features(seed, spread=spread, classes=classes, per_class=12)


def test_reference_scale_leaves_each_photos_own_references_out() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(9, 3, 5))
    x[:, 1] = x[:, 0]  # each photo's second reference is its first view: 0 if it counted
    scale = reference_scale(x, references=2)
    refs = x[:, :2].reshape(-1, 5)
    d = np.sqrt(((x[:, 0][:, None] - refs[None]) ** 2).sum(-1) / 5)
    for i in range(9):
        d[i, 2 * i : 2 * i + 2] = np.inf
    assert scale == pytest.approx(float(np.median(d.min(1))))
    assert scale > 0.5


def test_weight_zero_is_the_head_alone() -> None:
    feats, labels = _photos()
    parts = fit_parts(feats, labels, 3, RECIPE)
    assert parts.reference_scale == 1.0
    logits, _ = predict(parts, feats[:, 0], RECIPE)
    np.testing.assert_array_equal(logits, parts.head.logits(feats[:, 0]))


def test_fused_logits_subtract_the_scaled_class_distance() -> None:
    feats, labels = _photos()
    fused = replace(RECIPE, reference_weight=0.5)
    parts = fit_parts(feats, labels, 3, fused)
    plain = components(parts, feats[:, 0], RECIPE)
    comp = components(parts, feats[:, 0], fused)
    assert parts.reference_scale > 0
    expected = plain.logits - 0.5 * plain.class_distance / parts.reference_scale
    np.testing.assert_allclose(comp.logits, expected, rtol=1e-6)
    logits, own = predict(parts, feats[:, 0], fused)
    np.testing.assert_allclose(logits, comp.logits)
    top = logits.argmax(1)
    np.testing.assert_allclose(own, comp.class_distance[np.arange(len(top)), top])
    _, nearest = predict(parts, feats[:, 0], replace(fused, unknown_score="distance"))
    np.testing.assert_allclose(nearest, comp.distance)


def test_a_large_weight_answers_the_nearest_references_class() -> None:
    feats, labels = _photos(seed=1)
    heavy = replace(RECIPE, reference_weight=1e4)
    parts = fit_parts(feats[::2], labels[::2], 3, heavy)
    comp = components(parts, feats[1::2, 0], heavy)
    head = components(parts, feats[1::2, 0], RECIPE).logits.argmax(1)
    nearest = comp.class_distance.argmin(1)
    np.testing.assert_array_equal(comp.logits.argmax(1), nearest)
    assert (head != nearest).any()  # the clusters overlap: the two rules disagree somewhere


def test_cross_validation_refits_the_temperature_of_the_fused_logits() -> None:
    feats, labels = _photos(spread=0.4)
    non_amulet = np.random.default_rng(5).normal(scale=8.0, size=(10, sum(CHANNELS)))
    args = (feats, labels, np.arange(len(labels)) % 2 == 0, non_amulet.astype(np.float32),
            ("a", "b", "c"))  # fmt: skip
    plain = cross_validate(*args, RECIPE, n_folds=3, seed=0)
    fused = cross_validate(*args, replace(RECIPE, reference_weight=2.0), n_folds=3, seed=0)
    assert fused["temperature"] != pytest.approx(plain["temperature"])
    assert 0.0 <= fused["ece"] <= 1.0 and 0.0 <= fused["top1"] <= 1.0


def test_fusion_needs_the_nearest_reference_detector() -> None:
    feats, labels = _photos()
    recipe = replace(RECIPE, reference_weight=1.0, detector="class_means", detector_rank=4)
    with pytest.raises(ValueError, match="nearest-reference"):
        fit_parts(feats, labels, 3, recipe)
