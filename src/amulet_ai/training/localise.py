"""Train, cross-validate and export the amulet localiser.

The localiser is a small conv head on frozen ImageNet EfficientNet-Lite0 features of the
letterboxed 320 px draft: block 10 (112 x 20 x 20) next to block 15 (320 x 10 x 10, upsampled
to 20 x 20), 432 channels -> 1x1 conv to 64 -> 3x3 conv to 32 -> 3x3 conv to one mask logit
per 16 px cell. It is fitted on scenes of the development photos' cut-outs on the training
backdrop families (:mod:`amulet_ai.training.scenes`) and on the real-texture training
families (crops of photographs and lit rough surfaces, none of them a test family's;
``--texture-scenes``, since localiser 1.1.0), and on bare backdrops of both, with a soft
per-cell target (the share of the cell the amulet covers), BCE plus soft Dice.

Cross-validation uses the classifier's stratified folds: a fold's head is fitted on scenes
of the other folds' photos and measured on scenes of its own photos on the test-only
backdrop families, through the runtime's decision rules
(:func:`amulet_ai.model.localiser.locate_from_logits`). Backbone features of every scene are
computed once and cached (``--cache-dir``), so the folds only refit the head.

Run::

    python -m amulet_ai.training.localise --data ../shared/data/amulets --out models/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from amulet_ai.imaging.decode import DecodedImage, decode_picture
from amulet_ai.model.localiser import (
    LOCALISER_FILE,
    LOCALISER_METADATA,
    Letterbox,
    LocaliserMetadata,
    letterbox,
    locate_with,
)
from amulet_ai.training.backdrops import TEST_FAMILIES, TEXTURE_TRAIN_FAMILIES, TRAIN_FAMILIES
from amulet_ai.training.crossval import stratified_folds
from amulet_ai.training.cutout import CutOut, cut_out_all
from amulet_ai.training.data import Dataset, fingerprint, load_dataset
from amulet_ai.training.features import Backbone, load_backbone
from amulet_ai.training.scenes import Canvas, Scene, make_scene, scene_specs

logger = logging.getLogger(__name__)

NAME: Final = "amulet-localiser-lite0"
VERSION: Final = "1.1.2"
SIZE: Final = 320
STRIDE: Final = 16
GRID: Final = SIZE // STRIDE
CACHE_VERSION: Final = "loc-v1"
TEXTURE_NUMBERS: Final = 1000  # scene numbers of the real-texture training scenes start here
IOU_TARGET: Final = 0.8
PARITY_TOLERANCE: Final = 1e-3
# What the written localiser.json tells the runtime: the graph takes any multiple of 32 px
# a side (block 15's stride), and runs on the picture's own shape at a 320 px long side (at
# 256 the boxes scored the same on phone scenes, ``python -m bench.bench_locate --sizes``,
# but the classifier's scenes answered right and kept fell from 0.726 to 0.675,
# ``evaluate --scenes``; models/README.md, "Run size").
FREE_MULTIPLE: Final = 32
SERVE_SIZE: Final = 320
# The head alone, a graph of its own: it reads blocks 10 and 15 of the frozen Lite0, which
# the classifier's graph outputs for the photo it judges (``backbone_maps``), so a photo the
# localiser sees at the classifier's input needs one backbone run for both.
HEAD_FILE: Final = "amulet_localiser_head.onnx"
HEAD_INPUTS: Final = ("block10", "block15")


class LocaliserHead(nn.Module):
    """Block 10 + upsampled block 15 -> one mask logit per cell."""

    def __init__(self) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(112 + 320, 64, 1)
        self.mix = nn.Conv2d(64, 32, 3, padding=1)
        self.out = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, b10: torch.Tensor, b15: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(b15, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = F.relu(self.reduce(torch.cat([b10, up], dim=1)))
        out: torch.Tensor = self.out(F.relu(self.mix(x)))
        return out


class LocaliserNet(nn.Module):
    """The exported graph: frozen backbone through block 15, then the head."""

    def __init__(self, backbone: Backbone, head: LocaliserHead) -> None:
        super().__init__()
        self.backbone = backbone.eval()
        self.head = head.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        b10, b15 = _taps(self.backbone, image)
        out: torch.Tensor = self.head(b10, b15)
        return out


def _taps(backbone: Backbone, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    _, taps = backbone.run_blocks(backbone.stem(image), 0, len(backbone.net._blocks))
    return taps[0], taps[-1]  # blocks 10 and 15


@dataclass(frozen=True)
class SceneSet:
    """Cached inputs of the head for a list of scenes, with their truth."""

    b10: np.ndarray  # float16 [N, 112, 20, 20]
    b15: np.ndarray  # float16 [N, 320, 10, 10]
    target: np.ndarray  # float32 [N, 20, 20]: share of each cell covered by the amulet
    photo: np.ndarray  # int [N], -1 for bare backdrops
    boxes: np.ndarray  # int [N, 4] true box, original pixels


def _target(scene: Scene, boxed: Letterbox, picture: DecodedImage) -> np.ndarray:
    mask = Image.fromarray(scene.mask.astype(np.uint8) * 255).resize(
        (boxed.width, boxed.height), Image.Resampling.BILINEAR
    )
    canvas = np.zeros((SIZE, SIZE), np.float32)
    top, left = boxed.top, boxed.left
    canvas[top : top + boxed.height, left : left + boxed.width] = np.asarray(mask) / 255
    grid: np.ndarray = canvas.reshape(GRID, STRIDE, GRID, STRIDE).mean(axis=(1, 3))
    return grid


def render(
    cuts: list[CutOut], spec: tuple[int, int, str], seed: int, canvas: Canvas
) -> tuple[Scene, DecodedImage, Letterbox]:
    """One scene through the serving decode and the localiser's letterbox."""
    photo, number, family = spec
    scene = make_scene(
        cuts[photo] if photo >= 0 else None,
        photo=photo,
        number=number,
        family=family,
        seed=seed,
        canvas=canvas,
    )
    picture = decode_picture(scene.jpeg)
    return scene, picture, letterbox(picture.image, SIZE)


@torch.no_grad()
def scene_set(
    backbone: Backbone,
    cuts: list[CutOut],
    specs: list[tuple[int, int, str]],
    *,
    seed: int,
    canvas: Canvas,
    cache: Path | None,
) -> SceneSet:
    """Features and truth of ``specs``' scenes (from the cache when it holds them)."""
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            return SceneSet(**{k: data[k] for k in SceneSet.__dataclass_fields__})
    n = len(specs)
    out = SceneSet(
        np.zeros((n, 112, GRID, GRID), np.float16),
        np.zeros((n, 320, GRID // 2, GRID // 2), np.float16),
        np.zeros((n, GRID, GRID), np.float32),
        np.array([s[0] for s in specs]),
        np.zeros((n, 4), int),
    )
    batch: list[np.ndarray] = []
    started = time.monotonic()
    for i, spec in enumerate(specs):
        scene, picture, boxed = render(cuts, spec, seed, canvas)
        out.target[i] = _target(scene, boxed, picture)
        out.boxes[i] = scene.box
        batch.append(boxed.tensor)
        if len(batch) == 32 or i == n - 1:
            b10, b15 = _taps(backbone, torch.from_numpy(np.stack(batch)))
            out.b10[i + 1 - len(batch) : i + 1] = b10.numpy()
            out.b15[i + 1 - len(batch) : i + 1] = b15.numpy()
            batch = []
            logger.info("localiser scenes %d/%d (%.0f s)", i + 1, n, time.monotonic() - started)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **{k: getattr(out, k) for k in SceneSet.__dataclass_fields__})
    return out


def fit_head(data: SceneSet, rows: np.ndarray, *, epochs: int, seed: int) -> LocaliserHead:
    """Adam on BCE + soft Dice over the scenes at ``rows``."""
    torch.manual_seed(seed)
    head = LocaliserHead()
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    steps = epochs * int(np.ceil(len(rows) / 64))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    head.train()
    for _ in range(epochs):
        for chunk in np.array_split(rng.permutation(rows), int(np.ceil(len(rows) / 64))):
            idx = np.sort(chunk)
            b10 = torch.from_numpy(data.b10[idx].astype(np.float32))
            b15 = torch.from_numpy(data.b15[idx].astype(np.float32))
            target = torch.from_numpy(data.target[idx])[:, None]
            logits = head(b10, b15)
            bce = F.binary_cross_entropy_with_logits(logits, target)
            prob = torch.sigmoid(logits)
            inter = (prob * target).sum((1, 2, 3))
            dice = 1 - (2 * inter + 1) / (prob.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
            loss = bce + 0.5 * dice.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


@torch.no_grad()
def head_logits(head: LocaliserHead, data: SceneSet, rows: np.ndarray) -> np.ndarray:
    """Mask logits ``[len(rows), 20, 20]``."""
    outs = []
    for chunk in np.array_split(rows, max(1, int(np.ceil(len(rows) / 128)))):
        b10 = torch.from_numpy(data.b10[chunk].astype(np.float32))
        b15 = torch.from_numpy(data.b15[chunk].astype(np.float32))
        outs.append(head(b10, b15)[:, 0].numpy())
    return np.concatenate(outs)


def box_iou(a: tuple[int, ...] | np.ndarray, b: tuple[int, ...] | np.ndarray) -> float:
    """IoU of two ``(left, top, right, bottom)`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# Below this detail figure a crop has lost the amulet's relief: the development photos
# (224 px, sharp) measure 1.00 - 3.76, the same blurred with a 2 px Gaussian 0.05 - 0.17
# and with 1 px 0.16 - 0.55 (:func:`amulet_ai.model.localiser.sharpness`).
MIN_SHARPNESS: Final = 0.12
# The status rule for small and faint regions (``LocaliserMetadata.small_threshold``,
# ``small_alone``), chosen for localiser 1.1.1 (1.1.0's weights) by
# ``python -m bench.bench_locstatus`` on its tune split: a faint spot above 0.3 whose box
# is too small is a far amulet, and a too-small region must be the only one. A new fit has
# other logits: run the bench again.
SMALL_THRESHOLD: Final = 0.3
SMALL_ALONE: Final = True


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="localise", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="<class>/<front|back>/ photos")
    parser.add_argument("--out", type=Path, required=True, help="folder for ONNX + localiser.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--train-scenes", type=int, default=12, help="training scenes per photo")
    parser.add_argument("--test-scenes", type=int, default=4, help="test scenes per photo")
    parser.add_argument("--negatives", type=int, default=240, help="bare training backdrops")
    parser.add_argument(
        "--texture-scenes",
        type=int,
        default=4,
        help="more training scenes per photo on the real-texture training families "
        "(photographs and rough surfaces that are not the test family's)",
    )
    parser.add_argument(
        "--texture-negatives", type=int, default=80, help="bare real-texture training backdrops"
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--measure-folds",
        type=int,
        default=5,
        help="measure the first N folds only (each refits the head and locates every test "
        "scene twice: about 5 min per fold on two cores)",
    )
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "amulet_ai")
    parser.add_argument("--no-cache", action="store_true", help="recompute backbone features")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args(argv)


def _cache_file(cache_dir: Path | None, *parts: object) -> Path | None:
    if cache_dir is None:
        return None
    key = hashlib.sha256(repr((CACHE_VERSION, *parts)).encode()).hexdigest()[:16]
    return cache_dir / f"localiser-{key}.npz"


def _negatives(count: int, families: tuple[str, ...], first: int) -> list[tuple[int, int, str]]:
    return [(-1, first + k, families[k % len(families)]) for k in range(count)]


def texture_training_specs(
    photos: list[int], per_photo: int, negatives: int
) -> list[tuple[int, int, str]]:
    """Training scenes on the real-texture training families: ``per_photo`` of each photo,
    numbered from :data:`TEXTURE_NUMBERS` so they are other scenes than the base ones, and
    ``negatives`` bare backdrops."""
    specs = [
        (p, TEXTURE_NUMBERS + k, family)
        for p, k, family in scene_specs(photos, tuple(TEXTURE_TRAIN_FAMILIES), per_photo)
    ]
    return specs + _negatives(negatives, tuple(TEXTURE_TRAIN_FAMILIES), 50_000)


def _joined(a: SceneSet, b: SceneSet) -> SceneSet:
    return SceneSet(
        *(np.concatenate([getattr(a, k), getattr(b, k)]) for k in SceneSet.__dataclass_fields__)
    )


def _fold_rows(specs: list[tuple[int, int, str]], fold_of: np.ndarray, n_folds: int) -> np.ndarray:
    """The fold of each scene: its photo's fold; bare backdrops dealt round-robin."""
    return np.array([fold_of[p] if p >= 0 else n % n_folds for p, n, _ in specs])


def evaluate_fold(
    net: LocaliserNet,
    specs: list[tuple[int, int, str]],
    cuts: list[CutOut],
    seed: int,
    meta: LocaliserMetadata,
) -> list[dict[str, Any]]:
    """Each test scene regenerated and located as served (both passes of
    :func:`amulet_ai.model.localiser.locate_with`, the graph in torch): status and box IoU."""

    @torch.no_grad()
    def logits_fn(batch: np.ndarray) -> np.ndarray:
        out: np.ndarray = net(torch.from_numpy(batch)).numpy()[:, 0]
        return out

    rows = []
    for spec in specs:
        scene, picture, _ = render(cuts, spec, seed, "small")
        loc = locate_with(logits_fn, picture, meta)
        iou = 0.0
        if loc.box is not None and spec[0] >= 0:
            b = loc.box
            iou = box_iou((b.x, b.y, b.x + b.width, b.y + b.height), scene.box)
        rows.append(
            {
                "photo": spec[0],
                "family": spec[2],
                "status": loc.status,
                "iou": iou,
                "fraction": scene.fraction,
                "sharpness": loc.sharpness,
            }
        )
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the model card from the per-scene rows."""
    pos = [r for r in rows if r["photo"] >= 0]
    neg = [r for r in rows if r["photo"] < 0]
    ious = np.array([r["iou"] for r in pos])
    statuses = [r["status"] for r in pos]
    per_family = {
        fam: float(np.mean([r["iou"] >= IOU_TARGET for r in pos if r["family"] == fam]))
        for fam in sorted({r["family"] for r in pos})
    }
    return {
        "scenes": len(pos),
        "mean_iou": float(ious.mean()),
        "median_iou": float(np.median(ious)),
        "iou_at_least_0.8": float((ious >= IOU_TARGET).mean()),
        "iou_at_least_0.7": float((ious >= 0.7).mean()),
        "iou_at_least_0.8_per_family": per_family,
        "status": {s: statuses.count(s) / len(pos) for s in sorted(set(statuses))},
        "bare_backdrops": len(neg),
        "bare_backdrops_no_amulet": float(np.mean([r["status"] == "no_amulet" for r in neg]))
        if neg
        else None,
    }


# Free batch and spatial sizes: the runtime letterboxes into any multiple of 32 px a side
# (block 15's stride) up to :data:`SIZE`, and the graph's cells follow (``size / 16``).
DYNAMIC_AXES: Final = {
    "image": {0: "batch", 2: "height", 3: "width"},
    "mask_logits": {0: "batch", 2: "grid_height", 3: "grid_width"},
}


def _exported(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    feeds: dict[str, np.ndarray],
    axes: dict[str, dict[int, str]],
    want: np.ndarray,
) -> float:
    """Export ``module`` (called with ``args``; inputs named as ``feeds``, output
    ``mask_logits``, opset 17) to ``path``; the max |logit| difference of onnxruntime on
    ``feeds`` to ``want``.

    Raises:
        RuntimeError: the difference is over ``PARITY_TOLERANCE``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=list(feeds),
            output_names=["mask_logits"],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diff = float(np.abs(session.run(["mask_logits"], feeds)[0] - want).max())
    if diff > PARITY_TOLERANCE:
        raise RuntimeError(f"{path.name} differs from torch by {diff:.2e}")
    return diff


def export(net: LocaliserNet, path: Path, sample: np.ndarray) -> float:
    """ONNX export (opset 17, free batch and spatial sizes) and the max |logit| difference
    to torch on ``sample``.

    Raises:
        RuntimeError: onnxruntime and torch differ by more than ``PARITY_TOLERANCE``.
    """
    with torch.no_grad():
        want = net(torch.from_numpy(sample)).numpy()
    dummy = (torch.zeros(1, 3, SIZE, SIZE),)
    return _exported(net, dummy, path, {"image": sample}, DYNAMIC_AXES, want)


HEAD_AXES: Final = {
    "block10": {0: "batch", 2: "grid_height", 3: "grid_width"},
    "block15": {0: "batch", 2: "half_height", 3: "half_width"},
    "mask_logits": {0: "batch", 2: "grid_height", 3: "grid_width"},
}


def export_head(net: LocaliserNet, path: Path, sample: np.ndarray) -> dict[str, Any]:
    """The head of ``net`` alone as ONNX (inputs :data:`HEAD_INPUTS`, the backbone's maps;
    output ``mask_logits``); returns its ``head`` block of ``localiser.json``.

    Its parity is against the whole net in torch on ``sample`` (letterboxed pictures).

    Raises:
        RuntimeError: the head graph's logits differ by more than ``PARITY_TOLERANCE``.
    """
    with torch.no_grad():
        b10, b15 = _taps(net.backbone, torch.from_numpy(sample))
        want = net(torch.from_numpy(sample)).numpy()
    feeds = dict(zip(HEAD_INPUTS, (b10.numpy(), b15.numpy()), strict=True))
    diff = _exported(net.head, (b10[:1], b15[:1]), path, feeds, HEAD_AXES, want)
    return {
        "onnx_file": path.name,
        "onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "inputs": list(HEAD_INPUTS),
        "backbone": "efficientnet-lite0",
        "parity_max_abs_logit_diff": diff,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole localise command; returns the metadata it wrote."""
    started = time.monotonic()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    dataset: Dataset = load_dataset(args.data)
    data_fp = fingerprint(dataset)
    cuts, rejected = cut_out_all(dataset.photos)
    print(f"cut-outs: {len(cuts) - len(rejected)} of {len(cuts)} photos keyed cleanly")
    for path, reason in rejected:
        print(f"  not used in scenes: {path.relative_to(dataset.root)}: {reason}")
    usable = [i for i, c in enumerate(cuts) if c.ok]
    labels = np.array(dataset.labels)
    fold_of = np.zeros(len(labels), int)
    for k, test in enumerate(stratified_folds(labels, args.folds, args.seed)):
        fold_of[test] = k
    train_specs = scene_specs(usable, tuple(TRAIN_FAMILIES), args.train_scenes)
    train_specs += _negatives(args.negatives, tuple(TRAIN_FAMILIES), 0)
    texture_specs = texture_training_specs(usable, args.texture_scenes, args.texture_negatives)
    test_specs = scene_specs(usable, tuple(TEST_FAMILIES), args.test_scenes)
    test_specs += _negatives(max(20, args.negatives // 4), tuple(TEST_FAMILIES), 100_000)
    backbone = load_backbone()
    cache_dir = None if args.no_cache else args.cache_dir
    train = scene_set(
        backbone,
        cuts,
        train_specs,
        seed=args.seed,
        canvas="draft",
        cache=_cache_file(cache_dir, data_fp, args.seed, train_specs, "draft"),
    )
    if texture_specs:  # cached apart, so the base scenes' cache stays valid
        extra = scene_set(
            backbone,
            cuts,
            texture_specs,
            seed=args.seed,
            canvas="draft",
            cache=_cache_file(cache_dir, data_fp, args.seed, texture_specs, "draft"),
        )
        train = _joined(train, extra)
        train_specs = train_specs + texture_specs
    meta = LocaliserMetadata(
        name=NAME,
        version=VERSION,
        size=SIZE,
        stride=STRIDE,
        min_sharpness=MIN_SHARPNESS,
        small_threshold=SMALL_THRESHOLD,
        small_alone=SMALL_ALONE,
    )
    train_fold = _fold_rows(train_specs, fold_of, args.folds)
    test_fold = _fold_rows(test_specs, fold_of, args.folds)
    rows: list[dict[str, Any]] = []
    for k in range(min(args.measure_folds, args.folds)):
        head = fit_head(train, np.flatnonzero(train_fold != k), epochs=args.epochs, seed=args.seed)
        fold_specs = [s for s, f in zip(test_specs, test_fold, strict=True) if f == k]
        fold_rows = evaluate_fold(LocaliserNet(backbone, head), fold_specs, cuts, args.seed, meta)
        rows.extend(fold_rows)
        fold_iou = summarise(fold_rows)["iou_at_least_0.8"]
        logger.info("localiser fold %d: IoU >= 0.8 on %.3f of test scenes", k, fold_iou)
    cv = summarise(rows)
    cv["folds_measured"] = min(args.measure_folds, args.folds)
    print(json.dumps(cv, indent=2))
    head = fit_head(train, np.arange(len(train_specs)), epochs=args.epochs, seed=args.seed)
    net = LocaliserNet(backbone, head)
    onnx_path = args.out / LOCALISER_FILE
    sample = np.stack(
        [
            render(cuts, s, args.seed, "small")[2].tensor
            for s in test_specs[:: len(test_specs) // 8][:8]
        ]
    )
    parity = export(net, onnx_path, sample)
    head_block = export_head(net, args.out / HEAD_FILE, sample)
    wall = round(time.monotonic() - started, 1)
    payload = meta.model_dump()
    payload.update(
        # The exported graph takes free sizes: the serving path runs it at SERVE_SIZE (the
        # CV above is measured at the 320 px square it is trained at).
        multiple=FREE_MULTIPLE,
        run_size=SERVE_SIZE,
        onnx_sha256=hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        head=head_block,
        created_at=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        architecture="efficientnet-lite0 blocks 10 + 15 (frozen), conv head 432-64-32-1",
        metrics={"cv": cv, "parity_max_abs_logit_diff": parity},
        training={
            "seed": args.seed,
            "folds": args.folds,
            "train_scenes_per_photo": args.train_scenes,
            "test_scenes_per_photo": args.test_scenes,
            "bare_backdrops": args.negatives,
            "texture_scenes_per_photo": args.texture_scenes,
            "texture_bare_backdrops": args.texture_negatives,
            "epochs": args.epochs,
            "folds_measured": min(args.measure_folds, args.folds),
            "train_families": list(TRAIN_FAMILIES)
            + (list(TEXTURE_TRAIN_FAMILIES) if texture_specs else []),
            "test_families": list(TEST_FAMILIES),
            "photos_not_keyed": [str(p.relative_to(dataset.root)) for p, _ in rejected],
            "wall_seconds": wall,
            "torch": torch.__version__.split("+")[0],
            "command": "python -m amulet_ai.training.localise --data DATA --out models/",
        },
    )
    (args.out / LOCALISER_METADATA).write_text(json.dumps(payload, indent=2) + "\n")
    print(
        f"export: {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB), parity {parity:.2e}; "
        f"wall time {wall} s"
    )
    return payload


def localise_main(argv: list[str] | None = None) -> int:
    """Entry point of the localise command; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run(_parse(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(localise_main())
