"""``evaluate``: the shipped ONNX model on a labelled folder and on folders of unknown photos.

Run::

    python -m amulet_ai.training.evaluate --data ../shared/data/amulets \\
        --unknown path/to/not_amulets --json report.json

Goes through the serving wrapper (:class:`amulet_ai.model.AmuletClassifier`, onnxruntime,
the metadata's temperature and threshold), never torch. On the photos the model was trained
on this measures fit, not generalisation; cross-validated figures come from ``train``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import numpy as np

from amulet_ai.errors import AmuletError
from amulet_ai.imaging.decode import DecodedImage, load_path
from amulet_ai.model import AmuletClassifier
from amulet_ai.training.calibration import expected_calibration_error
from amulet_ai.training.data import IMAGE_SUFFIXES, load_dataset
from amulet_ai.training.figures import reliability_bins
from amulet_ai.training.html_report import class_names, write_evaluation_report
from amulet_ai.training.report import format_confusion, format_per_class, format_summary
from amulet_ai.training.unknown import auroc

logger = logging.getLogger(__name__)

BATCH: Final = 16
REPORT_DIR: Final = Path("build") / "report" / "evaluate"  # git-ignored
SUMMARY_KEYS: Final = (
    "photos",
    "top1",
    "top1_front",
    "top1_back",
    "top3",
    "ece",
    "known_keep_rate",
)


def _scores(
    model: AmuletClassifier, images: Sequence[DecodedImage]
) -> tuple[np.ndarray, np.ndarray]:
    probs, unknown = [], []
    for start in range(0, len(images), BATCH):
        for s in model.score(list(images[start : start + BATCH])):
            probs.append(s.probabilities)
            unknown.append(s.unknown_score)
    return np.array(probs), np.array(unknown)


def _flat_folder(folder: Path) -> list[DecodedImage]:
    images = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                images.append(load_path(path))
            except AmuletError as exc:
                logger.warning("skipped %s: %s", path, exc)
    return images


def evaluate(model: AmuletClassifier, data: Path, unknown_dirs: Sequence[Path]) -> dict[str, Any]:
    """All figures of the evaluate command as one JSON-ready dict."""
    dataset = load_dataset(data)
    model_classes = [c.id for c in model.metadata.classes]
    labels = np.array([model_classes.index(p.class_id) for p in dataset.photos])
    fronts = np.array([p.side == "front" for p in dataset.photos])
    probs, scores = _scores(model, [load_path(p.path) for p in dataset.photos])
    pred = probs.argmax(1)
    top3 = np.argsort(-probs, axis=1)[:, :3]
    n = len(model_classes)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    per_class = {}
    for c, name in enumerate(model_classes):
        tp = int(confusion[c, c])
        per_class[name] = {
            "precision": tp / max(int(confusion[:, c].sum()), 1),
            "recall": tp / max(int(confusion[c].sum()), 1),
            "support": int(confusion[c].sum()),
        }
    threshold = model.threshold
    result: dict[str, Any] = {
        "model": f"{model.name} {model.version}",
        "photos": len(labels),
        "top1": float((pred == labels).mean()),
        "top1_front": float((pred == labels)[fronts].mean()) if fronts.any() else None,
        "top1_back": float((pred == labels)[~fronts].mean()) if (~fronts).any() else None,
        "top3": float((top3 == labels[:, None]).any(1).mean()),
        "ece": expected_calibration_error(probs, labels),
        "reliability": [asdict(b) for b in reliability_bins(probs.max(1), pred == labels)],
        "threshold": threshold,
        "known_keep_rate": float((scores <= threshold).mean()),
        "classes": model_classes,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "unknown": {},
    }
    for folder in unknown_dirs:
        _, unknown_scores = _scores(model, _flat_folder(folder))
        result["unknown"][str(folder)] = {
            "photos": len(unknown_scores),
            "auroc": auroc(scores, unknown_scores) if len(unknown_scores) else None,
            "flagged_rate": float((unknown_scores > threshold).mean())
            if len(unknown_scores)
            else None,
        }
    return result


def format_report(result: dict[str, Any]) -> str:
    """The readable table printed by the command."""
    parts = [f"model {result['model']}", format_summary(result, SUMMARY_KEYS)]
    parts.append(format_per_class(result["per_class"]))
    parts.append(format_confusion(result["confusion"], result["classes"]))
    for folder, figures in result["unknown"].items():
        parts.append(
            f"unknown folder {folder}: {figures['photos']} photos, AUROC {figures['auroc']}, "
            f"flagged {figures['flagged_rate']} at threshold {result['threshold']:.4f}"
        )
    return "\n\n".join(parts)


def evaluate_main(argv: list[str] | None = None) -> int:
    """Entry point of ``production_runner.py evaluate``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="<class>/<front|back>/ photos")
    parser.add_argument("--unknown", type=Path, action="append", default=[], help="flat folder")
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument(
        "--report", type=Path, default=REPORT_DIR, help="folder for the HTML report and its PNGs"
    )
    parser.add_argument("--no-report", action="store_true", help="write no HTML report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model = AmuletClassifier.load(args.model_dir)
    result = evaluate(model, args.data, args.unknown)
    print(format_report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_report:
        page = write_evaluation_report(args.report, result, class_names(model.metadata.classes))
        print(f"report: {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(evaluate_main())
