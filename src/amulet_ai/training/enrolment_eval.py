"""Leave one class out, then enrol it: how well an enrolled type is found, and what it costs.

For each of the six types ``H`` and each of five stratified folds (seed 0):

1. a five-class model is fitted on the fold's training photos of the other five types with
   the shipped recipe (:func:`~amulet_ai.training.crossval.fit_parts`: softmax head over
   blocks 10/14/15 + head, nearest-reference unknown detector, standardisation), on each
   photo and its mirror image (the shipped model also trains on 14 augmented views; left
   out here to keep the 30 fits within a minute);
2. ``H`` is enrolled from ``k`` of its training photos (drawn at random, several draws);
3. the fold's test photos of all six types are classified with
   :class:`~amulet_ai.model.enrolment.EnrolmentRule`, the rule the service runs.

Reported: the enrolled type's recall and precision, and the five types' top-1 without and
with the enrolled type, pooled over types, folds and draws. Also the share of held-out type
photos and of non-amulet pictures (:mod:`~amulet_ai.training.nonamulet`) that enrolment
would refuse as "not an amulet" (unknown score above ``NOT_AN_AMULET_FACTOR`` times the
threshold; held-out photos scored by the fold's five-class detector, both against the
shipped model's threshold). Torch (the train extra) computes
the frozen features once (about 20 s); everything after is numpy.

Example::

    python production_runner.py evaluate --enrolment --data ../shared/data/amulets
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amulet_ai.imaging.decode import decode_image, to_tensor
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.enrolment import NOT_AN_AMULET_FACTOR, EnrolmentRule, rms_distances
from amulet_ai.training.crossval import Recipe, fit_parts, head_columns, stratified_folds
from amulet_ai.training.data import Dataset, load_dataset

logger = logging.getLogger(__name__)

KS = (3, 5, 10)
DRAWS = 5
FOLDS = 5
SEED = 0


def photo_features(dataset: Dataset) -> np.ndarray:
    """Pooled frozen features of each photo and its mirror image: ``[photos, 2, 1904]``."""
    import torch

    from amulet_ai.training.features import load_backbone, pool_levels

    backbone = load_backbone()
    out = []
    with torch.no_grad():
        for photo in dataset.photos:
            x = to_tensor(decode_image(photo.path.read_bytes()).image)
            pair = torch.from_numpy(np.stack([x, x[:, :, ::-1].copy()]))
            out.append(pool_levels(backbone(pair)).numpy())
    return np.stack(out)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return result


def _fold_parts(
    feats: np.ndarray, labels: np.ndarray, held: int, train: np.ndarray, recipe: Recipe
) -> tuple[Any, np.ndarray]:
    """Five-class parts fitted on ``train`` photos not of ``held``; and the label map."""
    five = train[labels[train] != held]
    mapping = np.array([c for c in range(labels.max() + 1) if c != held])
    remapped = np.searchsorted(mapping, labels[five])
    return fit_parts(feats[five], remapped, len(mapping), recipe), mapping


def evaluate_enrolment(
    feats: np.ndarray,
    labels: np.ndarray,
    rules: Sequence[EnrolmentRule],
    *,
    ks: Sequence[int] = KS,
    draws: int = DRAWS,
    recipe: Recipe | None = None,
) -> list[dict[str, Any]]:
    """The figures of the module docstring per rule and ``k``; ``feats`` from
    :func:`photo_features`. Every rule sees the same fits and the same draws."""
    recipe = recipe or Recipe()
    cols = head_columns(recipe.detector_levels)
    n_classes = int(labels.max()) + 1
    rng = np.random.default_rng(SEED)
    # Per rule and k: true positives, predicted as held, held, five right with, without.
    tallies = {(r, k): np.zeros(5) for r in range(len(rules)) for k in ks}
    five_total = 0
    held_scores: list[np.ndarray] = []
    for held in range(n_classes):
        for test in stratified_folds(labels, FOLDS, SEED):
            train = np.setdiff1d(np.arange(len(labels)), test)
            parts, mapping = _fold_parts(feats, labels, held, train, recipe)
            x = feats[test, 0]
            probs = _softmax(parts.head.logits(x[:, head_columns(recipe.head_levels)]))
            z = (x[:, cols] - parts.feature_mean) / parts.feature_std
            unknown = parts.detector.score(z)
            truth = labels[test]
            is_held = truth == held
            held_scores.append(unknown[is_held])
            without = mapping[np.argmax(probs, axis=1)]
            five_total += int((~is_held).sum()) * draws * len(ks)
            pool = train[labels[train] == held]
            for k in ks:
                for _ in range(draws):
                    enrolled = rng.choice(pool, size=min(k, len(pool)), replace=False)
                    e = (feats[enrolled, 0][:, cols] - parts.feature_mean) / parts.feature_std
                    e = e.astype(np.float32)
                    d = rms_distances(z, e, (e.astype(np.float64) ** 2).sum(1)).min(axis=1)
                    for r, rule in enumerate(rules):
                        top = _tops(rule, probs, unknown, d, mapping, held)
                        t = tallies[(r, k)]
                        t[0] += int((top[is_held] == held).sum())
                        t[1] += int((top == held).sum())
                        t[2] += int(is_held.sum())
                        t[3] += int((top[~is_held] == truth[~is_held]).sum())
                        t[4] += int((without[~is_held] == truth[~is_held]).sum())
    scores = np.concatenate(held_scores)
    return [
        {
            "rule": {"margin": rule.margin, "temperature": rule.temperature},
            "folds": FOLDS,
            "draws": draws,
            "held_out_unknown_scores": scores.tolist(),
            "per_k": {str(k): _figures(tallies[(r, k)], five_total // len(ks)) for k in ks},
        }
        for r, rule in enumerate(rules)
    ]


def _tops(
    rule: EnrolmentRule,
    probs: np.ndarray,
    unknown: np.ndarray,
    distances: np.ndarray,
    mapping: np.ndarray,
    held: int,
) -> np.ndarray:
    tops = []
    for i in range(len(probs)):
        combined = rule.combine(probs[i], float(unknown[i]), distances[i : i + 1])
        best = int(np.argmax(combined))
        tops.append(held if best == len(mapping) else int(mapping[best]))
    return np.array(tops)


def _figures(t: np.ndarray, five_total: int) -> dict[str, float]:
    return {
        "recall": float(t[0] / t[2]),
        "precision": float(t[0] / t[1]) if t[1] else 0.0,
        "five_top1_with": float(t[3] / five_total),
        "five_top1_without": float(t[4] / five_total),
    }


def format_enrolment(result: dict[str, Any]) -> str:
    """A markdown table of :func:`evaluate_enrolment`'s figures."""
    lines = [
        "| k | enrolled recall | enrolled precision | five types top-1 without | with |",
        "|---|---|---|---|---|",
    ]
    for k, row in result["per_k"].items():
        lines.append(
            f"| {k} | {row['recall']:.3f} | {row['precision']:.3f} | "
            f"{row['five_top1_without']:.3f} | {row['five_top1_with']:.3f} |"
        )
    return "\n".join(lines)


def refusals(held_out_scores: np.ndarray) -> dict[str, float]:
    """Shares refused as not an amulet: held-out type photos and non-amulet pictures."""
    from amulet_ai.training.nonamulet import non_amulet_images

    model = AmuletClassifier.load(warmup_runs=0)
    batch = np.stack([to_tensor(img) for img in non_amulet_images()])
    non_amulet = model.run(batch)[1]
    limit = NOT_AN_AMULET_FACTOR * model.threshold
    return {
        "factor": NOT_AN_AMULET_FACTOR,
        "limit": limit,
        "held_out_refused": float((held_out_scores > limit).mean()),
        "held_out_max_over_threshold": float(held_out_scores.max() / model.threshold),
        "non_amulet_refused": float((non_amulet > limit).mean()),
        "non_amulet_min_over_threshold": float(non_amulet.min() / model.threshold),
        "non_amulet_pictures": len(non_amulet),
    }


def format_refusals(r: dict[str, float]) -> str:
    return (
        f"\nrefused as not an amulet (score > {r['factor']:g} x threshold = {r['limit']:.3f}): "
        f"held-out type photos {r['held_out_refused']:.3f} "
        f"(max {r['held_out_max_over_threshold']:.3f} x threshold), "
        f"non-amulet pictures {r['non_amulet_refused']:.3f} of "
        f"{r['non_amulet_pictures']:.0f} (min {r['non_amulet_min_over_threshold']:.3f} x threshold)"
    )


def enrolment_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Leave one class out, enrol it, measure.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--margin", type=float, nargs="*", default=None)
    parser.add_argument("--temperature", type=float, nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    dataset = load_dataset(args.data)
    feats = photo_features(dataset)
    labels = np.asarray(dataset.labels)
    default = EnrolmentRule()
    rules = [
        EnrolmentRule(margin=margin, temperature=temperature)
        for margin in args.margin or [default.margin]
        for temperature in args.temperature or [default.temperature]
    ]
    results = evaluate_enrolment(feats, labels, rules)
    for rule, result in zip(rules, results, strict=True):
        print(f"\nmargin {rule.margin:g}, temperature {rule.temperature:g}")  # noqa: T201
        print(format_enrolment(result))  # noqa: T201
    refused = refusals(np.asarray(results[0]["held_out_unknown_scores"]))
    print(format_refusals(refused))  # noqa: T201
    for result in results:
        result["refused"] = refused
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(enrolment_main())
