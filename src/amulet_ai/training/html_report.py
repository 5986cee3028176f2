"""The evaluate command's HTML report: one ``index.html`` beside its PNG figures.

:func:`write_report` takes what an evaluation measured, as plain numbers and records
(class names, a confusion matrix, per-class figures, reliability bins, optional scene
tiles), draws the figures with :mod:`amulet_ai.training.figures` and writes the page. The
page names every class in English and Thai, so it reads without the model at hand; it has
no scripts and no outside links, so it opens from disk anywhere.

Example::

    >>> classes = [ClassNames("a", "A", "ก"), ClassNames("b", "B", "ข")]
    >>> page = write_report(
    ...     tmp_path, title="t", classes=classes, confusion=[[1, 0], [0, 1]],
    ...     reliability=reliability_bins(np.array([0.9, 0.8]), np.array([True, True])),
    ... )  # doctest: +SKIP
    >>> page.name  # doctest: +SKIP
    'index.html'
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from amulet_ai.model.metadata import ClassInfo
from amulet_ai.training.figures import (
    ReliabilityBin,
    SceneTile,
    calibration_error,
    confusion_image,
    contact_sheet,
    reliability_image,
    thai_font_available,
)

logger = logging.getLogger(__name__)

INDEX: Final = "index.html"
CONFUSION_PNG: Final = "confusion.png"
RELIABILITY_PNG: Final = "reliability.png"
SCENES_PNG: Final = "scenes.png"
STYLE: Final = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "td:first-child,th:first-child,td.name{text-align:left}"
    "img{max-width:100%;border:1px solid #ddd}"
)


@dataclass(frozen=True, slots=True)
class ClassNames:
    """A class as the report names it: its id and its English and Thai names."""

    id: str
    name_en: str
    name_th: str


def class_names(classes: Sequence[ClassInfo]) -> list[ClassNames]:
    """A model's classes (``metadata.classes``) as the report names them."""
    return [ClassNames(c.id, c.name_en, c.name_th) for c in classes]


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape("-" if value is None else str(value))


def _figures_table(figures: Mapping[str, object]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_cell(v)}</td></tr>" for k, v in figures.items()
    )
    return f"<table><tr><th>figure</th><th>value</th></tr>{rows}</table>"


def _class_table(
    classes: Sequence[ClassNames],
    confusion: np.ndarray,
    per_class: Mapping[str, Mapping[str, float]],
) -> str:
    head = (
        "<tr><th>#</th><th>id</th><th>English</th><th>Thai</th>"
        "<th>precision</th><th>recall</th><th>photos</th><th>predicted as</th></tr>"
    )
    rows = []
    for i, c in enumerate(classes):
        figures = per_class.get(c.id, {})
        rows.append(
            "<tr>"
            f"<td>{i}</td><td class=name>{html.escape(c.id)}</td>"
            f"<td class=name>{html.escape(c.name_en)}</td>"
            f"<td class=name lang=th>{html.escape(c.name_th)}</td>"
            f"<td>{_cell(figures.get('precision'))}</td><td>{_cell(figures.get('recall'))}</td>"
            f"<td>{int(confusion[i].sum())}</td><td>{int(confusion[:, i].sum())}</td>"
            "</tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def per_class_figures(
    confusion: Sequence[Sequence[int]] | np.ndarray, classes: Sequence[ClassNames]
) -> dict[str, dict[str, float]]:
    """Precision, recall and support of each class from a confusion matrix (rows true)."""
    counts = np.asarray(confusion, dtype=int)
    out = {}
    for i, c in enumerate(classes):
        tp = int(counts[i, i])
        out[c.id] = {
            "precision": tp / max(int(counts[:, i].sum()), 1),
            "recall": tp / max(int(counts[i].sum()), 1),
            "support": int(counts[i].sum()),
        }
    return out


def write_report(
    directory: Path,
    *,
    title: str,
    classes: Sequence[ClassNames],
    confusion: Sequence[Sequence[int]] | np.ndarray,
    reliability: Sequence[ReliabilityBin],
    per_class: Mapping[str, Mapping[str, float]] | None = None,
    figures: Mapping[str, object] | None = None,
    tiles: Sequence[SceneTile] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Write ``index.html`` and its PNGs into ``directory`` (created); returns the page.

    ``confusion`` has a row per true class and a column per answered class, in the order
    of ``classes``; ``per_class`` defaults to :func:`per_class_figures` of it; ``figures``
    are the summary figures shown first; ``tiles`` (scene evaluations only) make the
    contact sheet; ``notes`` are lines of plain text under the title (what was measured).
    """
    counts = np.asarray(confusion, dtype=int)
    if counts.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion is {counts.shape} for {len(classes)} classes")
    directory.mkdir(parents=True, exist_ok=True)
    thai = thai_font_available()
    names = [f"{c.name_en} / {c.name_th}" if thai else c.name_en for c in classes]
    confusion_image(counts, names).save(directory / CONFUSION_PNG)
    ece = calibration_error(reliability)
    reliability_image(reliability, ece).save(directory / RELIABILITY_PNG)
    parts = [
        "<!doctype html><html><head><meta charset=utf-8>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(f"<p>{html.escape(line)}</p>" for line in notes),
    ]
    if figures:
        parts += ["<h2>Figures</h2>", _figures_table(figures)]
    parts += [
        "<h2>Per class</h2>",
        _class_table(classes, counts, per_class or per_class_figures(counts, classes)),
        "<h2>Confusion matrix</h2>",
        "<p>Rows: the true class; columns: the class answered (numbers as in the table "
        "above). Blue: right, red: confused.</p>",
        f'<img src="{CONFUSION_PNG}" alt="confusion matrix">',
        "<h2>Reliability</h2>",
        f"<p>Top-class confidence against the share right, {len(reliability)} equal bins; "
        f"ECE {ece:.4f} over {sum(b.count for b in reliability)} answers. Red: the gap "
        "between a bin's mean confidence and its share right.</p>",
        f'<img src="{RELIABILITY_PNG}" alt="reliability diagram">',
    ]
    if tiles:
        contact_sheet(tiles).save(directory / SCENES_PNG)
        wrong = sum(not t.right for t in tiles)
        parts += [
            "<h2>Scene crops</h2>",
            f"<p>{len(tiles)} scenes shown, {wrong} wrong and {len(tiles) - wrong} right. "
            "Green box: the true amulet; orange box: the localiser's; frame green when the "
            "answer was right and red when wrong.</p>",
            f'<img src="{SCENES_PNG}" alt="contact sheet of scene crops">',
        ]
    parts.append("</body></html>\n")
    page = directory / INDEX
    page.write_text("\n".join(parts), encoding="utf-8")
    logger.info("report written to %s", page)
    return page


EVALUATION_FIGURES: Final = (
    "photos",
    "top1",
    "top1_front",
    "top1_back",
    "top3",
    "ece",
    "threshold",
    "known_keep_rate",
    "right_and_kept",
    "unreadable",
)


def write_evaluation_report(
    directory: Path, result: Mapping[str, Any], classes: Sequence[ClassNames]
) -> Path:
    """The report of :func:`amulet_ai.training.evaluate.evaluate`'s result (its JSON
    figures, ``reliability`` bins included) for the model's ``classes``."""
    figures: dict[str, object] = {k: result[k] for k in EVALUATION_FIGURES if k in result}
    if "locate" in result:
        figures["locate"] = result["locate"]
    for class_id, other in result.get("other_types", {}).items():
        figures[f"other type {class_id}: AUROC"] = other["auroc"]
        figures[f"other type {class_id}: flagged"] = other["flagged_rate"]
    for folder, unknown in result.get("unknown", {}).items():
        figures[f"unknown AUROC, {folder}"] = unknown["auroc"]
        figures[f"unknown flagged, {folder}"] = unknown["flagged_rate"]
    return write_report(
        directory,
        title=f"Amulet-AI: {result['model']}",
        classes=classes,
        confusion=result["confusion"],
        reliability=[ReliabilityBin(**b) for b in result["reliability"]],
        per_class=result["per_class"],
        figures=figures,
        notes=[
            "The shipped models on a labelled folder, each photo judged as the API judges "
            "it (locate as the figures say). Flagged: answered as none of the known types. "
            "On the photos the model was trained on this measures fit, not generalisation."
        ],
    )
