"""Command C's test scenes through the serving path: the figures a phone photo gets.

``evaluate --scenes --served`` sends each test scene of :mod:`amulet_ai.training.crops` (the
same seeded JPEG bytes: a 2000 x 1500 canvas, either way up, its JPEG quality drawn per
scene from 40-95 by :mod:`amulet_ai.training.scenes`) through
:func:`amulet_ai.serving.locating.prepare` with ``locate=auto``, with the classifier and
localiser of the model folder, as the API does: the draft decode at ``DRAFT_SIDE``, the
zoom pass only at ``MIN_ZOOM``, a box filling ``FILLS_FRAME`` of the frame classified whole
(no crop, not greyed), the crop from a decode at the detail it needs. The picture it
returns, at the classifier's input size, is embedded by the frozen backbone and scored
with each fold's head on the fold's features (:func:`amulet_ai.training.crops.measure`), so
the figure stays out of fold, as command C's own crops.

With ``--turns 4`` each scene is prepared as the API does with ``AMULET_CROP_TURNS=4``: a
cropped scene's picture is also embedded turned by 90, 180 and 270 degrees
(:func:`~amulet_ai.serving.locating.quarter_turns`), and
:func:`amulet_ai.training.crops.measure` scores it by the mean of its turns' logits and
unknown scores; a picture classified whole is not turned (its copies are the picture
itself).

Each scene takes one path (:data:`PATHS`): ``cropped``, ``fills_frame`` (whole), or one of
the statuses the answer names no type for (``no_amulet``, ``too_small``, ``too_blurred``),
which count as not kept; their pictures (the whole photo, as served) still count for
top-1 ignoring the flag.

Example::

    >>> served = served_features(args, backbone, load_dataset(args.data))  # doctest: +SKIP
    >>> served.paths[0]  # doctest: +SKIP
    array(['cropped', 'cropped'], dtype='<U11')
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from amulet_ai.config import DEFAULT_MODEL_DIR
from amulet_ai.imaging.decode import to_tensor
from amulet_ai.model import AmuletClassifier
from amulet_ai.model.localiser import LOCALISER_METADATA
from amulet_ai.serving import locating
from amulet_ai.serving.locating import PreparedPhoto, SourceFn, prepare, quarter_turns
from amulet_ai.training.activations import embed_with_cut
from amulet_ai.training.backdrops import TEST_FAMILIES
from amulet_ai.training.cutout import CutOut, cut_out_all
from amulet_ai.training.data import Dataset, fingerprint
from amulet_ai.training.features import Backbone, BackboneSpec
from amulet_ai.training.localise import box_iou
from amulet_ai.training.scenes import TEST_SCENE_SEED_OFFSET, Scene, make_scene, scene_specs

logger = logging.getLogger(__name__)

CACHE_VERSION: Final = "served-v2"
JUDGED: Final = ("cropped", "fills_frame")
PATHS: Final = (*JUDGED, "no_amulet", "too_small", "too_blurred")


def phone_scene(cut: CutOut, photo: int, number: int, family: str, seed: int) -> Scene:
    """Command C's test scene ``number`` of photo ``photo``: the phone canvas (2000 x 1500),
    the generator's JPEG."""
    return make_scene(
        cut, photo=photo, number=number, family=family, seed=seed + TEST_SCENE_SEED_OFFSET,
        canvas="phone",
    )  # fmt: skip


@dataclass(frozen=True)
class ServedScenes:
    """Pooled features ``[photos, scenes, D]`` (``[photos, scenes, turns, D]`` with turns)
    of the pictures the serving path classifies,
    the path each scene took (str ``[photos, scenes]``, one of :data:`PATHS`), the IoU
    of the box it answered with the true box (0 without a box) and the scene's backdrop
    family."""

    features: np.ndarray
    paths: np.ndarray
    iou: np.ndarray
    families: np.ndarray

    @property
    def judged(self) -> np.ndarray:
        """True where the answer may name a type (the amulet was cropped or fills the frame)."""
        return np.isin(self.paths, JUDGED)


def served_path(prepared: PreparedPhoto) -> str:
    """The path :func:`~amulet_ai.serving.locating.prepare` took for a photo with
    ``locate=auto``: its status when not judged, else ``fills_frame`` when the answered box
    fills :data:`~amulet_ai.serving.locating.FILLS_FRAME` of the photo both ways (the
    photo was classified whole), else ``cropped``. A whole photo answers the very box the
    rule passed; a cropped one answers its box as carried to the detail decode, which could
    in principle pass the rule where the first box did not (it would then count here as
    whole): ``prepare`` does not say which way it went."""
    location = prepared.location
    if location.status != "found":
        return location.status
    box = location.box
    assert box is not None  # a found photo has its box
    share = min(box.width / box.image_width, box.height / box.image_height)
    return "fills_frame" if share >= locating.FILLS_FRAME else "cropped"


def _source(data: bytes) -> SourceFn:
    return lambda: data


def _box_iou(prepared: PreparedPhoto, truth: tuple[int, int, int, int]) -> float:
    box = prepared.location.box
    if box is None:
        return 0.0
    return box_iou((box.x, box.y, box.x + box.width, box.y + box.height), truth)


def _cache_file(args: argparse.Namespace, fp: str, classifier: AmuletClassifier,
                backbone: Backbone) -> Path:  # fmt: skip
    # What changes the served pictures: the localiser (its file, the size it runs at and its
    # thresholds: all in its metadata), the classifier's input and backdrop rule, the
    # decode bounds, and the serving path's constants; then the scenes and the features.
    folder = Path(args.localiser) if args.localiser is not None else DEFAULT_MODEL_DIR
    localiser_meta = hashlib.sha256((folder / LOCALISER_METADATA).read_bytes()).hexdigest()
    serving = (
        locating.DRAFT_SIDE, locating.FIRST_DETAIL_SIDE, locating.MIN_ZOOM,
        locating.FILLS_FRAME, locating.CROP_MARGIN,
    )  # fmt: skip
    model_input = (classifier.input_size, classifier.metadata.input.backdrop,
                   classifier.max_pixels, classifier.max_decode_mb)  # fmt: skip
    key: tuple[object, ...] = (CACHE_VERSION, fp, args.seed, args.scenes, localiser_meta,
                               model_input, serving, backbone.spec.name)  # fmt: skip
    turns = getattr(args, "turns", 1)
    if turns > 1:  # without turns the key (and its cache) stays what it was
        key = (*key, "turns", turns)
    name = f"served-{hashlib.sha256(repr(key).encode()).hexdigest()[:16]}.npz"
    return Path(args.cache_dir) / name


def load_served_classifier(args: argparse.Namespace, backbone: BackboneSpec) -> AmuletClassifier:
    """The classifier and localiser of the model folder (``--localiser``, default
    ``models/``), as the API loads them; refused when the backbone's input size is not the
    classifier's (its pictures would not be the ones the backbone reads)."""
    folder = Path(args.localiser) if args.localiser is not None else DEFAULT_MODEL_DIR
    classifier = AmuletClassifier.load(
        folder, with_localiser=True, warmup_runs=0, intra_op_threads=args.threads
    )
    if classifier.localiser is None:
        raise SystemExit(f"--served needs a localiser in {folder}")
    if classifier.input_size != backbone.input_size:
        raise SystemExit(
            f"--served: the classifier in {folder} takes {classifier.input_size} px pictures, "
            f"the backbone {backbone.name} reads {backbone.input_size} px"
        )
    return classifier


def served_features(args: argparse.Namespace, backbone: Backbone, dataset: Dataset) -> ServedScenes:
    """Features and paths of every test scene of ``dataset``'s photos through the serving
    path (``args.scenes`` a photo, cached under ``args.cache_dir``); with ``args.turns``
    above 1, each cropped picture's quarter turns too."""
    fp = fingerprint(dataset)
    classifier = load_served_classifier(args, backbone.spec)
    cache = _cache_file(args, fp, classifier, backbone)
    specs = scene_specs(list(range(len(dataset.photos))), tuple(TEST_FAMILIES), args.scenes)
    shape = (len(dataset.photos), args.scenes)
    families = np.array([family for _, _, family in specs]).reshape(shape)
    if cache.is_file():
        logger.info("served scenes cache hit %s", cache)
        with np.load(cache, allow_pickle=False) as data:
            return ServedScenes(data["features"], data["paths"], data["iou"], families)
    cuts, _ = cut_out_all(dataset.photos)
    turns = getattr(args, "turns", 1)
    features, paths, ious = [], [], []
    started = time.monotonic()
    for i, cut in enumerate(cuts):
        pictures = []
        for _, number, family in (s for s in specs if s[0] == i):
            scene = phone_scene(cut, i, number, family, args.seed)
            prepared = prepare(classifier, _source(scene.jpeg), "auto", turns=turns)
            paths.append(served_path(prepared))
            ious.append(_box_iou(prepared, scene.box))
            # The pictures the serving path scores; one not turned, repeated to the count.
            turned = quarter_turns(prepared.picture.image, prepared.turns)
            pictures.extend(turned + turned[:1] * (turns - prepared.turns))
        pooled = embed_with_cut(backbone, np.stack([to_tensor(p) for p in pictures]))[0]
        features.append(pooled if turns == 1 else pooled.reshape(args.scenes, turns, -1))
        if (i + 1) % 20 == 0:
            logger.info("served scenes: %d/%d photos (%.0f s)", i + 1, len(cuts),
                        time.monotonic() - started)  # fmt: skip
    out = ServedScenes(
        np.stack(features), np.array(paths).reshape(shape), np.array(ious).reshape(shape),
        families,
    )  # fmt: skip
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, features=out.features, paths=out.paths, iou=out.iou)
    return out


def served_figures(
    served: ServedScenes,
    pred: np.ndarray,
    score: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    located: AlwaysCropped,
) -> dict[str, Any]:
    """The figures of the served scenes from their out-of-fold predictions and unknown
    scores (``[photos, scenes]``), against command C's on the same scenes (``located``):
    per path, how many it answers right, keeps and how good its boxes are, there and here."""
    right = pred == labels[:, None]
    kept = (score <= threshold) & served.judged
    here = right & kept
    located_right_kept = located.right & located.kept
    by_path: dict[str, Any] = {}
    for path in PATHS:
        on = served.paths == path
        count = int(on.sum())
        by_path[path] = {
            "share": count / served.paths.size,
            "scenes": count,
            "top1": _mean(right[on]),
            "top1_always_cropped": _mean(located.right[on]),
            "kept": int(kept[on].sum()),
            "kept_always_cropped": int(located.kept[on].sum()),
            "right_and_kept": int(here[on].sum()),
            "right_and_kept_always_cropped": int(located_right_kept[on].sum()),
            "mean_iou": _mean(served.iou[on]),
            "mean_iou_always_cropped": _mean(located.iou[on]),
            "families": {
                str(family): int(n)
                for family, n in zip(
                    *np.unique(served.families[on], return_counts=True), strict=True
                )
            },
        }
    return {
        "scenes": int(served.paths.size),
        "scene_top1": float(right.mean()),
        "scene_right_and_kept": float(here.mean()),
        "scene_kept": float(kept.mean()),
        "right_and_kept_always_cropped": float(located_right_kept.mean()),
        "iou_at_least_0.8": float((served.iou >= 0.8).mean()),
        "mean_iou": float(served.iou.mean()),
        "lost_against_always_cropped": int((located_right_kept & ~here).sum()),
        "won_against_always_cropped": int((here & ~located_right_kept).sum()),
        "paths": by_path,
    }


@dataclass(frozen=True)
class AlwaysCropped:
    """Command C's answers on the same scenes ``[photos, scenes]``: right, kept, box IoU."""

    right: np.ndarray
    kept: np.ndarray
    iou: np.ndarray


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None
