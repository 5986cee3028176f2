"""Scenes located and classified by the shipped models, for the report's contact sheet.

:func:`located_scenes` generates test-family scenes of the development photos (the same
seeds as the crop measurements of :mod:`amulet_ai.training.crops`), locates each with the
shipped localiser through the serving decode, crops it as the serving path does (box plus
the localiser's margin, backdrop greyed when the classifier's metadata asks for it) and
classifies the crop with the shipped classifier, all in onnxruntime. Each scene becomes a
:class:`SceneResult`: the truth, the answer and a small :class:`SceneTile` view with both
boxes. :func:`write_scene_report` turns them into the HTML report.

The classifier was fitted on these photos, so the class figures here measure the serving
path on new backdrops and framings, not generalisation to new amulets; the localiser's
box figures are on backdrop families it never saw.

Example::

    >>> classes, results = located_scenes(Path("../shared/data/amulets"))  # doctest: +SKIP
    >>> write_scene_report(Path("build/report/scenes"), classes, results)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from amulet_ai.imaging.decode import DecodedImage, decode_picture
from amulet_ai.model import AmuletClassifier
from amulet_ai.model.localiser import Localiser, square_crop
from amulet_ai.training.backdrops import TEST_FAMILIES
from amulet_ai.training.cutout import cut_out_all
from amulet_ai.training.data import load_dataset
from amulet_ai.training.figures import Box, SceneTile, reliability_bins, scene_view
from amulet_ai.training.html_report import ClassNames, class_names, write_report
from amulet_ai.training.localise import box_iou
from amulet_ai.training.scenes import Canvas, make_scene, scene_specs

logger = logging.getLogger(__name__)

SCENE_SEED_OFFSET: Final = 2  # the crop measurements' test scenes use seed + 2
SHEET_TILES: Final = 48
# Scenes the evaluate command's report locates: a 2000 x 1500 scene costs about a second
# to generate and locate on two cores, and the sheet shows 48.
REPORT_SCENES: Final = 60


@dataclass(frozen=True, slots=True)
class SceneResult:
    """One located and classified scene."""

    tile: SceneTile
    true_class: int
    answered_class: int  # the classifier's top class (of the whole picture when not found)
    confidence: float  # its probability
    status: str  # the localiser's
    iou: float  # of the localiser's box with the true box (0 without a box)
    kept: bool  # the unknown score at or under the threshold

    @property
    def right(self) -> bool:
        """Found, answered with the true class and not flagged unknown (as its tile says)."""
        return self.tile.right


def located_scenes(
    data: Path,
    *,
    model_dir: Path | None = None,
    localiser_dir: Path | None = None,
    per_photo: int = 1,
    seed: int = 0,
    canvas: Canvas = "phone",
    limit: int | None = None,
) -> tuple[list[ClassNames], list[SceneResult]]:
    """``per_photo`` test-family scenes of every keyed photo in ``data`` (or ``limit``
    scenes spread evenly over them), located and classified by the shipped models
    (``models/`` unless told)."""
    model = AmuletClassifier.load(model_dir)
    localiser = Localiser.load(localiser_dir)
    grey = getattr(model.metadata.input, "backdrop", "as_is") == "grey_outside_mask"
    classes = class_names(model.metadata.classes)
    ids = [c.id for c in classes]
    dataset = load_dataset(data)
    cuts, _ = cut_out_all(dataset.photos)
    usable = [i for i, c in enumerate(cuts) if c.ok]
    results = []
    started = time.monotonic()
    specs = scene_specs(usable, tuple(TEST_FAMILIES), per_photo)
    if limit is not None:
        specs = specs[:: max(1, len(specs) // limit)][:limit]
    for k, (photo, number, family) in enumerate(specs):
        scene = make_scene(
            cuts[photo],
            photo=photo,
            number=number,
            family=family,
            seed=seed + SCENE_SEED_OFFSET,
            canvas=canvas,
        )
        picture = decode_picture(scene.jpeg)
        location = localiser.locate(picture)
        crop = square_crop(picture, location, margin=localiser.metadata.margin, grey_outside=grey)
        scores = model.score([DecodedImage(crop, *crop.size, "JPEG")])[0]
        answered = int(scores.probabilities.argmax())
        predicted: Box | None = None
        if location.box is not None:
            b = location.box
            predicted = (b.x, b.y, b.x + b.width, b.y + b.height)
        iou = box_iou(predicted, scene.box) if predicted is not None else 0.0
        true_class = ids.index(dataset.photos[photo].class_id)
        kept = scores.unknown_score <= model.threshold
        view, true_box, view_box = scene_view(scene.image, scene.box, predicted)
        status = location.status
        answer = classes[answered].name_en if status == "found" else status.replace("_", " ")
        unknown = "" if kept else ", flagged"
        tile = SceneTile(
            image=view,
            true_box=true_box,
            predicted_box=view_box,
            true_name=classes[true_class].name_en,
            predicted_name=answer,
            right=status == "found" and answered == true_class and bool(kept),
            note=f"IoU {iou:.2f}, p {scores.probabilities[answered]:.2f}{unknown}, {family}",
        )
        results.append(
            SceneResult(
                tile,
                true_class,
                answered,
                float(scores.probabilities[answered]),
                status,
                iou,
                kept,
            )
        )
        if (k + 1) % 20 == 0:
            logger.info("report scenes %d (%.0f s)", k + 1, time.monotonic() - started)
    return classes, results


def sheet_tiles(results: Sequence[SceneResult], count: int = SHEET_TILES) -> list[SceneTile]:
    """Up to ``count`` tiles: the wrong answers first (up to half, more when there are
    fewer right ones), then right ones, each group in scene order."""
    wrong = [r.tile for r in results if not r.right]
    right = [r.tile for r in results if r.right]
    n_wrong = min(len(wrong), max(count // 2, count - len(right)))
    return wrong[:n_wrong] + right[: count - n_wrong]


def scene_figures(results: Sequence[SceneResult]) -> dict[str, object]:
    """The summary figures of the scene report."""
    n = len(results)
    found = [r for r in results if r.status == "found"]
    ious = np.array([r.iou for r in results])
    statuses = sorted({r.status for r in results})
    figures: dict[str, object] = {
        "scenes": n,
        "box IoU >= 0.8": float((ious >= 0.8).mean()),
        "mean box IoU": float(ious.mean()),
        **{f"status {s}": sum(r.status == s for r in results) / n for s in statuses},
        "top-1 (found scenes)": float(np.mean([r.answered_class == r.true_class for r in found]))
        if found
        else None,
        "kept (found, not flagged)": sum(r.status == "found" and r.kept for r in results) / n,
        "right and kept": sum(r.right for r in results) / n,
    }
    return figures


def write_scene_report(
    directory: Path,
    classes: Sequence[ClassNames],
    results: Sequence[SceneResult],
    *,
    notes: Sequence[str] = (),
) -> Path:
    """The HTML report of located scenes: figures, per-class table and confusion matrix of
    the classifier's answers on the crops, reliability, and the contact sheet."""
    if not results:
        raise ValueError("no scenes to report")
    n = len(classes)
    confusion = np.zeros((n, n), dtype=int)
    for r in results:
        confusion[r.true_class, r.answered_class] += 1
    bins = reliability_bins(
        np.array([r.confidence for r in results]),
        np.array([r.answered_class == r.true_class for r in results]),
    )
    return write_report(
        directory,
        title="Amulet-AI: located scenes",
        classes=classes,
        confusion=confusion,
        reliability=bins,
        figures=scene_figures(results),
        tiles=sheet_tiles(results),
        notes=notes,
    )
