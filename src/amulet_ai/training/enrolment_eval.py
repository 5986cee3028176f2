"""Leave one class out, then enrol it: how well an enrolled type is found, and what it costs.

For each of the six types ``H`` and each of five stratified folds (seed 0):

1. a five-class model is fitted on the fold's training photos of the other five types with
   the served model's recipe (:func:`~amulet_ai.training.crossval.fit_parts`: softmax head
   over blocks 10/14/15 + head, nearest-reference unknown detector, standardisation). For
   model 2 (``input.backdrop`` ``grey_outside_mask``) these are the train command's views
   (:func:`~amulet_ai.training.located.training_views`, the plan in ``metadata.json``'s
   ``training``): located greyed crops, greyed composites and plain views, with its
   detector references. For an ``as_is`` model (1.2.0) they are each photo and its mirror
   image (1.2.0 also trained on 14 augmented views; left out to keep the 30 fits short);
2. ``H`` is enrolled from ``k`` of its training photos (drawn at random, several draws);
3. the fold's test photos of all six types are classified with
   :class:`~amulet_ai.model.enrolment.EnrolmentRule`, the rule the service runs.

Enrolled and test photos are seen as the API sees them with ``locate=auto`` (the default
of ``AMULET_LOCATE``): each goes through :func:`amulet_ai.serving.locating.prepare` with the
served model and its localiser, the path of enrolment and of predictions, and the picture
it yields is embedded by the frozen backbone (:func:`served_features`).

Reported: the enrolled type's recall and precision, and the five types' top-1 without and
with the enrolled type, pooled over types, folds and draws. Also the share of held-out type
photos and of non-amulet pictures (:mod:`~amulet_ai.training.nonamulet`) that enrolment
refuses, by the service's rule: refused where the localiser does not judge the photo
(``no_amulet``, ``too_small``, ``too_blurred``: no prediction of it would be judged either)
or where its unknown score is above ``NOT_AN_AMULET_FACTOR`` times the threshold
(``not_an_amulet``; held-out photos scored by the fold's five-class detector, non-amulet
pictures by the served model through the same ``prepare``, both against the served model's
threshold); each of the two checks' share is reported too.
Torch (the train extra) computes the frozen features (model 2's training views come from
the train command's cache when it has them); everything after is numpy.

Example::

    python production_runner.py evaluate --enrolment --data ../shared/data/amulets
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from amulet_ai.imaging.decode import DecodedImage, decode_image, to_tensor
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.enrolment import NOT_AN_AMULET_FACTOR, EnrolmentRule, rms_distances
from amulet_ai.model.results import LocateMode
from amulet_ai.serving.locating import PreparedPhoto, prepare
from amulet_ai.training.crossval import (
    Recipe,
    UnknownScore,
    fit_parts,
    head_columns,
    predict,
    stratified_folds,
)
from amulet_ai.training.data import Dataset, fingerprint, load_dataset

logger = logging.getLogger(__name__)

KS = (3, 5, 10)
DRAWS = 5
FOLDS = 5
SEED = 0
CACHE_DIR = Path.home() / ".cache" / "amulet_ai"  # the train command's default


@dataclass(frozen=True)
class EnrolmentFeatures:
    """Pooled frozen features of every photo: the views a fold's model is fitted on
    (``[photos, views, D]``, the detector's references first) and the picture the API
    judges (``[photos, D]``); and whether the API judges each photo where it found the
    amulet (``[photos]``, its location ``found`` or ``whole_photo``)."""

    training: np.ndarray
    served: np.ndarray
    references: int
    judged: np.ndarray


def served_photos(
    classifier: AmuletClassifier, contents: Sequence[bytes], locate: LocateMode = "auto"
) -> list[PreparedPhoto]:
    """What the API makes of each photo with ``locate``, by
    :func:`~amulet_ai.serving.locating.prepare`: the picture it classifies and embeds (the
    located crop, greyed when the model says so, or the whole photo) and its location."""
    return [prepare(classifier, _source(c), locate) for c in contents]


def served_pictures(
    classifier: AmuletClassifier, contents: Sequence[bytes], locate: LocateMode = "auto"
) -> list[DecodedImage]:
    """The picture of each of :func:`served_photos`."""
    return [p.picture for p in served_photos(classifier, contents, locate)]


def _source(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def served_features(
    classifier: AmuletClassifier, contents: Sequence[bytes], locate: LocateMode = "auto"
) -> np.ndarray:
    """Pooled frozen features ``[photos, D]`` of :func:`served_pictures`."""
    return _embedded(served_pictures(classifier, contents, locate))


def _embedded(pictures: Sequence[DecodedImage]) -> np.ndarray:
    from amulet_ai.training.activations import embed_with_cut
    from amulet_ai.training.features import load_backbone

    return embed_with_cut(load_backbone(), np.stack([to_tensor(p.image) for p in pictures]))[0]


def mirror_features(dataset: Dataset) -> np.ndarray:
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


def photo_features(
    dataset: Dataset, classifier: AmuletClassifier, *, cache_dir: Path | None = CACHE_DIR
) -> EnrolmentFeatures:
    """The features :func:`evaluate_enrolment` reads, for the recipe of ``classifier``
    (loaded with its localiser) and the photos as it serves them with ``locate=auto``."""
    contents = [p.path.read_bytes() for p in dataset.photos]
    photos = served_photos(classifier, contents)
    served = _embedded([p.picture for p in photos])
    judged = np.array([p.location.judged for p in photos])
    meta = classifier.metadata
    if meta.input.backdrop != "grey_outside_mask" or classifier.localiser is None:
        return EnrolmentFeatures(mirror_features(dataset), served, 2, judged)
    from amulet_ai.training.features import load_backbone
    from amulet_ai.training.located import ViewPlan, extract_located_views, training_views

    training = meta.training
    raw = int(training.get("raw_views_per_photo", ViewPlan.raw))
    plan = ViewPlan(
        located=int(training.get("views_per_photo", ViewPlan.located)),
        composites=int(training.get("composites_per_photo", ViewPlan.composites)),
        raw=max(1, raw),
    )
    views = extract_located_views(
        load_backbone(), classifier.localiser, dataset, plan,
        seed=int(training.get("seed", SEED)), fingerprint=fingerprint(dataset),
        cache_dir=cache_dir,
    )  # fmt: skip
    feats, refs = training_views(views, raw=raw, raw_references=True)
    return EnrolmentFeatures(feats, served, refs, judged)


def recipe_of(classifier: AmuletClassifier, references: int) -> Recipe:
    """The five-class models' recipe: the served model's head penalty and unknown score
    (``distance`` for a model whose metadata names none), ``references`` detector views per
    photo."""
    score: UnknownScore = (
        "predicted_class_distance"
        if getattr(classifier.metadata.unknown, "score", "distance") == "predicted_class_distance"
        else "distance"
    )
    return Recipe(l2=float(classifier.metadata.training.get("l2", Recipe.l2)),
                  detector_views=references, unknown_score=score)  # fmt: skip


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
    served: np.ndarray | None = None,
    ks: Sequence[int] = KS,
    draws: int = DRAWS,
    recipe: Recipe | None = None,
) -> list[dict[str, Any]]:
    """The figures of the module docstring per rule and ``k``.

    ``feats`` ``[photos, views, D]`` are what the folds' models are fitted on, ``served``
    ``[photos, D]`` what is enrolled and classified (default: view 0); both from
    :func:`photo_features`. Every rule sees the same fits and the same draws."""
    recipe = recipe or Recipe()
    served = feats[:, 0] if served is None else served
    cols = head_columns(recipe.detector_levels, recipe.level_channels)
    n_classes = int(labels.max()) + 1
    rng = np.random.default_rng(SEED)
    # Per rule and k: true positives, predicted as held, held, five right with, without.
    tallies = {(r, k): np.zeros(5) for r in range(len(rules)) for k in ks}
    five_total = 0
    held_scores: list[np.ndarray] = []
    held_photos: list[np.ndarray] = []
    for held in range(n_classes):
        for fold, test in enumerate(stratified_folds(labels, FOLDS, SEED)):
            train = np.setdiff1d(np.arange(len(labels)), test)
            parts, mapping = _fold_parts(feats, labels, held, train, recipe)
            logger.info("held out %d, fold %d: five-class model fitted", held, fold + 1)
            x = served[test]
            logits, unknown = predict(parts, x, recipe)
            probs = _softmax(logits)
            z = (x[:, cols] - parts.feature_mean) / parts.feature_std
            truth = labels[test]
            is_held = truth == held
            held_scores.append(unknown[is_held])
            held_photos.append(test[is_held])
            without = mapping[np.argmax(probs, axis=1)]
            five_total += int((~is_held).sum()) * draws * len(ks)
            pool = train[labels[train] == held]
            for k in ks:
                for _ in range(draws):
                    enrolled = rng.choice(pool, size=min(k, len(pool)), replace=False)
                    e = (served[enrolled][:, cols] - parts.feature_mean) / parts.feature_std
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
    photos = np.concatenate(held_photos)
    return [
        {
            "rule": {"margin": rule.margin, "temperature": rule.temperature},
            "folds": FOLDS,
            "draws": draws,
            "held_out_unknown_scores": scores.tolist(),
            "held_out_photos": photos.tolist(),
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


def _png(picture: Image.Image) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    return buf.getvalue()


def refusals(
    held_out_scores: np.ndarray,
    classifier: AmuletClassifier,
    held_out_judged: np.ndarray | None = None,
) -> dict[str, Any]:
    """Shares enrolment refuses, by the service's rule, of the held-out type photos (their
    unknown scores, and whether the API judges each where it found the amulet; default: all
    judged) and of the non-amulet pictures, the latter scored by ``classifier`` on what the
    API makes of each (as PNG) with ``locate=auto``; with each check's own share and the
    localiser's answer on each picture."""
    from amulet_ai.training.nonamulet import non_amulet_images

    contents = [_png(img) for img in non_amulet_images()]
    prepared = served_photos(classifier, contents)
    scores = classifier.score([p.picture for p in prepared])
    non_amulet = np.array([s.unknown_score for s in scores])
    status = np.array([p.location.status for p in prepared])
    unjudged = ~np.array([p.location.judged for p in prepared])
    limit = NOT_AN_AMULET_FACTOR * classifier.threshold
    far = non_amulet > limit
    held_far = held_out_scores > limit
    held_unjudged = (
        np.zeros(len(held_out_scores), bool) if held_out_judged is None else ~held_out_judged
    )
    states, counts = np.unique(status, return_counts=True)
    found = status == "found"
    return {
        "rule": "no_amulet, too_small or too_blurred (the localiser's answer: not judged), "
        "else not_an_amulet (farther than factor x threshold from every known photo)",
        "factor": NOT_AN_AMULET_FACTOR,
        "limit": limit,
        "held_out_refused": float((held_far | held_unjudged).mean()),
        "held_out_not_judged": float(held_unjudged.mean()),
        "held_out_far": float(held_far.mean()),
        "held_out_max_over_threshold": float(held_out_scores.max() / classifier.threshold),
        "non_amulet_refused": float((far | unjudged).mean()),
        "non_amulet_not_judged": float(unjudged.mean()),
        "non_amulet_far": float(far.mean()),
        "non_amulet_min_over_threshold": float(non_amulet.min() / classifier.threshold),
        "non_amulet_pictures": len(non_amulet),
        "non_amulet_over_threshold": sorted((non_amulet / classifier.threshold).tolist()),
        "non_amulet_localiser": {str(s): int(n) for s, n in zip(states, counts, strict=True)},
        "non_amulet_found_min_over_threshold": float(non_amulet[found].min() / classifier.threshold)
        if found.any()
        else None,
    }


def format_refusals(r: dict[str, Any]) -> str:
    """The lines :func:`refusals` prints: the served rule's shares, then each check's."""
    return (
        f"\nrefused at enrolment ({r['rule']}; factor {r['factor']:g}, limit {r['limit']:.3f}):"
        f"\n  held-out type photos {r['held_out_refused']:.3f} (not judged "
        f"{r['held_out_not_judged']:.3f}, far {r['held_out_far']:.3f}, max "
        f"{r['held_out_max_over_threshold']:.3f} x threshold)"
        f"\n  non-amulet pictures {r['non_amulet_refused']:.3f} of "
        f"{r['non_amulet_pictures']:.0f} (not judged {r['non_amulet_not_judged']:.3f}, far "
        f"{r['non_amulet_far']:.3f}, min {r['non_amulet_min_over_threshold']:.3f} x threshold)"
        f"\n  localiser on the non-amulet pictures: {r['non_amulet_localiser']}"
    )


def enrolment_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Leave one class out, enrol it, measure.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/")
    parser.add_argument("--margin", type=float, nargs="*", default=None)
    parser.add_argument("--temperature", type=float, nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR,
                        help="the train command's feature cache (model 2's views)")  # fmt: skip
    parser.add_argument("--no-cache", action="store_true", help="recompute model 2's views")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    dataset = load_dataset(args.data)
    classifier = AmuletClassifier.load(args.model_dir, warmup_runs=0, with_localiser=True)
    features = photo_features(
        dataset, classifier, cache_dir=None if args.no_cache else args.cache_dir
    )
    labels = np.asarray(dataset.labels)
    default = EnrolmentRule()
    rules = [
        EnrolmentRule(margin=margin, temperature=temperature)
        for margin in args.margin or [default.margin]
        for temperature in args.temperature or [default.temperature]
    ]
    meta = classifier.metadata
    print(  # noqa: T201
        f"model {meta.version} ({meta.input.backdrop}): {features.training.shape[1]} views "
        f"per photo, {features.references} detector references"
    )
    results = evaluate_enrolment(
        features.training, labels, rules, served=features.served,
        recipe=recipe_of(classifier, features.references),
    )  # fmt: skip
    for rule, result in zip(rules, results, strict=True):
        print(f"\nmargin {rule.margin:g}, temperature {rule.temperature:g}")  # noqa: T201
        print(format_enrolment(result))  # noqa: T201
    held = np.asarray(results[0]["held_out_photos"])
    refused = refusals(
        np.asarray(results[0]["held_out_unknown_scores"]), classifier, features.judged[held]
    )
    print(format_refusals(refused))  # noqa: T201
    for result in results:
        result["model"] = {
            "version": classifier.metadata.version,
            "backdrop": classifier.metadata.input.backdrop,
            "locate": "auto" if classifier.localiser is not None else "off",
            "views_per_photo": int(features.training.shape[1]),
            "references_per_photo": features.references,
        }
        result["refused"] = refused
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(enrolment_main())
