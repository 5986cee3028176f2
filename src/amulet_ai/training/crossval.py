"""Stratified k-fold cross-validation of the whole recipe (head, detector, temperature).

Every figure in the model card comes from here: out-of-fold logits and unknown scores of
the photos as served (view 0), never of photos a fold was fitted on.

Example::

    >>> stratified_folds(np.array([0, 0, 0, 1, 1, 1]), n_folds=3, seed=0)[0].shape
    (2,)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from amulet_ai.training.calibration import expected_calibration_error, fit_temperature, softmax
from amulet_ai.training.features import LEVEL_CHANNELS
from amulet_ai.training.head import LinearHead, fit_linear_head
from amulet_ai.training.unknown import (
    MahalanobisDetector,
    auroc,
    fit_mahalanobis,
    fit_nearest_reference,
    keep_threshold,
)
from amulet_ai.training.unknown_scores import (
    Components,
    ScoreScale,
    candidate_scores,
    fit_scale,
)

logger = logging.getLogger(__name__)


UnknownScore = Literal["distance", "predicted_class_distance"]


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the fitted model, besides the data."""

    head_levels: tuple[int, ...] = (0, 1, 2, 3)
    l2: float = 1e-1
    label_smoothing: float = 0.0  # of the head's targets (calibration_study measures it)
    # Blocks 10, 14 and 15 without the ImageNet head: held-out amulet types (leave one class
    # out) score AUROC 0.80 there against 0.70 with the head included (model card).
    detector_levels: tuple[int, ...] = (0, 1, 2)
    # "nearest": distance to the closest training photo (its first ``detector_views``
    # views: the photo and its mirror image); "class_means": Mahalanobis to class means
    # with a rank-``detector_rank`` shrunk covariance. Held-out amulet types score AUROC
    # 0.85 with the first and 0.80 with the second (model card).
    detector: Literal["nearest", "class_means"] = "nearest"
    detector_views: int = 2
    detector_rank: int = 128
    # The unknown score: "distance" to the nearest reference of any class (model 2.0.2), or
    # "predicted_class_distance", to the nearest reference of the class the head predicts.
    # Leave one class out, the second scores AUROC 0.822 / 0.730 (tight / scenes) against
    # 0.814 / 0.711 and keeps more known scenes (models/README.md, "Unknown score for
    # other types").
    unknown_score: UnknownScore = "predicted_class_distance"
    keep_rate: float = 0.95
    # Fusion with the nearest-reference classifier: each class's logit less
    # ``reference_weight`` times the distance to that class's nearest reference over
    # ``FittedParts.reference_scale``; the predicted class (and so the unknown score's) is
    # the fused logits' top. 0 is the head alone (model 2.4.0). Needs ``detector="nearest"``.
    reference_weight: float = 0.0
    # Channels of each level of the backbone's features (Lite0's by default; see
    # :func:`amulet_ai.training.features.BackboneSpec.level_channels`).
    level_channels: tuple[int, ...] = LEVEL_CHANNELS


@dataclass(frozen=True)
class FittedParts:
    head: LinearHead
    detector: MahalanobisDetector
    feature_mean: np.ndarray
    feature_std: np.ndarray
    # The fused logits' distance unit (:func:`reference_scale`); 1 where nothing is fused.
    reference_scale: float = 1.0


def head_columns(levels: tuple[int, ...], channels: tuple[int, ...] = LEVEL_CHANNELS) -> np.ndarray:
    """Feature columns of the given levels (of a backbone with ``channels`` per level), in
    level order."""
    bounds = np.cumsum([0, *channels])
    return np.concatenate([np.arange(bounds[lv], bounds[lv + 1]) for lv in levels])


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    """Test indices of each fold; every class is dealt round-robin after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    start = 0
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        for j, idx in enumerate(members):
            folds[(start + j) % n_folds].append(int(idx))
        start += len(members)
    return [np.array(sorted(f)) for f in folds]


def fit_detector(
    standardised: np.ndarray, labels: np.ndarray, n_classes: int, recipe: Recipe
) -> MahalanobisDetector:
    """The recipe's unknown detector on standardised features ``[photos, views, D]``."""
    dim = standardised.shape[-1]
    if recipe.detector == "nearest":
        refs = standardised[:, : recipe.detector_views]
        ref_labels = np.repeat(labels, refs.shape[1])
        return fit_nearest_reference(refs.reshape(-1, dim), ref_labels)
    flat_labels = np.repeat(labels, standardised.shape[1])
    return fit_mahalanobis(
        standardised.reshape(-1, dim), flat_labels, n_classes=n_classes, rank=recipe.detector_rank
    )


def fit_parts(
    features: np.ndarray, labels: np.ndarray, n_classes: int, recipe: Recipe
) -> FittedParts:
    """Fit head and detector on ``features`` ``[photos, views, D]`` (all views are examples)."""
    n_views = features.shape[1]
    flat = features.reshape(-1, features.shape[-1])
    flat_labels = np.repeat(labels, n_views)
    cols = head_columns(recipe.head_levels, recipe.level_channels)
    head = fit_linear_head(
        flat[:, cols], flat_labels, n_classes=n_classes, l2=recipe.l2,
        label_smoothing=recipe.label_smoothing,
    )  # fmt: skip
    detector_feats = features[..., head_columns(recipe.detector_levels, recipe.level_channels)]
    mean = detector_feats.mean(axis=(0, 1))
    std = detector_feats.std(axis=(0, 1)) + 1e-6
    standardised = (detector_feats - mean) / std
    detector = fit_detector(standardised, labels, n_classes, recipe)
    scale = 1.0
    if recipe.reference_weight:
        if recipe.detector != "nearest":
            raise ValueError("reference_weight needs the nearest-reference detector")
        scale = reference_scale(standardised, recipe.detector_views)
    return FittedParts(head, detector, mean.astype(np.float32), std.astype(np.float32), scale)


def reference_scale(standardised: np.ndarray, references: int) -> float:
    """Median over photos of the distance (``sqrt(d^2 / D)``, the unknown score's) from a
    photo's first view to the nearest reference view of any other photo.

    ``standardised`` is ``[photos, views, D]``, the first ``references`` views of each
    photo its references. A photo's own references never count for it, so the median is
    the one a photo outside the training set meets.

    Example::

        >>> x = np.zeros((3, 2, 4)); x[1] += 2.0; x[2] += 4.0
        >>> reference_scale(x, references=2)
        2.0
    """
    n, _, dim = standardised.shape
    first = standardised[:, 0].astype(np.float64)
    refs = standardised[:, :references].reshape(-1, dim).astype(np.float64)
    d2 = (first**2).sum(1)[:, None] + (refs**2).sum(1)[None] - 2.0 * first @ refs.T
    own = np.repeat(np.arange(n), references)[None, :] == np.arange(n)[:, None]
    nearest = np.where(own, np.inf, d2).min(axis=1)
    return float(np.median(np.sqrt(np.maximum(nearest, 0.0) / dim)))


def predict(
    parts: FittedParts, features: np.ndarray, recipe: Recipe
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (fused with the references' distances by ``recipe.reference_weight``) and
    the recipe's unknown scores of ``[N, D]`` features."""
    if recipe.unknown_score == "distance" and not recipe.reference_weight:
        logits = parts.head.logits(
            features[:, head_columns(recipe.head_levels, recipe.level_channels)]
        )
        detector_feats = features[:, head_columns(recipe.detector_levels, recipe.level_channels)]
        scores = parts.detector.score((detector_feats - parts.feature_mean) / parts.feature_std)
        return logits, scores
    c = components(parts, features, recipe)
    if recipe.unknown_score == "distance":
        return c.logits, c.distance.astype(np.float32)
    own = c.class_distance[np.arange(len(c.logits)), c.logits.argmax(axis=1)]
    return c.logits, own.astype(np.float32)


def components(parts: FittedParts, features: np.ndarray, recipe: Recipe) -> Components:
    """What the candidate unknown scores are made of, for ``[N, D]`` features: the logits
    (the head's, less ``recipe.reference_weight`` times each class's distance over
    ``parts.reference_scale``), the distance to the nearest reference and to each class's
    nearest reference."""
    logits = parts.head.logits(features[:, head_columns(recipe.head_levels, recipe.level_channels)])
    detector_feats = features[:, head_columns(recipe.detector_levels, recipe.level_channels)]
    z = (detector_feats - parts.feature_mean) / parts.feature_std
    per_class = parts.detector.class_scores(z, logits.shape[1])
    if recipe.reference_weight:
        fused = logits - recipe.reference_weight * per_class / parts.reference_scale
        logits = fused.astype(logits.dtype)
    return Components(logits, per_class.min(axis=1), per_class)


# ``refine(train_indices, test_indices, probe_parts) -> test logits``: a second stage fitted
# on the training photos only (fine-tuning), replacing the probe's logits.
Refine = Callable[[np.ndarray, np.ndarray, FittedParts], np.ndarray]


def unseen_type_auroc(
    features: np.ndarray,
    labels: np.ndarray,
    folds: list[np.ndarray],
    recipe: Recipe,
    *,
    evaluated: dict[str, np.ndarray] | None = None,
    scale: ScoreScale | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Leave-one-class-out proxy for amulet types outside the training classes.

    For each class ``c`` and fold: the recipe is fitted on the training photos of the
    other classes; its scores of the fold's photos of other classes (known) and of class
    ``c`` (never seen in fitting) are pooled over folds. ``evaluated`` names the forms of
    the photos scored (``[photos, k, D]`` each, or ``[photos, k, turns, D]``: each of the k
    scored by the mean of its turns' scores; default ``{"tight": features[:, :1]}``, the
    photo as served). Without ``scale`` the one score is the recipe's
    (``recipe.unknown_score``; for ``distance`` only the detector is fitted); with it every
    candidate of :data:`~amulet_ai.training.unknown_scores.CANDIDATES` is scored. Returns
    ``{form: {score: [AUROC per class]}}``.
    """
    evaluated = evaluated if evaluated is not None else {"tight": features[:, :1]}
    cols = head_columns(recipe.detector_levels, recipe.level_channels)
    pools: dict[str, dict[str, list[float]]] = {form: {} for form in evaluated}
    for c in np.unique(labels):
        known: dict[tuple[str, str], list[np.ndarray]] = {}
        unseen: dict[tuple[str, str], list[np.ndarray]] = {}
        for test in folds:
            train = np.setdiff1d(np.arange(len(labels)), test)
            train = train[labels[train] != c]
            train_labels = np.unique(labels[train], return_inverse=True)[1]
            n_train_classes = int(train_labels.max()) + 1
            detector_only = scale is None and recipe.unknown_score == "distance"
            if not detector_only:
                parts = fit_parts(features[train], train_labels, n_train_classes, recipe)
            else:
                flat = features[train][..., cols].reshape(-1, len(cols))
                mean, std = flat.mean(axis=0), flat.std(axis=0) + 1e-6
                detector = fit_detector(
                    (features[train][..., cols] - mean) / std, train_labels, n_train_classes, recipe
                )
            for form, x in evaluated.items():
                flat_x = x[test].reshape(-1, x.shape[-1])
                if scale is not None:
                    scores = candidate_scores(components(parts, flat_x, recipe), scale)
                elif not detector_only:
                    scores = {recipe.unknown_score: predict(parts, flat_x, recipe)[1]}
                else:
                    scores = {"distance": detector.score((flat_x[:, cols] - mean) / std)}
                if x.ndim == 4:  # each picture's turns: the mean of their scores
                    shape = (len(test), x.shape[1], x.shape[2])
                    scores = {k: v.reshape(shape).mean(axis=2).ravel() for k, v in scores.items()}
                is_c = np.repeat(labels[test] == c, x.shape[1])
                for name, values in scores.items():
                    known.setdefault((form, name), []).append(values[~is_c])
                    unseen.setdefault((form, name), []).append(values[is_c])
        for (form, name), k in known.items():
            value = auroc(np.concatenate(k), np.concatenate(unseen[(form, name)]))
            pools[form].setdefault(name, []).append(value)
    return pools


def _served_ece(probs: np.ndarray, labels: np.ndarray) -> float:
    """ECE of every view of a served form ``[photos, k, classes]``."""
    k = probs.shape[1]
    return expected_calibration_error(probs.reshape(-1, probs.shape[-1]), np.repeat(labels, k))


def _per_class(
    pred: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    out = {}
    for c, name in enumerate(classes):
        tp = int(((pred == c) & (labels == c)).sum())
        out[name] = {
            "precision": tp / max(int((pred == c).sum()), 1),
            "recall": tp / max(int((labels == c).sum()), 1),
            "support": int((labels == c).sum()),
        }
    return out


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold outputs of a recipe: every photo scored by the fold that left it out."""

    logits: np.ndarray  # [photos, classes]: view 0 (the located crop), refined if asked
    scores: np.ndarray  # [photos]: unknown score of view 0
    fold_of: np.ndarray  # [photos]: the fold each photo was tested in
    served_logits: dict[str, np.ndarray]  # name -> [photos, k, classes]
    served_scores: dict[str, np.ndarray]  # name -> [photos, k]
    non_amulet_scores: list[np.ndarray]  # per fold, of the ``non_amulet`` features


def out_of_fold(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    recipe: Recipe,
    folds: list[np.ndarray],
    *,
    refine: Refine | None = None,
    served: dict[str, np.ndarray] | None = None,
    non_amulet: np.ndarray | None = None,
    each_fold: Callable[[FittedParts, np.ndarray], None] | None = None,
) -> OutOfFold:
    """Fit ``recipe`` on each fold's training photos and score its test photos: view 0 of
    ``features``, every view of each ``served`` form (``[photos, k, D]``) and, per fold,
    the ``non_amulet`` features (``[N, D]``). ``each_fold(parts, test)`` is called with
    each fold's fitted parts and test photos (before any ``refine``)."""
    oof_logits = np.zeros((len(labels), n_classes), dtype=np.float64)
    oof_scores = np.zeros(len(labels), dtype=np.float64)
    fold_of = np.zeros(len(labels), dtype=int)
    served = served or {}
    served_logits = {name: np.zeros((*x.shape[:2], n_classes)) for name, x in served.items()}
    served_scores = {name: np.zeros(x.shape[:2]) for name, x in served.items()}
    non_amulet_scores = []
    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(labels)), test)
        parts = fit_parts(features[train], labels[train], n_classes, recipe)
        oof_logits[test], oof_scores[test] = predict(parts, features[test, 0], recipe)
        if each_fold is not None:
            each_fold(parts, test)
        for name, x in served.items():
            logits, scores = predict(parts, x[test].reshape(-1, x.shape[-1]), recipe)
            served_logits[name][test] = logits.reshape(len(test), -1, n_classes)
            served_scores[name][test] = scores.reshape(len(test), -1)
        probe_acc = float((oof_logits[test].argmax(1) == labels[test]).mean())
        if refine is not None:
            oof_logits[test] = refine(train, test, parts)
        if non_amulet is not None:
            non_amulet_scores.append(predict(parts, non_amulet, recipe)[1])
        fold_of[test] = k
        acc = float((oof_logits[test].argmax(1) == labels[test]).mean())
        logger.info(
            "fold %d/%d: top-1 %.3f (linear probe %.3f) on %d photos",
            k + 1, len(folds), acc, probe_acc, len(test),
        )  # fmt: skip
    return OutOfFold(
        oof_logits, oof_scores, fold_of, served_logits, served_scores, non_amulet_scores
    )


def cross_validate(
    features: np.ndarray,
    labels: np.ndarray,
    fronts: np.ndarray,
    non_amulet: np.ndarray,
    classes: tuple[str, ...],
    recipe: Recipe,
    *,
    n_folds: int,
    seed: int,
    refine: Refine | None = None,
    served: dict[str, np.ndarray] | None = None,
    compare_scores: bool = False,
) -> dict:
    """Out-of-fold metrics of ``recipe``; returns the ``metrics.cv`` block plus the fitted
    temperature and unknown threshold (keys ``temperature``, ``threshold``).

    With ``refine``, the logits are the refined model's; the unknown score stays the
    detector's on ``features``. ``served`` names other ways the same photos reach the
    model (``[photos, k, D]`` each, e.g. the tight photo whole, or composites): their
    out-of-fold top-1 and share kept at the threshold are reported under ``served``.
    With ``compare_scores``, every candidate unknown score
    (:mod:`amulet_ai.training.unknown_scores`) is measured on the same folds, each with its
    own keep-rate threshold: :func:`compare_unknown_scores`, under ``unknown_scores``."""
    n_classes = len(classes)
    folds = stratified_folds(labels, n_folds, seed)
    served = served or {}
    compared = _Compared(len(labels), served) if compare_scores else None

    def compare(parts: FittedParts, test: np.ndarray) -> None:
        if compared is not None:
            compared.add(parts, recipe, test, features[test, 0], non_amulet)

    oof = out_of_fold(
        features, labels, n_classes, recipe, folds,
        refine=refine, served=served, non_amulet=non_amulet, each_fold=compare,
    )  # fmt: skip
    oof_logits, oof_scores, fold_of = oof.logits, oof.scores, oof.fold_of
    non_amulet_scores = oof.non_amulet_scores
    served_pred = {name: x.argmax(-1) for name, x in oof.served_logits.items()}
    served_score = oof.served_scores
    # Calibration is measured with a temperature fitted on the other folds only, on their
    # located crops as the shipped temperature is; the served forms are scaled by it too.
    cross_fitted = np.zeros_like(oof_logits)
    served_probs = {name: np.zeros_like(x) for name, x in oof.served_logits.items()}
    for k in range(n_folds):
        other = fold_of != k
        t = fit_temperature(oof_logits[other], labels[other])
        cross_fitted[fold_of == k] = softmax(oof_logits[fold_of == k], t)
        for name, x in oof.served_logits.items():
            served_probs[name][fold_of == k] = softmax(
                x[fold_of == k].reshape(-1, n_classes), t
            ).reshape(x[fold_of == k].shape)
    temperature = fit_temperature(oof_logits, labels)
    pred = oof_logits.argmax(1)
    top3 = np.argsort(-oof_logits, axis=1)[:, :3]
    threshold = keep_threshold(oof_scores, recipe.keep_rate)
    unseen = unseen_type_auroc(features, labels, folds, recipe)["tight"][recipe.unknown_score]
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    return {
        "top1": float((pred == labels).mean()),
        "top1_front": float((pred == labels)[fronts].mean()),
        "top1_back": float((pred == labels)[~fronts].mean()),
        "top3": float((top3 == labels[:, None]).any(1).mean()),
        "ece": expected_calibration_error(cross_fitted, labels),
        "ece_before_temperature": expected_calibration_error(softmax(oof_logits), labels),
        "nll": float(-np.log(cross_fitted[np.arange(len(labels)), labels] + 1e-12).mean()),
        "per_class": _per_class(pred, labels, classes),
        "confusion": confusion.tolist(),
        "unknown_auroc_non_amulet": auroc(oof_scores, np.concatenate(non_amulet_scores)),
        "unknown_auroc_non_amulet_per_fold": [
            auroc(oof_scores[fold_of == k], s) for k, s in enumerate(non_amulet_scores)
        ],
        "non_amulet_photos": len(non_amulet),
        "unknown_auroc_unseen_type": float(np.mean(unseen)),
        "unknown_auroc_unseen_type_per_class": dict(zip(classes, unseen, strict=True)),
        "non_amulet_flagged_rate": float((np.concatenate(non_amulet_scores) > threshold).mean()),
        "cv_keep_rate": float((oof_scores <= threshold).mean()),
        "served": {
            name: {
                "top1": float((served_pred[name] == labels[:, None]).mean()),
                "kept": float((served_score[name] <= threshold).mean()),
                "ece": _served_ece(served_probs[name], labels),
            }
            for name in served
        },
        "folds": n_folds,
        "temperature": temperature,
        "threshold": threshold,
        **(
            {"unknown_scores": compared.figures(features, labels, folds, recipe, temperature)}
            if compared is not None
            else {}
        ),
    }


class _Compared:
    """Out-of-fold components of the candidate unknown scores, gathered fold by fold."""

    def __init__(self, n: int, served: dict[str, np.ndarray]) -> None:
        self.rows: list[np.ndarray] = []
        self.tight: list[Components] = []
        self.non_amulet: list[Components] = []
        self.served_in = served
        self.served: dict[str, list[Components]] = {name: [] for name in served}

    def add(
        self, parts: FittedParts, recipe: Recipe, test: np.ndarray, tight: np.ndarray,
        non_amulet: np.ndarray,
    ) -> None:  # fmt: skip
        self.rows.append(test)
        self.tight.append(components(parts, tight, recipe))
        self.non_amulet.append(components(parts, non_amulet, recipe))
        for name, x in self.served_in.items():
            flat = x[test].reshape(-1, x.shape[-1])
            self.served[name].append(components(parts, flat, recipe))

    def figures(
        self, features: np.ndarray, labels: np.ndarray, folds: list[np.ndarray], recipe: Recipe,
        temperature: float,
    ) -> dict[str, dict[str, float]]:  # fmt: skip
        order = np.argsort(np.concatenate(self.rows))
        tight = Components.concat(self.tight).take(order)
        scale = fit_scale(tight, temperature)
        known = candidate_scores(tight, scale)
        non = candidate_scores(Components.concat(self.non_amulet), scale)
        served = {n: candidate_scores(Components.concat(c), scale) for n, c in self.served.items()}
        loco = unseen_type_auroc(features, labels, folds, recipe, scale=scale)["tight"]
        out = {}
        for name, scores in known.items():
            threshold = keep_threshold(scores, recipe.keep_rate)
            out[name] = {
                "unknown_auroc_unseen_type": float(np.mean(loco[name])),
                "unknown_auroc_non_amulet": auroc(scores, non[name]),
                "kept": float((scores <= threshold).mean()),
                "non_amulet_flagged_rate": float((non[name] > threshold).mean()),
                **{f"kept: {n}": float((s[name] <= threshold).mean()) for n, s in served.items()},
            }
        return out
