"""``evaluate``: the shipped models on a folder of photos, each judged as the API judges it.

Run::

    python -m amulet_ai.training.evaluate --data path/to/photos \\
        --unknown path/to/not_amulets --json report.json

Every photo takes the inference worker's own path
(:meth:`amulet_ai.serving.predictor.Predictor.predict`): the guarded decode, with
``--locate auto`` (the default, as the API's ``AMULET_LOCATE``) the localiser of the model
folder and the crop it leads to, then the classifier, its temperature and threshold, and
the answer's status. onnxruntime only, never torch. So a folder of phone photos is measured
the way a collector's upload is answered, and a folder of tight crops the same way.

``--data`` holds ``<class>/<front|back>/`` photos (photos directly in a class folder count
too, side unknown). A class folder the model knows is scored for accuracy, calibration and
how many of its photos are kept (answered as a known type). A class folder the model does
not know (another amulet type) and each ``--unknown`` folder (flat: pictures that are not
amulets, or more other types) is scored for how many of its photos are flagged: answered
as not one of the known types, whether by the unknown score or because no amulet was found
(``no_amulet``, ``too_small``, ``too_blurred``). Such an unjudged photo counts as an infinite
unknown score in the AUROCs, as the product answers it. On the photos the model was trained
on this measures fit, not generalisation; cross-validated figures come from ``train``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from amulet_ai.config import Settings
from amulet_ai.errors import AmuletError
from amulet_ai.model import AmuletClassifier
from amulet_ai.model.results import Classification, LocateMode
from amulet_ai.serving.predictor import Predictor
from amulet_ai.training.calibration import expected_calibration_error
from amulet_ai.training.data import SIDES, image_files
from amulet_ai.training.figures import reliability_bins
from amulet_ai.training.html_report import class_names, write_evaluation_report
from amulet_ai.training.report import format_confusion, format_per_class, format_summary
from amulet_ai.training.unknown import auroc

logger = logging.getLogger(__name__)

REPORT_DIR: Final = Path("build") / "report" / "evaluate"  # git-ignored
SUMMARY_KEYS: Final = (
    "photos",
    "top1",
    "top1_front",
    "top1_back",
    "top3",
    "ece",
    "known_keep_rate",
    "right_and_kept",
)


@dataclass(frozen=True, slots=True)
class LabelledPhoto:
    """One photo of ``--data``: its class folder and side (``front``, ``back`` or ``any``)."""

    path: Path
    class_id: str
    side: str


@dataclass(frozen=True, slots=True)
class Answer:
    """One photo as the API answered it.

    ``probabilities`` are in the model's class order; ``flagged``: the answer names no
    known type; ``score``: the unknown score, infinite when the photo was not judged."""

    probabilities: np.ndarray
    score: float
    flagged: bool
    status: str

    @classmethod
    def of(cls, verdict: Classification, class_ids: Sequence[str]) -> Answer:
        by_id = {p.class_id: p.probability for p in verdict.predictions}
        probabilities = np.array([by_id.get(c, 0.0) for c in class_ids], dtype=np.float64)
        location = verdict.images.front.location
        status = location.status if location is not None else "whole_photo"
        judged = verdict.status == "ok"
        score = verdict.unknown.score if judged else math.inf
        return cls(probabilities, score, verdict.unknown.is_unknown, status)


def labelled_photos(root: Path) -> list[LabelledPhoto]:
    """The photos of ``root``'s class folders, in ``front``/``back`` or directly inside.

    Raises:
        FileNotFoundError: ``root`` is missing or holds no photo in a class folder.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    photos = []
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    for class_dir in class_dirs:
        for side in SIDES:
            if (class_dir / side).is_dir():
                photos += [
                    LabelledPhoto(p, class_dir.name, side) for p in image_files(class_dir / side)
                ]
        photos += [LabelledPhoto(p, class_dir.name, "any") for p in image_files(class_dir)]
    if not photos:
        raise FileNotFoundError(f"no photos in <class>/ or <class>/<front|back>/ under {root}")
    return photos


def answer_all(
    model: AmuletClassifier, paths: Sequence[Path], locate: LocateMode, turns: int = 1
) -> list[Answer | None]:
    """Each photo's answer as the API gives it (``None``: the API would refuse the file);
    ``turns`` as the API's ``AMULET_CROP_TURNS``."""
    predictor = Predictor(turns)
    class_ids = [c.id for c in model.metadata.classes]
    top_k = len(class_ids)
    answers: list[Answer | None] = []
    for path in paths:
        try:
            done = predictor.predict(
                model, path.read_bytes(), None, top_k=top_k, explain=False, locate=locate
            )
        except AmuletError as exc:
            logger.warning("skipped %s: %s (%s)", path, exc.message, exc.code)
            answers.append(None)
            continue
        answers.append(Answer.of(done.classification, class_ids))
    return answers


def _rate(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def _flag_figures(answers: Sequence[Answer], known_scores: np.ndarray) -> dict[str, Any]:
    """How photos that are none of the known types were answered."""
    scores = np.array([a.score for a in answers])
    return {
        "photos": len(answers),
        "auroc": auroc(known_scores, scores) if len(answers) and len(known_scores) else None,
        "flagged_rate": _rate([a.flagged for a in answers]),
        "statuses": dict(Counter(a.status for a in answers)),
    }


def _known_figures(
    known: Sequence[tuple[LabelledPhoto, Answer]], model_classes: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, calibration and keep figures of the photos of the model's own types."""
    n = len(model_classes)
    confusion = np.zeros((n, n), dtype=int)
    if not known:
        empty = {"precision": 0.0, "recall": 0.0, "support": 0, "kept": 0.0}
        figures: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS[1:])
        return figures | {
            "photos": 0,
            "reliability": [],
            "statuses": {},
            "per_class": {name: dict(empty) for name in model_classes},
            "confusion": confusion.tolist(),
        }
    labels = np.array([model_classes.index(p.class_id) for p, _ in known])
    fronts = np.array([p.side == "front" for p, _ in known])
    backs = np.array([p.side == "back" for p, _ in known])
    probs = np.stack([a.probabilities for _, a in known])
    kept = np.array([not a.flagged for _, a in known])
    pred = probs.argmax(1)
    right = pred == labels
    top3 = np.argsort(-probs, axis=1)[:, :3]
    np.add.at(confusion, (labels, pred), 1)
    per_class = {}
    for c, name in enumerate(model_classes):
        tp = int(confusion[c, c])
        mine = labels == c
        per_class[name] = {
            "precision": tp / max(int(confusion[:, c].sum()), 1),
            "recall": tp / max(int(confusion[c].sum()), 1),
            "support": int(confusion[c].sum()),
            "kept": float(kept[mine].mean()) if mine.any() else 0.0,
        }
    return {
        "photos": len(known),
        "top1": float(right.mean()),
        "top1_front": float(right[fronts].mean()) if fronts.any() else None,
        "top1_back": float(right[backs].mean()) if backs.any() else None,
        "top3": float((top3 == labels[:, None]).any(1).mean()),
        "ece": expected_calibration_error(probs, labels),
        "reliability": [asdict(b) for b in reliability_bins(probs.max(1), right)],
        "known_keep_rate": float(kept.mean()),
        "right_and_kept": float((right & kept).mean()),
        "statuses": dict(Counter(a.status for _, a in known)),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def evaluate(
    model: AmuletClassifier,
    data: Path,
    unknown_dirs: Sequence[Path],
    *,
    locate: LocateMode = "auto",
    turns: int = 1,
) -> dict[str, Any]:
    """All figures of the evaluate command as one JSON-ready dict.

    ``locate`` is the API's option and ``turns`` its ``AMULET_CROP_TURNS``; a model loaded
    without its localiser judges every photo whole whatever they say (as the API does). A
    folder of other types alone has no known figures (``photos`` 0, the rest null) and
    AUROCs of null."""
    served: LocateMode = locate if model.localiser is not None else "off"
    model_classes = [c.id for c in model.metadata.classes]
    photos = labelled_photos(data)
    answers = answer_all(model, [p.path for p in photos], served, turns)
    read = [(p, a) for p, a in zip(photos, answers, strict=True) if a is not None]
    known = [(p, a) for p, a in read if p.class_id in model_classes]
    others = [(p, a) for p, a in read if p.class_id not in model_classes]
    scores = np.array([a.score for _, a in known])
    result: dict[str, Any] = {
        "model": f"{model.name} {model.version}",
        "locate": served,
        "crop_turns": turns if served == "auto" else 1,
        "unreadable": len(answers) - len(read),
        "threshold": model.threshold,
        "classes": model_classes,
        **_known_figures(known, model_classes),
        "other_types": {},
        "unknown": {},
    }
    for class_id in sorted({p.class_id for p, _ in others}):
        mine = [a for p, a in others if p.class_id == class_id]
        figures = _flag_figures(mine, scores)
        figures["answered_as"] = dict(
            Counter(model_classes[int(a.probabilities.argmax())] for a in mine if not a.flagged)
        )
        result["other_types"][class_id] = figures
    if others:
        result["other_types_all"] = _flag_figures([a for _, a in others], scores)
    for folder in unknown_dirs:
        found = [a for a in answer_all(model, image_files(folder), served, turns) if a is not None]
        result["unknown"][str(folder)] = _flag_figures(found, scores)
    return result


def format_report(result: dict[str, Any]) -> str:
    """The readable table printed by the command."""
    parts = [
        f"model {result['model']}, locate={result['locate']}, crop turns {result['crop_turns']}",
        format_summary(result, SUMMARY_KEYS),
        "statuses " + ", ".join(f"{k} {v}" for k, v in sorted(result["statuses"].items())),
    ]
    parts.append(format_per_class(result["per_class"]))
    parts.append(format_confusion(result["confusion"], result["classes"]))
    flagged = {f"type {k}": v for k, v in result["other_types"].items()}
    flagged |= {f"folder {k}": v for k, v in result["unknown"].items()}
    for name, figures in flagged.items():
        parts.append(
            f"{name}: {figures['photos']} photos, AUROC {_text(figures['auroc'])}, "
            f"flagged {_text(figures['flagged_rate'])} at threshold {result['threshold']:.4f}"
        )
    return "\n\n".join(parts)


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def evaluate_main(argv: list[str] | None = None) -> int:
    """Entry point of ``production_runner.py evaluate``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="<class>/<front|back>/ photos; class folders the model does not know are other types",
    )
    parser.add_argument(
        "--unknown", type=Path, action="append", default=[], help="flat folder of non-amulets"
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/")
    parser.add_argument(
        "--locate",
        choices=("auto", "off"),
        default="auto",
        help="as the API's option: auto finds the amulet on each photo (default), off judges "
        "each photo whole",
    )
    parser.add_argument(
        "--turns",
        type=int,
        choices=(1, 4),
        default=Settings.model_fields["crop_turns"].default,
        help="as the API's AMULET_CROP_TURNS: with --locate auto, score each cropped camera "
        "frame by the mean of its crop's quarter turns (4, the API's default) or by the crop "
        "alone (1)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument(
        "--report", type=Path, default=REPORT_DIR, help="folder for the HTML report and its PNGs"
    )
    parser.add_argument("--no-report", action="store_true", help="write no HTML report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for folder in args.unknown:
        if not folder.is_dir():
            parser.error(f"--unknown folder not found: {folder}")
    model = AmuletClassifier.load(args.model_dir, with_localiser=args.locate == "auto")
    try:
        result = evaluate(model, args.data, args.unknown, locate=args.locate, turns=args.turns)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    print(format_report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_report:
        page = write_evaluation_report(args.report, result, class_names(model.metadata.classes))
        print(f"report: {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(evaluate_main())
