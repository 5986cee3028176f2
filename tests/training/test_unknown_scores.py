"""Candidate unknown scores and the held-out-type protocol they are measured by."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from clusters import CHANNELS, clustered_features

pytest.importorskip("torch")

from amulet_ai.training.calibration import softmax  # noqa: E402
from amulet_ai.training.crossval import (  # noqa: E402
    Recipe,
    components,
    cross_validate,
    fit_parts,
    predict,
    stratified_folds,
    unseen_type_auroc,
)
from amulet_ai.training.unknown import fit_nearest_reference  # noqa: E402
from amulet_ai.training.unknown_scores import (  # noqa: E402
    CANDIDATES,
    candidate_scores,
    fit_scale,
)

pytestmark = pytest.mark.train

RECIPE = Recipe(level_channels=CHANNELS, detector_views=2, unknown_score="predicted_class_distance")


def _photos(
    seed: int = 0, per_class: int = 15, classes: int = 4, views: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[photos, views, 24]`` of ``classes`` well separated clusters."""
    return clustered_features(seed, spread=4.0, classes=classes, per_class=per_class, views=views)


def test_class_scores_take_the_nearest_reference_of_each_class() -> None:
    rng = np.random.default_rng(1)
    refs = rng.normal(size=(12, 5)).astype(np.float32)
    labels = np.repeat(np.arange(3), 4)
    det = fit_nearest_reference(refs, labels)
    x = rng.normal(size=(7, 5)).astype(np.float32)
    per_class = det.class_scores(x, 3)
    np.testing.assert_allclose(per_class.min(axis=1), det.score(x), rtol=1e-6)
    brute = np.sqrt(((x[:, None] - refs[None]) ** 2).sum(-1) / 5)
    np.testing.assert_allclose(per_class[:, 1], brute[:, 4:8].min(1), rtol=1e-5)
    with pytest.raises(ValueError, match="no class labels"):
        fit_nearest_reference(refs).class_scores(x, 3)


def test_candidates_follow_their_definitions() -> None:
    feats, labels = _photos()
    parts = fit_parts(feats, labels, 4, RECIPE)
    comp = components(parts, feats[:, 0], RECIPE)
    scale = fit_scale(comp, temperature=2.0)
    scores = candidate_scores(comp, scale)
    assert set(scores) == set(CANDIDATES)
    probs = softmax(comp.logits.astype(np.float64), 2.0)
    np.testing.assert_allclose(scores["max_prob"], 1 - probs.max(1))
    z = comp.logits.astype(np.float64) / 2.0
    np.testing.assert_allclose(scores["energy"], -2.0 * np.log(np.exp(z).sum(1)), rtol=1e-9)
    own = comp.class_distance[np.arange(len(labels)), comp.logits.argmax(1)]
    np.testing.assert_allclose(scores["predicted_class_distance"], own)
    assert (scores["predicted_class_distance"] >= scores["distance"] - 1e-6).all()
    rank = scores["rank mean(distance, 1 - max_prob)"]
    assert 0.0 <= rank.min() and rank.max() <= 1.0


def test_held_out_type_protocol_is_one_for_both_routes() -> None:
    """The recipe's own score (the detector alone for the distance, head and detector for
    the default) and the route that scores every candidate give the same AUROCs; far
    clusters make every held-out class easy to flag."""
    feats, labels = _photos()
    folds = stratified_folds(labels, 3, seed=0)
    distance_recipe = replace(RECIPE, unknown_score="distance")
    plain = unseen_type_auroc(feats, labels, folds, distance_recipe)
    default = unseen_type_auroc(feats, labels, folds, RECIPE)
    parts = fit_parts(feats, labels, 4, RECIPE)
    scale = fit_scale(components(parts, feats[:, 0], RECIPE), temperature=1.0)
    full = unseen_type_auroc(feats, labels, folds, RECIPE, scale=scale)
    assert set(plain["tight"]) == {"distance"}
    assert set(default["tight"]) == {"predicted_class_distance"}
    assert set(full["tight"]) == set(CANDIDATES)
    np.testing.assert_allclose(full["tight"]["distance"], plain["tight"]["distance"])
    np.testing.assert_allclose(
        full["tight"]["predicted_class_distance"], default["tight"]["predicted_class_distance"]
    )
    assert min(plain["tight"]["distance"]) > 0.95


def test_predict_gives_the_recipes_unknown_score() -> None:
    feats, labels = _photos()
    parts = fit_parts(feats, labels, 4, RECIPE)
    comp = components(parts, feats[:, 0], RECIPE)
    logits, own = predict(parts, feats[:, 0], RECIPE)
    _, nearest = predict(parts, feats[:, 0], replace(RECIPE, unknown_score="distance"))
    np.testing.assert_allclose(nearest, comp.distance, rtol=1e-6)
    np.testing.assert_allclose(own, comp.class_distance[np.arange(len(own)), logits.argmax(1)])
    assert Recipe().unknown_score == "predicted_class_distance"  # the default recipe


def test_cross_validation_reports_every_candidate_with_its_own_threshold() -> None:
    feats, labels = _photos()
    non_amulet = np.random.default_rng(5).normal(scale=8.0, size=(20, sum(CHANNELS)))
    cv = cross_validate(
        feats, labels, np.arange(len(labels)) % 2 == 0, non_amulet.astype(np.float32),
        ("a", "b", "c", "d"), RECIPE, n_folds=3, seed=0, compare_scores=True,
        served={"views": feats[:, 1:]},
    )  # fmt: skip
    table = cv["unknown_scores"]
    assert set(table) == set(CANDIDATES)
    assert table["predicted_class_distance"]["unknown_auroc_unseen_type"] == pytest.approx(
        cv["unknown_auroc_unseen_type"]
    )
    assert table["predicted_class_distance"]["unknown_auroc_non_amulet"] == pytest.approx(
        cv["unknown_auroc_non_amulet"]
    )
    for row in table.values():
        assert 0.95 <= row["kept"] <= 1.0
        assert 0.0 <= row["kept: views"] <= 1.0
