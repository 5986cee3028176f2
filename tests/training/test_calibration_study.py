"""Calibration study parts: out-of-fold logits, nested calibration fits, scaling, the ECE's
noise floor and the head's label smoothing, on small generated features."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from amulet_ai.training.calibration import (  # noqa: E402
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from amulet_ai.training.calibration_study import (  # noqa: E402
    bootstrap_ece,
    calibrated_floor,
    nested,
    scaling_fitter,
    temperature_fitter,
)
from amulet_ai.training.crossval import (  # noqa: E402
    Recipe,
    cross_validate,
    out_of_fold,
    stratified_folds,
)
from amulet_ai.training.head import fit_linear_head  # noqa: E402

pytestmark = pytest.mark.train

RECIPE = Recipe(level_channels=(4, 4, 4, 4), detector_views=1)


def _features(seed: int = 0, photos: int = 60, views: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), photos // 3)
    feats = rng.normal(size=(photos, views, 16))
    feats[:, :, :3] += 1.5 * np.eye(3)[labels][:, None, :]
    return feats.astype(np.float32), labels


def _logits(seed: int, n: int = 400, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident logits: labels drawn from softmax(z / scale), logits z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4)) * 2.0
    probs = softmax(z / scale)
    labels = np.array([rng.choice(4, p=p) for p in probs])
    return z, labels


def test_out_of_fold_logits_of_a_photo_do_not_see_its_label() -> None:
    feats, labels = _features()
    folds = stratified_folds(labels, 3, seed=0)
    first = out_of_fold(feats, labels, 3, RECIPE, folds, served={"all": feats})
    relabelled = labels.copy()
    photo = int(folds[0][0])
    relabelled[photo] = (labels[photo] + 1) % 3
    second = out_of_fold(feats, relabelled, 3, RECIPE, folds, served={"all": feats})
    np.testing.assert_allclose(first.logits[photo], second.logits[photo], atol=1e-5)
    assert not np.allclose(first.logits[folds[1]], second.logits[folds[1]], atol=1e-5)
    # The served form's view 0 is the photo's view 0: the same logits.
    np.testing.assert_allclose(first.served_logits["all"][:, 0], first.logits, atol=1e-5)
    assert first.served_logits["all"].shape == (60, 3, 3)
    assert sorted(np.unique(first.fold_of)) == [0, 1, 2]


def test_nested_fits_each_fold_on_the_other_folds_only() -> None:
    z, labels = _logits(seed=1)
    fold_of = np.arange(len(labels)) % 2
    # Fold 1's logits scaled up 5 x: a fit that saw them would choose another temperature.
    fit = z.copy()
    fit[fold_of == 1] *= 5.0
    probs = nested(fit, labels, fold_of, z, fold_of, temperature_fitter)
    t_other = fit_temperature(fit[fold_of == 1], labels[fold_of == 1])
    np.testing.assert_allclose(probs[fold_of == 0], softmax(z[fold_of == 0], t_other))
    assert t_other > 10.0


def test_scaling_with_a_strong_penalty_is_temperature_scaling() -> None:
    z, labels = _logits(seed=2)
    t = fit_temperature(z, labels)
    for kind in ("vector", "matrix"):
        probs = scaling_fitter(kind, l2=1e4)(z, labels)(z)
        np.testing.assert_allclose(probs, softmax(z, t), atol=2e-3)
    assert t == pytest.approx(3.0, rel=0.2)


def test_vector_scaling_learns_a_class_bias() -> None:
    z, labels = _logits(seed=3, n=2000, scale=1.0)
    shifted = z.copy()
    shifted[:, 0] += 2.0  # a wrong bias towards class 0
    before = -np.log(softmax(shifted)[np.arange(len(labels)), labels]).mean()
    probs = scaling_fitter("vector", l2=1e-4)(shifted, labels)(shifted)
    after = -np.log(probs[np.arange(len(labels)), labels]).mean()
    assert after < before - 0.1


def test_calibrated_floor_is_what_a_calibrated_model_scores() -> None:
    rng = np.random.default_rng(4)
    z, _ = _logits(seed=4, n=137)
    probs = softmax(z)
    floor = calibrated_floor(probs, rng, rounds=300)
    # A calibrated model on 137 photos still scores an ECE well above zero in 15 bins...
    assert floor.mean() > 0.03
    # ... and less on ten times the photos.
    big = softmax(np.tile(z, (10, 1)))
    assert calibrated_floor(big, rng, rounds=100).mean() < floor.mean() / 2


def test_bootstrap_ece_spreads_around_the_ece() -> None:
    z, labels = _logits(seed=5, n=137)
    probs = softmax(z)
    boot = bootstrap_ece(probs, labels, np.random.default_rng(0), rounds=300)
    assert boot.std() > 0.01
    assert np.quantile(boot, 0.05) < expected_calibration_error(probs, labels) + 0.05


def test_label_smoothing_makes_the_head_less_confident() -> None:
    feats, labels = _features(photos=90, views=1)
    x = feats[:, 0]
    plain = fit_linear_head(x, labels, n_classes=3, l2=1e-2)
    smoothed = fit_linear_head(x, labels, n_classes=3, l2=1e-2, label_smoothing=0.2)
    assert softmax(smoothed.logits(x)).max(1).mean() < softmax(plain.logits(x)).max(1).mean()
    same = fit_linear_head(x, labels, n_classes=3, l2=1e-2, label_smoothing=0.0)
    np.testing.assert_array_equal(same.weight, plain.weight)


def test_cross_validate_reports_the_served_forms_ece_with_the_same_temperatures() -> None:
    feats, labels = _features(seed=6)
    cv = cross_validate(
        feats, labels, labels == 0, feats[:5, 0], ("a", "b", "c"), RECIPE,
        n_folds=3, seed=0, served={"view 0": feats[:, :1], "all views": feats},
    )  # fmt: skip
    # View 0 served is the located crop the ECE is measured on: the very same figure.
    assert cv["served"]["view 0"]["ece"] == pytest.approx(cv["ece"])
    assert cv["served"]["view 0"]["top1"] == pytest.approx(cv["top1"])
    assert 0.0 < cv["served"]["all views"]["ece"] < 1.0
    assert cv["served"]["all views"]["ece"] != pytest.approx(cv["ece"])
