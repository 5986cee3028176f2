"""``train``: cross-validate the recipe, fit it on all photos, export ONNX and metadata.

Run::

    python -m amulet_ai.training.train --data ../shared/data/amulets --out models/

The default recipe (model 2, ``--backdrop grey_outside_mask``) trains on each photo as the
serving path sees it: located by the shipped localiser (``--localiser-dir``, default the
``--out`` folder) with the backdrop outside its mask greyed, plus greyed composite crops
of the photo's amulet on generated backdrops (:mod:`amulet_ai.training.located`).
``--backdrop as_is`` is the recipe of model 1.2.0 (tight photos as they are).
``--backbone`` chooses the frozen network (:data:`amulet_ai.training.features.BACKBONES`):
``lite0`` (default, model 2.0.0), ``lite2`` or ``lite0+lite2``; the classifier's input size
(``input.size`` in ``metadata.json``, which the serving path reads) follows it.

Seeded end to end: the same data and seed give the same report and the same model.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from PIL import Image

from amulet_ai.imaging.decode import INPUT_MEAN, INPUT_SCALE, load_path, to_tensor
from amulet_ai.model.localiser import Localiser
from amulet_ai.model.sessions import cpu_session
from amulet_ai.training.activations import embed_with_cut, extract_cut_views
from amulet_ai.training.crossval import FittedParts, Recipe, Refine, cross_validate, fit_parts
from amulet_ai.training.data import Dataset, class_entries, fingerprint, load_dataset
from amulet_ai.training.embedding_output import (
    EMBEDDING_OUTPUT,
    add_embedding_output,
    embedding_description,
)
from amulet_ai.training.export import (
    DeployableModel,
    ExportParityError,
    check_parity,
    export_onnx,
)
from amulet_ai.training.features import (
    ARCHITECTURE,
    BACKBONES,
    DEFAULT_BACKBONE,
    Backbone,
    BackboneSpec,
    load_backbone,
    spec,
)
from amulet_ai.training.finetune import FineTuneConfig, fine_tune
from amulet_ai.training.localise import HEAD_INPUTS
from amulet_ai.training.localise import PARITY_TOLERANCE as LOCALISER_PARITY_TOLERANCE
from amulet_ai.training.located import (
    ViewPlan,
    extract_located_views,
    located_crop,
    served_whole,
    training_views,
)
from amulet_ai.training.nonamulet import non_amulet_images
from amulet_ai.training.report import format_confusion, format_per_class, format_summary

logger = logging.getLogger(__name__)

MODEL_NAME: Final = "amulet-effnet-lite0"
MODEL_VERSION: Final = "2.4.0"
AS_IS_VERSION: Final = "1.2.0"  # ``--backdrop as_is``: the recipe of model 1.2.0
BACKDROPS: Final = ("grey_outside_mask", "as_is")
AS_IS_VIEWS: Final = 16  # views per photo of the as_is recipe
DEFAULT_VIEWS: Final = ViewPlan.located
DEFAULT_RAW_VIEWS: Final = ViewPlan.raw
# Label smoothing of model 2's head: over five fold seeds, top-1 of the located crop 0.845
# against 0.829 without, as served 0.869 against 0.857, NLL 0.465 against 0.481, ECE as
# served the same (models/README.md, "Calibration"). ``--backdrop as_is`` keeps 1.2.0's 0.
DEFAULT_LABEL_SMOOTHING: Final = 0.1
ONNX_FILE: Final = "amulet_classifier.onnx"
PARITY_PHOTOS: Final = 32
FUSION: Final = {
    "rule": "sum of log-probabilities",
    "unknown_rule": (
        "the pair is unknown when either photo is unknown (its unknown_score is above the "
        "threshold): a pair is only named when both sides look like one of the known types"
    ),
}
SUMMARY_KEYS: Final = (
    "top1", "top1_front", "top1_back", "top3", "ece", "ece_before_temperature", "nll",
    "temperature", "threshold", "cv_keep_rate", "unknown_auroc_non_amulet",
    "non_amulet_flagged_rate", "non_amulet_photos", "unknown_auroc_unseen_type", "folds",
)  # fmt: skip


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="train", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, action="append",
        help="<class>/<front|back>/ photos; repeat to train on several folders together",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="folder for ONNX + metadata")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--views", type=int, default=None,
        help=f"views per photo (1 = no aug; default {DEFAULT_VIEWS} located views, "
        f"{AS_IS_VIEWS} with --backdrop as_is)",
    )  # fmt: skip
    parser.add_argument("--l2", type=float, default=Recipe.l2, help="head L2 penalty")
    parser.add_argument(
        "--label-smoothing", type=float, default=None,
        help="share of each view's target spread evenly over the classes when the head is "
        f"fitted (default {DEFAULT_LABEL_SMOOTHING}, 0 with --backdrop as_is; fine-tuning has "
        "its own)",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=float, default=0.0,
        help="fine-tuning passes over all views; 0 (the shipped model) = linear probe on "
        "frozen features only; partial fine-tuning did not beat it in cross-validation",
    )  # fmt: skip
    parser.add_argument(
        "--finetune-blocks", type=int, default=FineTuneConfig.train_blocks,
        help="how many of the last blocks are fine-tuned (with the head conv)",
    )  # fmt: skip
    parser.add_argument(
        "--detector", choices=("nearest", "class_means"), default=Recipe.detector,
        help="unknown score: distance to the nearest training photo (shipped), or "
        "Mahalanobis distance to the class means (model 1.1.0)",
    )  # fmt: skip
    parser.add_argument(
        "--unknown-score", choices=("predicted_class_distance", "distance"),
        default=Recipe.unknown_score,
        help="unknown score: distance to the nearest reference view of the class the head "
        "predicts (predicted_class_distance), or of any class (distance, model 2.0.2); "
        "default %(default)s",
    )  # fmt: skip
    parser.add_argument(
        "--reference-weight", type=float, default=Recipe.reference_weight,
        help="weight of each class's nearest-reference distance subtracted from its logit "
        "(over the median distance of a training photo to the others' references); "
        "0 = the head alone; default %(default)s",
    )  # fmt: skip
    parser.add_argument(
        "--backdrop", choices=BACKDROPS, default=BACKDROPS[0],
        help="grey_outside_mask (model 2, default): views located and greyed as served, plus "
        "greyed composites; as_is: tight photos as they are (the recipe of model 1.2.0)",
    )  # fmt: skip
    parser.add_argument(
        "--localiser-dir", type=Path, default=None,
        help="folder of localiser.json for grey_outside_mask (default: the --out folder)",
    )  # fmt: skip
    parser.add_argument(
        "--composites", type=int, default=ViewPlan.composites,
        help="greyed composite crops per photo (grey_outside_mask)",
    )  # fmt: skip
    parser.add_argument(
        "--raw-views", type=int, default=DEFAULT_RAW_VIEWS,
        help="views of the photo as it is, cloth included, beside the greyed ones "
        "(grey_outside_mask); they keep a tight photo sent with locate=off recognised",
    )  # fmt: skip
    parser.add_argument(
        "--backbone", choices=tuple(BACKBONES), default=DEFAULT_BACKBONE,
        help="frozen ImageNet network(s) the features come from: lite0 (224 px, default), "
        "lite2 (260 px) or lite0+lite2 (both on one 260 px input); grey_outside_mask only "
        "for the last two",
    )  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "amulet_ai")
    parser.add_argument("--no-cache", action="store_true", help="recompute backbone features")
    parser.add_argument("--skip-cv", action="store_true", help="fit and export only (tests)")
    parser.add_argument(
        "--compare-unknown-scores", action="store_true",
        help="also measure every candidate unknown score on the same folds (metrics.cv."
        "unknown_scores; adds a leave-one-class-out fit of the head per class and fold)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args(argv)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _level_names(levels: tuple[int, ...], backbone: BackboneSpec) -> str:
    return ", ".join(backbone.level_names[lv] for lv in levels)


def _metadata(
    dataset: Dataset, data_fp: str, cv: dict[str, Any], parity: float, onnx_path: Path,
    training: dict[str, Any], recipe: Recipe, embedding_dims: int, backbone: BackboneSpec,
) -> dict[str, Any]:  # fmt: skip
    cv_block = {k: v for k, v in cv.items() if k not in ("temperature", "threshold")}
    grey = training["backdrop"] == "grey_outside_mask"
    return {
        "name": MODEL_NAME if backbone.name == DEFAULT_BACKBONE else _name(backbone),
        "version": MODEL_VERSION if grey else AS_IS_VERSION,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "architecture": backbone.architecture,
        "onnx_file": onnx_path.name,
        "onnx_sha256": _sha256(onnx_path),
        "input": {
            "name": "image",
            "size": backbone.input_size,
            "mean": INPUT_MEAN,
            "scale": INPUT_SCALE,
            "layout": "NCHW",
            "color": "RGB",
            "resize": "shorter-side+center-crop",
            "backdrop": training["backdrop"],
        },  # fmt: skip
        "outputs": {
            "logits": "logits",
            "unknown_score": "unknown_score",
            "cam": "cam",
            EMBEDDING_OUTPUT: EMBEDDING_OUTPUT,
        },
        "embedding": embedding_description(embedding_dims),
        "classes": class_entries(dataset.classes),
        "temperature": cv.get("temperature", 1.0),
        "unknown": {
            "method": _detector_method(recipe, grey, backbone),
            "score": recipe.unknown_score,
            "levels": list(recipe.detector_levels),
            "threshold": cv.get("threshold"),
            "target_keep_rate": training["keep_rate"],
            "cv_keep_rate": cv.get("cv_keep_rate"),
            "score_name": "unknown_score",
        },
        "fusion": FUSION,
        "data": {
            "fingerprint": data_fp,
            "photos": len(dataset.photos),
            "per_class": dataset.per_class(),
        },
        "training": training,
        "metrics": {"cv": cv_block, "parity_max_abs_logit_diff": parity},
    }


def _name(backbone: BackboneSpec) -> str:
    """``amulet-effnet-lite2``, ``amulet-effnet-lite0-lite2``: the model's name by backbone."""
    return "amulet-effnet-" + backbone.name.replace("+", "-")


def _detector_method(recipe: Recipe, grey: bool, backbone: BackboneSpec) -> str:
    where = (
        f"on standardised pooled features of {_level_names(recipe.detector_levels, backbone)} "
        f"of the frozen ImageNet {backbone.architecture}; score = sqrt(d^2 / dims)"
    )
    if recipe.unknown_score == "predicted_class_distance":
        where = f"of the class the head predicts (its top logit) {where}"
    if recipe.detector == "nearest" and grey:
        return (
            "Euclidean distance to the nearest reference view (of each training photo: its "
            "located crop with the backdrop greyed, that crop's mirror image, its greyed "
            "composite crops, and the photo as it is with its mirror image, "
            f"{recipe.detector_views} views) {where}"
        )
    if recipe.detector == "nearest":
        return (
            "Euclidean distance to the nearest training photo (each photo and its mirror "
            f"image, {recipe.detector_views} views) {where}"
        )
    return (
        "min over classes of Mahalanobis distance (Ledoit-Wolf shrunk shared covariance, "
        f"rank-{recipe.detector_rank} + isotropic residual) {where}"
    )


def _method(config: FineTuneConfig | None, args: argparse.Namespace) -> str:
    probe = (
        "softmax regression (L2) on standardised average-pooled features of blocks 10, 14, "
        "15 and the head, fitted on each photo, its mirror image and random augmented views"
    )
    if args.backdrop == "grey_outside_mask":
        backbone = spec(args.backbone)
        raw = f", and {args.raw_views} views of the photo as it is" if args.raw_views else ""
        levels = _level_names(backbone.head_levels, backbone)
        return (
            f"frozen ImageNet {backbone.architecture} ({backbone.input_size} px); softmax "
            f"regression (L2, label smoothing {args.label_smoothing:g}) on standardised "
            f"average-pooled features of {levels}, fitted on each "
            "photo as served with locate=auto (located by the localiser, backdrop outside "
            "its mask greyed), its mirror image and random augmented views of it, "
            f"{args.composites} greyed composite crops of its amulet on generated "
            f"backdrops{raw}"
        )
    if config is None:
        return f"frozen ImageNet EfficientNet-Lite0; {probe}"
    return (
        f"ImageNet EfficientNet-Lite0, last {config.train_blocks} block(s) and the head conv "
        f"fine-tuned ({config.epochs:g} passes over all views, BatchNorm frozen, AdamW, "
        f"cosine schedule, label smoothing {config.label_smoothing:g}) jointly with the "
        f"linear head, which starts from the {probe}"
    )


def _refine(
    backbone: Backbone, cut_maps: np.ndarray, labels: np.ndarray, config: FineTuneConfig,
    seed: int,
) -> Refine:  # fmt: skip
    """Cross-validation stage 2: fine-tune from the fold's probe, logits of its test photos."""

    def refine(train: np.ndarray, test: np.ndarray, parts: FittedParts) -> np.ndarray:
        tuned = fine_tune(
            backbone, cut_maps[train], labels[train], parts.head, config=config, seed=seed
        )
        return tuned.logits(cut_maps[test, 0])

    return refine


def _deployable(
    backbone: Backbone, parts: FittedParts, recipe: Recipe, cut_maps: np.ndarray,
    labels: np.ndarray, config: FineTuneConfig, args: argparse.Namespace,
) -> DeployableModel:  # fmt: skip
    """The final graph: fine-tuned classifier (or the probe), detector on frozen features."""
    common: dict[str, Any] = {
        "head_levels": recipe.head_levels,
        "detector_levels": recipe.detector_levels,
        "feature_mean": parts.feature_mean,
        "feature_std": parts.feature_std,
        "unknown_score": recipe.unknown_score,
        "reference_weight": recipe.reference_weight,
        "reference_scale": parts.reference_scale,
    }
    if args.epochs <= 0:
        maps = HEAD_INPUTS if backbone.spec.name == "lite0" else ()
        return DeployableModel(backbone, parts.head, parts.detector, **common, backbone_maps=maps)
    tuned = fine_tune(backbone, cut_maps, labels, parts.head, config=config, seed=args.seed)
    return DeployableModel(
        tuned.backbone, tuned.head, parts.detector, **common,
        detector_backbone=backbone, shared_blocks=tuned.first_trained,
    )  # fmt: skip


def _grey_features(
    args: argparse.Namespace, backbone: Backbone, dataset: Dataset, data_fp: str,
) -> tuple[np.ndarray, int, dict[str, np.ndarray], list[bytes], Localiser]:  # fmt: skip
    """Model 2's training views, the detector's reference count, the other served forms
    of the photos (for the report) and the localiser."""
    localiser = Localiser.load(args.localiser_dir if args.localiser_dir is not None else args.out)
    plan = ViewPlan(located=args.views, composites=args.composites, raw=max(1, args.raw_views))
    located = extract_located_views(
        backbone, localiser, dataset, plan, seed=args.seed, fingerprint=data_fp,
        cache_dir=None if args.no_cache else args.cache_dir,
    )  # fmt: skip
    states, counts = np.unique(located.status, return_counts=True)
    print(f"localiser on the tight photos: {dict(zip(states, counts, strict=True))}")
    feats, refs = training_views(located, raw=args.raw_views, raw_references=True)
    whole = np.array([served_whole(localiser, p.path.read_bytes()) for p in dataset.photos])
    print(
        f"tight photos the serving path classifies whole (box fills the frame): {whole.mean():.3f}"
    )
    as_served = np.where(whole[:, None, None], located.raw[:, :1], located.located[:, :1])
    served = {
        "photo with locate=auto as served (frame-filling photos whole)": as_served,
        "photo whole (locate=off)": located.raw[:, :1],
        "composite crops": located.composites,
    }
    return feats, refs, served, [], localiser


def _shared_pass_parity(
    onnx_path: Path, maps: tuple[str, ...], localiser: Localiser | None, batch: np.ndarray
) -> float | None:
    """Max |mask logit| difference between the localiser's own graph on ``batch`` and its
    head graph on the maps the classifier graph at ``onnx_path`` outputs for it (the
    serving path's shared first pass, :func:`amulet_ai.serving.locating.shared_first_pass`);
    None when there is nothing to share.

    Raises:
        ExportParityError: the two differ by more than the localiser's parity tolerance.
    """
    if localiser is None or not maps or not localiser.reads_maps_of(ARCHITECTURE, maps):
        return None
    session = cpu_session(onnx_path, 2, 1)
    values = session.run(list(maps), {"image": batch})
    head = localiser.head_logits(dict(zip(maps, values, strict=True)))
    diff = float(np.abs(head - localiser.logits(batch)).max())
    print(f"localiser head on the classifier's maps: max |mask logit diff| {diff:.2e}")
    if diff > LOCALISER_PARITY_TOLERANCE:
        raise ExportParityError(f"the shared first pass differs by {diff:.2e}")
    return diff


def _non_amulet_features(backbone: Backbone, localiser: Localiser | None) -> np.ndarray:
    """Pictures that are not amulets, as served: whole (as_is), or located and greyed."""
    pictures = non_amulet_images()
    if localiser is not None:
        size = backbone.spec.input_size
        pictures = [located_crop(localiser, _png(p), size)[0] for p in pictures]
    return embed_with_cut(backbone, np.stack([to_tensor(i) for i in pictures]))[0]


def _png(picture: Image.Image) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    return buf.getvalue()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole train command; returns the metadata it wrote."""
    started = time.monotonic()
    if args.views is None:
        args.views = DEFAULT_VIEWS if args.backdrop == "grey_outside_mask" else AS_IS_VIEWS
    if args.label_smoothing is None:
        grey_default = args.backdrop == "grey_outside_mask"
        args.label_smoothing = DEFAULT_LABEL_SMOOTHING if grey_default else 0.0
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    grey = args.backdrop == "grey_outside_mask"
    if grey and args.epochs > 0:
        raise SystemExit("fine-tuning (--epochs) needs --backdrop as_is")
    if not grey and args.backbone != "lite0":
        raise SystemExit("--backdrop as_is (model 1.2.0's recipe) needs --backbone lite0")
    dataset = load_dataset(*args.data)
    data_fp = fingerprint(dataset)
    print(f"data: {len(dataset.photos)} photos, {dataset.per_class()}, fingerprint {data_fp[:12]}")
    backbone = load_backbone(args.backbone)
    cache = None if args.no_cache else args.cache_dir
    localiser: Localiser | None = None
    served: dict[str, np.ndarray] = {}
    cut_maps = np.zeros((0,), np.float16)
    if grey:
        feats, refs, served, _, localiser = _grey_features(args, backbone, dataset, data_fp)
    else:
        feats, cut_maps = extract_cut_views(
            backbone, dataset, n_views=args.views, seed=args.seed, fingerprint=data_fp,
            cache_dir=cache,
        )  # fmt: skip
        refs = Recipe.detector_views
    recipe = Recipe(
        head_levels=backbone.spec.head_levels, l2=args.l2,
        label_smoothing=args.label_smoothing, detector=args.detector,
        unknown_score=args.unknown_score, reference_weight=args.reference_weight,
        detector_levels=backbone.spec.detector_levels, detector_views=refs,
        level_channels=backbone.spec.level_channels,
    )  # fmt: skip
    labels = np.array(dataset.labels)
    fronts = np.array([p.side == "front" for p in dataset.photos])
    config = FineTuneConfig(train_blocks=args.finetune_blocks, epochs=args.epochs)
    refine = _refine(backbone, cut_maps, labels, config, args.seed) if args.epochs > 0 else None
    cv: dict[str, Any] = {}
    if not args.skip_cv:
        non_amulet = _non_amulet_features(backbone, localiser)
        cv = cross_validate(
            feats, labels, fronts, non_amulet, dataset.classes, recipe,
            n_folds=args.folds, seed=args.seed, refine=refine, served=served,
            compare_scores=args.compare_unknown_scores,
        )  # fmt: skip
        print(f"\n{args.folds}-fold stratified cross-validation (out-of-fold, photos as served)")
        print(format_summary(cv, SUMMARY_KEYS))
        for name, figures in cv["served"].items():
            print(
                f"{name}: top-1 {figures['top1']:.4f}, kept {figures['kept']:.4f}, "
                f"ECE {figures['ece']:.4f}"
            )
        for name, figures in cv.get("unknown_scores", {}).items():
            print(f"unknown score {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
        print(format_per_class(cv["per_class"]))
        print(format_confusion(cv["confusion"], dataset.classes))
    parts = fit_parts(feats, labels, len(dataset.classes), recipe)
    model = _deployable(backbone, parts, recipe, cut_maps, labels, config, args)
    onnx_path = args.out / ONNX_FILE
    export_onnx(model, onnx_path)
    embedding_dims = add_embedding_output(onnx_path)
    sample = dataset.photos[:: max(1, len(dataset.photos) // PARITY_PHOTOS)][:PARITY_PHOTOS]
    side = backbone.spec.input_size
    batch = np.stack([to_tensor(load_path(p.path, size=side).image) for p in sample])
    parity = check_parity(model, onnx_path, batch)
    print(f"\nexport: {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB), "
          f"parity max |logit diff| {parity:.2e} on {len(batch)} real photos")  # fmt: skip
    shared = _shared_pass_parity(onnx_path, model.backbone_maps, localiser, batch)
    training = {
        "seed": args.seed, "epochs": args.epochs, "views_per_photo": args.views,
        "folds": args.folds, "method": _method(config if args.epochs > 0 else None, args),
        "finetune": asdict(config) if args.epochs > 0 else None,
        "head_levels": list(recipe.head_levels), "l2": recipe.l2,
        "label_smoothing": recipe.label_smoothing,
        "keep_rate": recipe.keep_rate, "torch": torch.__version__.split("+")[0],
        "backdrop": args.backdrop, "backbone": args.backbone,
        "composites_per_photo": args.composites if grey else 0,
        "raw_views_per_photo": args.raw_views if grey else args.views,
        "wall_seconds": round(time.monotonic() - started, 1),
        "command": "python -m amulet_ai.training.train --data DATA --out models/"
        + ("" if args.backbone == DEFAULT_BACKBONE else f" --backbone {args.backbone}"),
    }  # fmt: skip
    metadata = _metadata(
        dataset, data_fp, cv, parity, onnx_path, training, recipe, embedding_dims, backbone.spec
    )
    if model.backbone_maps:
        metadata["outputs"]["backbone_maps"] = list(model.backbone_maps)
    if shared is not None:
        metadata["metrics"]["localiser_head_parity_max_abs_logit_diff"] = shared
    (args.out / "metadata.json").write_text(
        json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
    )
    print(f"wrote {args.out / 'metadata.json'}; wall time {training['wall_seconds']} s")
    return metadata


def train_main(argv: list[str] | None = None) -> int:
    """Entry point of ``production_runner.py train``; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run(_parse(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(train_main())
