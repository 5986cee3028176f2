"""Classifier on the located crop: raw crop against backdrop greyed by the mask, measured.

Five-fold CV on the classifier's folds, frozen Lite0 features (the 1.2.0 recipe: softmax
regression on blocks 10, 14, 15 and the head; nearest-reference unknown score on blocks
10, 14, 15), for these training and serving configurations:

* ``raw``: tight photo views only, crops served as cut (the model as trained today);
* ``raw+composites``: plus crops of training-family scenes, cut at the true box + margin;
* ``grey``: tight views with the cloth outside the cut-out mask set to the neutral grey,
  crops served with everything outside the localiser's mask grey;
* ``grey+composites``: plus greyed composite crops (also among the unknown references);
* ``grey+composites, no mirror``: the same without the mirror view in training;
* the shipped recipe (always measured; the five above with ``--all-configs``): the train
  command's own training views (:mod:`amulet_ai.training.located`, its cache), tight
  photos as served with ``locate=auto``.

``--backbone`` (as the train command's) chooses the frozen network; with ``lite2`` or
``lite0+lite2`` only the shipped recipe is measured (its scene crops at the backbone's input
size, 260 px), and the features are cached under their own key.

Test scenes are test-family scenes of the fold's photos on a 2000 x 1500 canvas (the
quarter-scale decode of a 12 MP photo has the same 1000 x 750 pixels), located by the
shipped localiser through the serving decode. Figures: tight top-1 (fronts), scene top-1,
scene right-and-kept, kept, held-out type AUROC (leave one class out) on tight crops and on
scenes, and non-amulet AUROC.

These scene crops come from the 1000 x 750 decode with the localiser's zoom pass always on,
every scene cropped. ``--served`` also sends the same scenes through the serving path
(:mod:`amulet_ai.training.served_scenes`: ``serving.locating.prepare`` with
``locate=auto``) and scores what it returns with the shipped recipe's folds: the report's
``served_scenes``, with the share of scenes on each path. ``--compare-unknown-scores``
measures every candidate unknown score (:mod:`amulet_ai.training.unknown_scores`) of the
shipped recipe on the same folds, each with its own keep-rate threshold: the report's
``unknown_scores``.

Run::

    python -m amulet_ai.training.crops --data ../shared/data/amulets [--served]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from PIL import Image

from amulet_ai.config import DEFAULT_MODEL_DIR, Settings
from amulet_ai.imaging.decode import NEUTRAL_BACKGROUND, DecodedImage, decode_picture, to_tensor
from amulet_ai.model.localiser import (
    LOCALISER_METADATA,
    Localiser,
    LocaliserMetadata,
    Location,
    square_crop,
)
from amulet_ai.training.activations import embed_with_cut
from amulet_ai.training.augment import views
from amulet_ai.training.backdrops import TEST_FAMILIES, TRAIN_FAMILIES
from amulet_ai.training.calibration import expected_calibration_error, fit_temperature, softmax
from amulet_ai.training.crossval import (
    FittedParts,
    Recipe,
    components,
    fit_parts,
    predict,
    stratified_folds,
    unseen_type_auroc,
)
from amulet_ai.training.cutout import CutOut, cut_out_all
from amulet_ai.training.data import fingerprint, load_dataset
from amulet_ai.training.features import (
    BACKBONES,
    DEFAULT_BACKBONE,
    BackboneSpec,
    feature_columns,
    load_backbone,
    spec,
)
from amulet_ai.training.nonamulet import non_amulet_images
from amulet_ai.training.scene_report import REPORT_SCENES, located_scenes, write_scene_report
from amulet_ai.training.scenes import make_scene, scene_specs
from amulet_ai.training.served_scenes import (
    AlwaysCropped,
    ServedScenes,
    load_served_classifier,
    phone_scene,
    served_features,
    served_figures,
)
from amulet_ai.training.unknown import auroc, keep_threshold
from amulet_ai.training.unknown_scores import Components, ScoreScale, candidate_scores, fit_scale

logger = logging.getLogger(__name__)

CACHE_VERSION: Final = "crops-v1"
MARGIN: Final = 0.08
SCENE_REPORT_DIR: Final = Path("build") / "report" / "scenes"  # git-ignored


def greyed(cut: CutOut) -> Image.Image:
    """The photo with everything outside its cut-out mask neutral grey (whole photo when the
    cut-out was rejected: its mask is not trusted)."""
    if not cut.ok:
        return Image.fromarray(cut.image)
    out = cut.image.copy()
    out[~cut.mask] = NEUTRAL_BACKGROUND
    return Image.fromarray(out)


def _embed(backbone: Any, images: list[Image.Image]) -> np.ndarray:
    return embed_with_cut(backbone, np.stack([to_tensor(i) for i in images]))[0]


def _cache_file(args: argparse.Namespace, fp: str, backbone: BackboneSpec) -> Path:
    # The scene crops and statuses are the localiser's: its graph, the input it runs at and
    # the rules that decide its statuses and boxes are in the key, and its version, which
    # changes with rules the code holds (1.1.2: each axis its own scale).
    folder = Path(args.localiser) if args.localiser is not None else DEFAULT_MODEL_DIR
    meta = LocaliserMetadata.load(folder / LOCALISER_METADATA)
    runs_at = (meta.version, meta.onnx_sha256, meta.multiple, meta.run_size, meta.min_run_size,
               meta.zoom_size)  # fmt: skip
    decides = (meta.threshold, meta.min_box_fraction, meta.min_box_pixels, meta.min_sharpness,
               meta.small_threshold, meta.min_small_peak, meta.small_alone,
               meta.min_lowres_peak, meta.margin)  # fmt: skip
    key: tuple[object, ...] = (CACHE_VERSION, fp, args.seed, args.views, args.composites,
                               args.scenes, runs_at, decides)  # fmt: skip
    if backbone.name != DEFAULT_BACKBONE:  # Lite0's key is the one model 2.0.0's cache has
        key = (*key, backbone.name)
    name = f"crops-{hashlib.sha256(repr(key).encode()).hexdigest()[:16]}.npz"
    return Path(args.cache_dir) / name


def _load(cache: Path, columns: slice = slice(None)) -> dict[str, Any]:
    with np.load(cache, allow_pickle=False) as data:
        return {
            k: data[k][..., columns] if data[k].dtype == np.float32 else data[k] for k in data.files
        }


def compute_features(args: argparse.Namespace) -> dict[str, Any]:
    """All feature sets (cached): tight views raw and greyed, composite crops raw and
    greyed, located test-scene crops raw and greyed with their statuses, non-amulets.
    With a backbone other than Lite0: the greyed scene crops and non-amulets only (what the
    shipped recipe is measured on), at its input size."""
    dataset = load_dataset(args.data)
    fp = fingerprint(dataset)
    backbone_spec = spec(args.backbone)
    cache = _cache_file(args, fp, backbone_spec)
    if cache.is_file():
        return _load(cache)
    for other in BACKBONES.values():
        columns = feature_columns(backbone_spec, other) if other != backbone_spec else None
        if columns is not None and _cache_file(args, fp, other).is_file():
            return _load(_cache_file(args, fp, other), columns)
    lite0 = backbone_spec.name == DEFAULT_BACKBONE
    size = backbone_spec.input_size
    backbone = load_backbone(args.backbone)
    localiser = Localiser.load(args.localiser)
    cuts, _ = cut_out_all(dataset.photos)
    n = len(cuts)
    out: dict[str, Any] = {
        "labels": np.array(dataset.labels),
        "fronts": np.array([p.side == "front" for p in dataset.photos]),
    }
    tight_raw, tight_grey, comp_raw, comp_grey = [], [], [], []
    scene_raw: list[np.ndarray] = []
    scene_grey: list[np.ndarray] = []
    scene_status: list[str] = []
    scene_iou: list[float] = []
    train_specs = scene_specs(list(range(n)), tuple(TRAIN_FAMILIES), args.composites)
    test_specs = scene_specs(list(range(n)), tuple(TEST_FAMILIES), args.scenes)
    started = time.monotonic()
    for i, cut in enumerate(cuts):
        if not lite0:
            scene_grey.append(_scene_crops(args, localiser, backbone, cut, i, test_specs,
                                           scene_status, scene_iou))  # fmt: skip
            continue
        rng = np.random.default_rng([args.seed, i])
        tight_raw.append(_embed(backbone, views(Image.fromarray(cut.image), args.views, rng)))
        rng = np.random.default_rng([args.seed, i])
        tight_grey.append(_embed(backbone, views(greyed(cut), args.views, rng)))
        raws, greys = [], []
        for train_spec in (s for s in train_specs if s[0] == i):
            scene = make_scene(
                cut, photo=i, number=train_spec[1], family=train_spec[2], seed=args.seed + 1
            )
            pic = DecodedImage(scene.image, *scene.image.size, "JPEG")
            truth = Location("found", None, scene.box, scene.mask, 1.0)
            raws.append(square_crop(pic, truth, margin=MARGIN, grey_outside=False))
            greys.append(square_crop(pic, truth, margin=MARGIN, grey_outside=True))
        comp_raw.append(_embed(backbone, raws))
        comp_grey.append(_embed(backbone, greys))
        raws, greys = [], []
        for test_spec in (s for s in test_specs if s[0] == i):
            scene = phone_scene(cut, i, test_spec[1], test_spec[2], args.seed)
            pic = decode_picture(scene.jpeg)
            loc = localiser.locate(pic)
            scene_status.append(loc.status)
            scene_iou.append(_iou(loc, scene.box))
            raws.append(square_crop(pic, loc, margin=MARGIN, grey_outside=False))
            greys.append(square_crop(pic, loc, margin=MARGIN, grey_outside=True))
        scene_raw.append(_embed(backbone, raws))
        scene_grey.append(_embed(backbone, greys))
        if (i + 1) % 10 == 0:
            logger.info("crops: %d/%d photos (%.0f s)", i + 1, n, time.monotonic() - started)
    if not lite0:
        out.update(
            scene_grey=np.stack(scene_grey),
            scene_status=np.array(scene_status).reshape(n, -1),
            scene_iou=np.array(scene_iou).reshape(n, -1),
        )
        _non_amulets(out, localiser, backbone, size)
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **out)
        return out
    out.update(
        tight_raw=np.stack(tight_raw),
        tight_grey=np.stack(tight_grey),
        comp_raw=np.stack(comp_raw),
        comp_grey=np.stack(comp_grey),
        scene_raw=np.stack(scene_raw),
        scene_grey=np.stack(scene_grey),
        scene_status=np.array(scene_status).reshape(n, -1),
        scene_iou=np.array(scene_iou).reshape(n, -1),
    )
    pictures = non_amulet_images()
    out["non_amulet_raw"] = _embed(backbone, pictures)
    grey_pics, found = [], []
    for picture in pictures:
        pic = DecodedImage(picture, *picture.size, "PNG")
        loc = localiser.locate(pic)
        found.append(loc.status != "no_amulet")
        grey_pics.append(square_crop(pic, loc, margin=MARGIN, grey_outside=True))
    out["non_amulet_grey"] = _embed(backbone, grey_pics)
    out["non_amulet_located"] = np.array(found)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def _scene_crops(
    args: argparse.Namespace, localiser: Localiser, backbone: Any, cut: CutOut, index: int,
    test_specs: list[tuple[int, int, str]], status: list[str], ious: list[float],
) -> np.ndarray:  # fmt: skip
    """Features of photo ``index``'s located, greyed test-scene crops at the backbone's input
    size (the same scenes as Lite0's), appending their statuses and box IoUs."""
    size = backbone.spec.input_size
    greys = []
    for spec_ in (s for s in test_specs if s[0] == index):
        scene = phone_scene(cut, index, spec_[1], spec_[2], args.seed)
        pic = decode_picture(scene.jpeg)
        loc = localiser.locate(pic)
        status.append(loc.status)
        ious.append(_iou(loc, scene.box))
        greys.append(square_crop(pic, loc, size=size, margin=MARGIN, grey_outside=True))
    return _embed(backbone, greys)


def _non_amulets(out: dict[str, Any], localiser: Localiser, backbone: Any, size: int) -> None:
    """Greyed located crops of the non-amulet pictures, and whether the localiser found an
    amulet in each."""
    grey_pics, found = [], []
    for picture in non_amulet_images():
        pic = DecodedImage(picture, *picture.size, "PNG")
        loc = localiser.locate(pic)
        found.append(loc.status != "no_amulet")
        grey_pics.append(square_crop(pic, loc, size=size, margin=MARGIN, grey_outside=True))
    out["non_amulet_grey"] = _embed(backbone, grey_pics)
    out["non_amulet_located"] = np.array(found)


def _iou(loc: Location, truth: tuple[int, ...]) -> float:
    if loc.box is None:
        return 0.0
    b = loc.box
    w = min(b.x + b.width, truth[2]) - max(b.x, truth[0])
    h = min(b.y + b.height, truth[3]) - max(b.y, truth[1])
    inter = max(0, w) * max(0, h)
    union = b.width * b.height + (truth[2] - truth[0]) * (truth[3] - truth[1]) - inter
    return inter / union if union else 0.0


CONFIGS: Final = {
    "raw": ("raw", False, True),
    "raw+composites": ("raw", True, True),
    "grey": ("grey", False, True),
    "grey+composites": ("grey", True, True),
    "grey+composites, no mirror": ("grey", True, False),
}


def _training(
    f: dict[str, Any], kind: str, composites: bool, mirror: bool
) -> tuple[np.ndarray, int]:
    """Training views ``[photos, views, D]`` and how many of the first views per photo are
    the unknown detector's references: the photo, its mirror (``mirror``), the composites
    (``composites``); the random tight views come last and only train the head."""
    tight = f[f"tight_{kind}"]
    first = tight[:, :2] if mirror else tight[:, :1]
    parts = [first, f[f"comp_{kind}"]] if composites else [first]
    refs = sum(p.shape[1] for p in parts)
    return np.concatenate([*parts, tight[:, 2:]], axis=1), refs


def measure(
    f: dict[str, Any],
    name: str,
    n_folds: int,
    seed: int,
    shipped: tuple[np.ndarray, int, np.ndarray] | None = None,
    backbone: BackboneSpec | None = None,
    head: Recipe | None = None,
    served: ServedScenes | None = None,
    compare: bool = False,
) -> dict[str, Any]:
    """Out-of-fold figures of one configuration; ``shipped`` is the train command's own
    training views, reference count and tight photos as served (located, greyed); the
    head's L2 and label smoothing are ``head``'s. With ``served`` (the test scenes through
    the serving path), ``"served"`` holds their figures
    (:func:`~amulet_ai.training.served_scenes.served_figures`), scored by the same folds.
    With ``compare``, ``"unknown_scores"`` holds every candidate unknown score's figures
    (:class:`_Compared`), each with its own keep-rate threshold."""
    if shipped is None:
        kind, composites, mirror = CONFIGS[name]
        feats, refs = _training(f, kind, composites, mirror)
        tight = f[f"tight_{kind}"][:, 0]
    else:
        kind = "grey"
        feats, refs, tight = shipped
    labels, fronts = f["labels"], f["fronts"]
    n_classes = int(labels.max()) + 1
    recipe = replace(head or Recipe(), detector_views=refs)
    if backbone is not None:
        recipe = replace(
            recipe, head_levels=backbone.head_levels, detector_levels=backbone.detector_levels,
            level_channels=backbone.level_channels,
        )  # fmt: skip
    folds = stratified_folds(labels, n_folds, seed)
    tight_pred = np.zeros(len(labels), int)
    tight_score = np.zeros(len(labels))
    tight_logits = np.zeros((len(labels), n_classes))
    scene_pred = np.zeros(f["scene_grey"].shape[:2], int)
    scene_score = np.zeros(f["scene_grey"].shape[:2])
    served_pred = np.zeros(f["scene_grey"].shape[:2], int)
    served_score = np.zeros(f["scene_grey"].shape[:2])
    non_scores = []
    compared = _Compared(f, kind, served) if compare else None
    for test in folds:
        train = np.setdiff1d(np.arange(len(labels)), test)
        parts = fit_parts(feats[train], labels[train], n_classes, recipe)
        if compared is not None:
            compared.add(parts, recipe, test, tight[test])
        logits, scores = predict(parts, tight[test], recipe)
        tight_pred[test], tight_score[test] = logits.argmax(1), scores
        tight_logits[test] = logits
        scene_pred[test], scene_score[test] = _scene_scores(parts, f[f"scene_{kind}"][test], recipe)
        if served is not None:
            served_pred[test], served_score[test] = _scene_scores(
                parts, served.features[test], recipe
            )
        non_scores.append(predict(parts, f[f"non_amulet_{kind}"], recipe)[1])
    threshold = keep_threshold(tight_score, recipe.keep_rate)
    loco = _loco(f, feats, folds, recipe, kind, tight, served_scenes=served)
    found = f["scene_status"] == "found"
    kept = (scene_score <= threshold) & found
    right = scene_pred == labels[:, None]
    non = np.concatenate(non_scores)
    if kind == "grey":  # a picture where the localiser finds no amulet is flagged outright
        non = np.where(np.tile(f["non_amulet_located"], n_folds), non, np.inf)
    figures: dict[str, Any] = {
        "tight_top1": float((tight_pred == labels).mean()),
        "tight_top1_fronts": float((tight_pred == labels)[fronts].mean()),
        "tight_kept": float((tight_score <= threshold).mean()),
        "tight_ece": _cross_fitted_ece(tight_logits, labels, folds),
        "scene_top1": float(right.mean()),
        "scene_right_and_kept": float((right & kept).mean()),
        "scene_kept": float(kept.mean()),
        "unknown_auroc_non_amulet": auroc(tight_score, non),
        "unknown_auroc_unseen_type_tight": loco["tight"][recipe.unknown_score],
        "unknown_auroc_unseen_type_scenes": loco["scenes"][recipe.unknown_score],
        "scenes_by": scene_breakdown(right & kept, f["scene_iou"], fronts, tight_pred == labels),
    }
    if compared is not None:
        figures["unknown_scores"] = compared.figures(
            f, feats, folds, recipe, kind, tight, fit_temperature(tight_logits, labels)
        )
    if served is not None:
        always = AlwaysCropped(right, kept, f["scene_iou"])
        figures["served"] = served_figures(
            served, served_pred, served_score, labels, threshold, always
        )
        held_out = loco.get("served_scenes", {}).get(recipe.unknown_score)
        figures["served"]["unknown_auroc_unseen_type"] = held_out
    return figures


def scene_breakdown(
    right_and_kept: np.ndarray, iou: np.ndarray, fronts: np.ndarray, tight_right: np.ndarray
) -> dict[str, dict[str, dict[str, float | int]]]:
    """Scenes answered right and kept, and their boxes' mean IoU (both ``[photos, scenes]``),
    by test backdrop family, by side of the photo, and by whether the photo itself is
    answered right as a tight crop: where the scene errors are. Families are assigned as
    command C makes its scenes (:func:`~amulet_ai.training.scenes.scene_specs`)."""
    photos, per_photo = right_and_kept.shape
    specs = scene_specs(list(range(photos)), tuple(TEST_FAMILIES), per_photo)
    families = np.array([family for _, _, family in specs]).reshape(photos, per_photo)
    each_scene = np.ones(per_photo, bool)
    groups = {
        "family": {name: families == name for name in sorted(set(families.ravel()))},
        "side": {"front": np.outer(fronts, each_scene), "back": np.outer(~fronts, each_scene)},
        "tight_photo": {
            "right": np.outer(tight_right, each_scene),
            "wrong": np.outer(~tight_right, each_scene),
        },
    }
    return {
        by: {
            name: {
                "scenes": int(mask.sum()),
                "right_and_kept": float(right_and_kept[mask].mean()) if mask.any() else 0.0,
                "mean_iou": float(iou[mask].mean()) if mask.any() else 0.0,
            }
            for name, mask in masks.items()
        }
        for by, masks in groups.items()
    }


class _Compared:
    """Out-of-fold components of the candidate unknown scores
    (:mod:`amulet_ai.training.unknown_scores`) of tight photos, scenes, scenes as served and
    non-amulet pictures (located and greyed; whole where the cache has them)."""

    def __init__(self, f: dict[str, Any], kind: str, served: ServedScenes | None) -> None:
        self.f, self.kind, self.served_in = f, kind, served
        self.forms: dict[str, list[Components]] = {}
        self.rows: list[np.ndarray] = []

    def add(self, parts: FittedParts, recipe: Recipe, test: np.ndarray, tight: np.ndarray) -> None:
        self.rows.append(test)
        forms = {"tight": tight, "scenes": self.f[f"scene_{self.kind}"][test]}
        forms["non_amulet"] = self.f[f"non_amulet_{self.kind}"]
        if self.kind == "grey" and "non_amulet_raw" in self.f:
            forms["non_amulet_whole"] = self.f["non_amulet_raw"]
        if self.served_in is not None:
            forms["served"] = self.served_in.features[test]
        for form, x in forms.items():
            c = components(parts, x.reshape(-1, x.shape[-1]), recipe)
            self.forms.setdefault(form, []).append(c)

    def figures(
        self, f: dict[str, Any], feats: np.ndarray, folds: list[np.ndarray], recipe: Recipe,
        kind: str, tight: np.ndarray, temperature: float,
    ) -> dict[str, dict[str, float]]:  # fmt: skip
        """Per candidate: held-out type AUROC tight and scenes, non-amulet AUROC, the shares
        kept at its threshold and the scenes answered right and kept."""
        rows = np.concatenate(self.rows)
        order = np.argsort(rows)
        known = Components.concat(self.forms["tight"]).take(order)
        scale = fit_scale(known, temperature)
        scores = {form: candidate_scores(Components.concat(c), scale) for form, c in
                  self.forms.items()}  # fmt: skip
        scores["tight"] = candidate_scores(known, scale)
        loco = _loco(f, feats, folds, recipe, kind, tight, scale)
        labels = f["labels"]
        found = f["scene_status"] == "found"
        scene_rows = np.repeat(rows, f["scene_status"].shape[1])
        scene_pred = Components.concat(self.forms["scenes"]).logits.argmax(1)
        scene_right = (scene_pred == labels[scene_rows]) & found[rows].ravel()
        located = np.tile(f["non_amulet_located"], len(folds))
        out = {}
        for name, known_scores in scores["tight"].items():
            threshold = keep_threshold(known_scores, recipe.keep_rate)
            scene_kept = scores["scenes"][name] <= threshold
            non = scores["non_amulet"][name]
            if kind == "grey":  # no amulet found: flagged outright, as measure() does
                non = np.where(located, non, np.inf)
            row = {
                "unseen_type_tight": loco["tight"][name],
                "unseen_type_scenes": loco["scenes"][name],
                "non_amulet": auroc(known_scores, non),
                "tight_kept": float((known_scores <= threshold).mean()),
                "scene_kept": float((scene_kept & found[rows].ravel()).mean()),
                "scene_right_and_kept": float((scene_right & scene_kept).mean()),
            }
            if "non_amulet_whole" in scores:
                row["non_amulet_whole"] = auroc(known_scores, scores["non_amulet_whole"][name])
            if "served" in scores and self.served_in is not None:
                pred = Components.concat(self.forms["served"]).logits.argmax(1)
                right = pred == np.repeat(labels[rows], self.served_in.features.shape[1])
                kept = (scores["served"][name] <= threshold) & self.served_in.judged[rows].ravel()
                row["served_scene_right_and_kept"] = float((right & kept).mean())
                row["served_scene_kept"] = float(kept.mean())
            out[name] = row
        return out


def _scene_scores(
    parts: FittedParts, scenes: np.ndarray, recipe: Recipe
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and unknown scores ``[photos, scenes]`` of scene features
    ``[photos, scenes, D]``; of ``[photos, scenes, turns, D]``, each scene's mean logits
    and mean unknown score over its turns."""
    logits, scores = predict(parts, scenes.reshape(-1, scenes.shape[-1]), recipe)
    shape = scenes.shape[:-1]
    logits, scores = logits.reshape(*shape, -1), scores.reshape(shape)
    if scenes.ndim == 4:
        logits, scores = logits.mean(axis=2), scores.mean(axis=2)
    return logits.argmax(-1), scores


def _cross_fitted_ece(logits: np.ndarray, labels: np.ndarray, folds: list[np.ndarray]) -> float:
    """ECE of out-of-fold logits, each fold's temperature fitted on the other folds."""
    probs = np.zeros_like(logits)
    for test in folds:
        other = np.setdiff1d(np.arange(len(labels)), test)
        probs[test] = softmax(logits[test], fit_temperature(logits[other], labels[other]))
    return expected_calibration_error(probs, labels)


def _loco(
    f: dict[str, Any],
    feats: np.ndarray,
    folds: list[np.ndarray],
    recipe: Recipe,
    kind: str,
    served: np.ndarray,
    scale: ScoreScale | None = None,
    served_scenes: ServedScenes | None = None,
) -> dict[str, dict[str, float]]:
    """Leave one class out, as tight crops and as scenes
    (:func:`~amulet_ai.training.crossval.unseen_type_auroc`): ``{form: {score: mean AUROC
    over classes}}``, ``form`` ``tight`` or ``scenes`` (and ``served_scenes``, the scenes
    as the serving path classifies them, when given and every one of them is judged: a
    scene the serving path refuses would be flagged outright); the recipe's unknown score
    only, or with ``scale`` every candidate score."""
    evaluated = {"tight": served[:, None], "scenes": f[f"scene_{kind}"]}
    if served_scenes is not None and served_scenes.judged.all():
        evaluated["served_scenes"] = served_scenes.features
    pools = unseen_type_auroc(feats, f["labels"], folds, recipe, evaluated=evaluated, scale=scale)
    return {form: {k: float(np.mean(v)) for k, v in p.items()} for form, p in pools.items()}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="crops", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--localiser", type=Path, default=None, help="folder of localiser.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--views", type=int, default=6, help="tight views per photo")
    parser.add_argument("--composites", type=int, default=4, help="composite crops per photo")
    parser.add_argument("--scenes", type=int, default=2, help="test scenes per photo")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "amulet_ai")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--l2", type=float, default=Recipe.l2, help="head L2 penalty")
    parser.add_argument(
        "--label-smoothing", type=float, default=None,
        help="label smoothing of the shipped recipe's head (default: the train command's)",
    )  # fmt: skip
    parser.add_argument(
        "--reference-weight", type=float, default=Recipe.reference_weight,
        help="the shipped recipe's fusion of the logits with the references' distances, as "
        "the train command's --reference-weight",
    )  # fmt: skip
    parser.add_argument(
        "--backbone", choices=tuple(BACKBONES), default=DEFAULT_BACKBONE,
        help="frozen network of the shipped recipe, as the train command's --backbone",
    )  # fmt: skip
    parser.add_argument(
        "--report", type=Path, default=SCENE_REPORT_DIR, help="folder for the HTML report"
    )
    parser.add_argument("--no-report", action="store_true", help="write no HTML report")
    parser.add_argument(
        "--all-configs", action="store_true",
        help="also measure the five configurations compared before model 2 was chosen",
    )  # fmt: skip
    parser.add_argument(
        "--served", action="store_true",
        help="also score the test scenes as the API prepares them (serving.locating.prepare, "
        "locate=auto, the classifier and localiser of the --localiser folder)",
    )  # fmt: skip
    parser.add_argument(
        "--turns", type=int, choices=(1, 4), default=None,
        help="with --served: score each cropped scene by the mean of its crop's quarter "
        "turns (4: logits and unknown scores) or by its crop alone (1), as the API does "
        "with AMULET_CROP_TURNS; default: the API's default with --served, else 1",
    )  # fmt: skip
    parser.add_argument(
        "--compare-unknown-scores", action="store_true",
        help="also measure every candidate unknown score of the shipped recipe on the same "
        "folds (the report's unknown_scores)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.turns is None:  # the served scenes as the API serves them by default
        served_default = Settings.model_fields["crop_turns"].default
        args.turns = served_default if args.served and not args.compare_unknown_scores else 1
    if args.turns > 1 and (not args.served or args.compare_unknown_scores):
        parser.error("--turns measures the served scenes: with --served, without "
                     "--compare-unknown-scores")  # fmt: skip
    return args


SHIPPED: Final = "shipped recipe (train command's default)"


def _shipped(args: argparse.Namespace) -> tuple[np.ndarray, int, np.ndarray]:
    """The train command's default training views (its own cache), their reference count
    and the tight photos as served (located by the localiser, greyed)."""
    from amulet_ai.training.located import ViewPlan, extract_located_views, training_views
    from amulet_ai.training.train import DEFAULT_RAW_VIEWS, DEFAULT_VIEWS

    dataset = load_dataset(args.data)
    plan = ViewPlan(located=DEFAULT_VIEWS, raw=max(1, DEFAULT_RAW_VIEWS))
    views_ = extract_located_views(
        load_backbone(args.backbone), Localiser.load(args.localiser), dataset, plan, seed=args.seed,
        fingerprint=fingerprint(dataset), cache_dir=args.cache_dir,
    )  # fmt: skip
    feats, refs = training_views(views_, raw=DEFAULT_RAW_VIEWS, raw_references=True)
    return feats, refs, views_.located[:, 0]


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    """``figures`` with every float to 4 decimals, nested dictionaries included."""
    return {
        k: _rounded(v) if isinstance(v, dict) else round(v, 4) if isinstance(v, float) else v
        for k, v in figures.items()
    }


def crops_main(argv: list[str] | None = None) -> int:
    """Entry point: print (and optionally write) the figures of every configuration."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    if args.served:  # refused before the long part when the pictures would not fit
        load_served_classifier(args, spec(args.backbone))
    f = compute_features(args)
    status, counts = np.unique(f["scene_status"], return_counts=True)
    located = {
        "scenes": int(f["scene_status"].size),
        "status": {
            str(s): int(c) / f["scene_status"].size for s, c in zip(status, counts, strict=True)
        },
        "iou_at_least_0.8": float((f["scene_iou"] >= 0.8).mean()),
        "mean_iou": float(f["scene_iou"].mean()),
        "non_amulet_pictures_no_amulet": float(1 - f["non_amulet_located"].mean()),
    }
    report: dict[str, Any] = {"localiser_on_phone_scenes": located, "configs": {}}
    if args.all_configs and args.backbone != DEFAULT_BACKBONE:
        raise SystemExit("--all-configs measures the Lite0 configurations: --backbone lite0")
    names = CONFIGS if args.all_configs else ()
    for name in names:  # the configurations compared before model 2, as they were fitted
        report["configs"][name] = measure(f, name, args.folds, args.seed, head=Recipe(l2=args.l2))
        print(name, json.dumps(_rounded(report["configs"][name])))
    report["backbone"] = args.backbone
    from amulet_ai.training.train import DEFAULT_LABEL_SMOOTHING

    smoothing = DEFAULT_LABEL_SMOOTHING if args.label_smoothing is None else args.label_smoothing
    head = Recipe(l2=args.l2, label_smoothing=smoothing, reference_weight=args.reference_weight)
    report["head"] = {
        "l2": head.l2, "label_smoothing": head.label_smoothing,
        "reference_weight": head.reference_weight,
    }  # fmt: skip
    served = None
    if args.served:
        served = served_features(args, load_backbone(args.backbone), load_dataset(args.data))
    figures = measure(
        f, SHIPPED, args.folds, args.seed, _shipped(args), spec(args.backbone), head,
        served=served, compare=args.compare_unknown_scores,
    )  # fmt: skip
    compared = figures.pop("unknown_scores", None)
    if served is not None:  # the same row's recipe and folds, the scenes as the API sees them
        report["served_scenes"] = {"row": SHIPPED, "turns": args.turns, **figures.pop("served")}
    report["configs"][SHIPPED] = figures
    print(SHIPPED, json.dumps(_rounded(figures)))
    if compared is not None:
        report["unknown_scores"] = {"row": SHIPPED, **compared}
        for name, row in compared.items():
            print(f"unknown score {name}:", json.dumps({k: round(v, 4) for k, v in row.items()}))
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not args.no_report:  # the shipped models on located scenes, with the contact sheet
        classes, scenes = located_scenes(
            args.data, localiser_dir=args.localiser, seed=args.seed, limit=REPORT_SCENES
        )
        print(f"report: {write_scene_report(args.report, classes, scenes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(crops_main())
