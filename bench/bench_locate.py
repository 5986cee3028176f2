"""``locate=auto`` against ``locate=off`` over HTTP, one client, every request a cache miss.

Two servers of this checkout, one with ``AMULET_LOCATE=auto`` and one with ``off``,
alternated round by round on the same photos:

    12 MP scene   a 4000 x 3000 phone-style JPEG with an amulet on a backdrop (a development
                  photo's cut-out from ../shared when present; else :func:`phone_jpeg`,
                  a scene without an amulet, which takes only the localiser's first pass)
    12 MP plain   :func:`bench.photos.phone_jpeg`, the 12 MP photo the other sections send
    224 px        :func:`bench.photos.photo_jpeg`, the 224 px photos the other sections send
    224 px amulets ten tight 224 px development photos, every 14th (when ../shared is
                  present): a photo the amulet fills is located and classified from one
                  backbone run (:func:`amulet_ai.serving.locating.shared_first_pass`),
                  one it is cropped from costs two; 8 of these 10 are whole, as 0.87 of all
                  development photos

Each row gives both arms' p50 and server CPU per request, and the ratios auto / off (the
issue's targets: 12 MP p50 <= 80 ms, 224 px auto <= 1.5 x off).

``python -m bench.bench_locate --zoom`` measures, in process, what two of the serving
path's cost cuts do to the boxes, on phone-style scenes (2000 x 1500) of every fifth
development photo on the test-only backdrop families: the localiser's draft decode at a
shorter side of 240 px against 640 px, and skipping its zoom pass where it would magnify
less than 1, 1.25, 1.5 or 2 times (:data:`amulet_ai.serving.locating.MIN_ZOOM`).

``python -m bench.bench_locate --sizes`` measures, in process, the boxes and the
localiser's CPU time at each input size (:func:`size_table`): the 320 px square it was
trained at against free-shape letterboxes of 288, 256 and 224 px, with the zoom pass at
each threshold, on the same development photos, scenes and bare backdrops.

``python -m bench.bench_locate --stages`` measures, in process, the CPU milliseconds of the
serving path's ``prepare`` on each row's first photo (:func:`stage_costs`): ``off``, and
``auto`` split into draft decode, localiser graph runs and the rest, with the localiser as
shipped and at its 320 px square.

``python -m bench.bench_locate --graphs`` measures the CPU milliseconds of one run of each
graph on one photo, in process: the classifier at 224 px, the localiser at 320 x 320 (as
trained), 256 x 192 (a 4:3 photo as served), 256 x 256 (its zoom pass) and 224 x 224 (a
224 px photo). With ``--against OTHER.onnx`` it instead compares the shipped classifier
graph with another one (an earlier model: ``git show REV:models/amulet_classifier.onnx >
OTHER.onnx``), each on a one-thread session, in alternating rounds on the same photo
(:func:`classifier_graph_ab`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_service import Plan, _timed_load, warm_up
from bench.load import alternate
from bench.photos import phone_jpeg, photo_jpeg
from bench.servers import amulet_service

logger = logging.getLogger(__name__)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "amulets"
TIGHT_STEP = 14
TIGHT_PHOTOS = 10  # one round's requests: every round sends each once


def located_photos() -> dict[str, list[bytes]]:
    """The photos each row sends, round robin (see the module docstring)."""
    photos = {"12 MP plain": [phone_jpeg()], "224 px": [photo_jpeg(3)]}
    if not SHARED_DATA.is_dir():
        logger.warning("no %s: the amulet rows are left out", SHARED_DATA)
        return photos
    from amulet_ai.training.cutout import cut_out_all
    from amulet_ai.training.data import load_dataset
    from amulet_ai.training.scenes import make_scene

    dataset = load_dataset(SHARED_DATA)
    cuts = [c for c in cut_out_all(dataset.photos[::23])[0] if c.ok]
    scene = make_scene(cuts[1], photo=960, number=0, family="paper", seed=4, canvas="12mp")
    tight = [p.path.read_bytes() for p in dataset.photos[::TIGHT_STEP][:TIGHT_PHOTOS]]
    return {"12 MP scene": [scene.jpeg], **photos, "224 px amulets": tight}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


async def _rows(
    auto: Any, off: Any, photos: dict[str, list[bytes]], plan: Plan, requests: int
) -> Any:
    await warm_up([auto, off], [p for row in photos.values() for p in row], plan)
    out: dict[str, Any] = {}
    for kind, row_photos in photos.items():
        results = await alternate(
            {
                "auto": _timed_load(auto, row_photos, 1, unique=True, requests=requests),
                "off": _timed_load(off, row_photos, 1, unique=True, requests=requests),
            },
            plan.rounds,
        )
        row = {arm: result.as_dict() for arm, result in results.items()}
        row["p50_ratio"] = _ratio(results["auto"].p50_ms, results["off"].p50_ms)
        row["cpu_ratio"] = _ratio(
            row["auto"].get("server_cpu_ms_per_request"),
            row["off"].get("server_cpu_ms_per_request"),
        )
        out[kind] = row
        logger.info(
            "locate %s: p50 auto %s ms off %s ms (x%s); server CPU auto %s ms off %s ms (x%s)",
            kind,
            row["auto"]["p50_ms"],
            row["off"]["p50_ms"],
            row["p50_ratio"],
            row["auto"].get("server_cpu_ms_per_request"),
            row["off"].get("server_cpu_ms_per_request"),
            row["cpu_ratio"],
        )
    return out


def bench_locate(*, quick: bool) -> dict[str, Any]:
    """The rows above; ``quick`` sends fewer requests."""
    plan = Plan.for_mode(quick)
    requests = 4 if quick else TIGHT_PHOTOS  # per arm and round
    photos = located_photos()
    with (
        amulet_service("locate_auto", AMULET_LOCATE="auto") as auto,
        amulet_service("locate_off", AMULET_LOCATE="off") as off,
    ):
        rows = asyncio.run(_rows(auto, off, photos, plan, requests))
    return {"rounds": plan.rounds, "requests_per_round": requests, "photos": rows}


ZOOM_THRESHOLDS = (1.0, 1.25, 1.5, 2.0)


def zoom_table(step: int = 5, seed: int = 11) -> dict[str, Any]:
    """Box IoU of the localiser per draft size and zoom threshold (see the docstring)."""
    from amulet_ai.imaging.decode import decode_picture
    from amulet_ai.model.localiser import (
        ZOOM_MARGIN,
        Localiser,
        crop_square,
        letterbox,
        locate_from_logits,
        locate_with,
    )
    from amulet_ai.training.cutout import cut_out_all
    from amulet_ai.training.data import load_dataset
    from amulet_ai.training.localise import box_iou
    from amulet_ai.training.scenes import make_scene

    localiser = Localiser.load()
    meta = localiser.metadata
    cuts = [c for c in cut_out_all(load_dataset(SHARED_DATA).photos[::step])[0] if c.ok]
    families = ("stone", "paper", "palm", "texture")
    out: dict[str, Any] = {"scenes": len(cuts)}
    for side in (240, 640):
        first_iou, zoom_iou, magnification = [], [], []
        for i, cut in enumerate(cuts):
            scene = make_scene(
                cut, photo=700 + i, number=0, family=families[i % 4], seed=seed, canvas="phone"
            )
            picture = decode_picture(scene.jpeg, min_side=side)
            boxed = letterbox(
                picture.image, meta.input_side(max(picture.image.size)), meta.multiple
            )
            first = locate_from_logits(
                localiser.logits(boxed.tensor[None])[0], boxed, picture, meta
            )
            both = locate_with(localiser.logits, picture, meta, min_zoom=0.0)
            for found, into in ((first, first_iou), (both, zoom_iou)):
                b = found.box
                ltrb = (0, 0, 0, 0) if b is None else (b.x, b.y, b.x + b.width, b.y + b.height)
                into.append(box_iou(ltrb, scene.box) if b is not None else 0.0)
            if first.picture_box is None:
                magnification.append(0.0)
            else:
                square = crop_square(first.picture_box, ZOOM_MARGIN)
                magnification.append(max(picture.image.size) / (square[2] - square[0]))
        f, z, m = np.array(first_iou), np.array(zoom_iou), np.array(magnification)
        row: dict[str, Any] = {
            "first_pass": {"iou_at_least_0.8": round(float((f >= 0.8).mean()), 3),
                           "mean_iou": round(float(f.mean()), 3)},
        }  # fmt: skip
        for threshold in ZOOM_THRESHOLDS:
            mixed = np.where(m < threshold, f, z)
            row[f"min_zoom_{threshold}"] = {
                "iou_at_least_0.8": round(float((mixed >= 0.8).mean()), 3),
                "mean_iou": round(float(mixed.mean()), 3),
                "zoom_runs": round(float((m >= threshold).mean()), 2),
            }
        out[f"draft_short_side_{side}"] = row
    return out


# (long side, free-shape letterbox, zoom pass side): the graph's 320 px square as trained,
# then the picture's own shape (multiples of 32) at shorter long sides; the zoom pass at the
# first pass's long side, or smaller.
SIZE_CONFIGS = (
    (320, False, None),
    (288, True, None),
    (256, True, None),
    (256, True, 224),
    (256, True, 192),
    (224, True, None),
)


def _size_cases(
    step: int, seed: int, bare: int = 40
) -> list[tuple[str, bytes, tuple[int, int, int, int] | None]]:
    """(kind, JPEG or photo bytes, true box) of the size table (see :func:`size_table`)."""
    from amulet_ai.training.cutout import cut_out_all
    from amulet_ai.training.data import load_dataset
    from amulet_ai.training.scenes import Canvas, make_scene

    photos = load_dataset(SHARED_DATA).photos[::step]
    cuts = cut_out_all(photos)[0]
    families = ("stone", "paper", "palm", "texture")
    cases: list[tuple[str, bytes, tuple[int, int, int, int] | None]] = []
    for k in range(bare):
        canvas: Canvas = "phone" if k % 2 else "small"
        scene = make_scene(
            None, photo=-1, number=5000 + k, family=families[k % 4], seed=seed, canvas=canvas
        )
        cases.append(("bare", scene.jpeg, None))
    for i, (photo, cut) in enumerate(zip(photos, cuts, strict=True)):
        if not cut.ok:
            continue
        cases.append(("tight", photo.path.read_bytes(), cut.box))
        for canvas in ("phone", "small"):
            scene = make_scene(
                cut, photo=900 + i, number=0, family=families[i % 4], seed=seed, canvas=canvas
            )
            cases.append((canvas, scene.jpeg, scene.box))
    return cases


def size_table(
    step: int = 2,
    seed: int = 13,
    *,
    configs: tuple[tuple[int, bool, int | None], ...] = SIZE_CONFIGS,
    draft: str = "shared",
) -> dict[str, Any]:
    """Box IoU, statuses and localiser CPU ms per photo at each input size of
    :data:`SIZE_CONFIGS`, on the same photos through the serving path's draft decode:
    every ``step``-th development photo as it is (``tight``, its cut-out's box as the
    truth) and on a test-family scene of each canvas ``phone`` (2000 x 1500) and ``small``
    (320-1600 px), and 40 bare test-family backdrops (``bare``: ``found`` is then the share
    answered ``no_amulet``); with the zoom pass at each threshold (0: always, 1e9: never;
    ``graph_runs``: runs of the graph per photo). ``draft``: ``shared``, the draft that
    ``prepare`` reads, reduced from its first decode
    (:func:`~amulet_ai.imaging.decode.decode_draft_and_detail`); ``alone``, its own
    decode at the draft's scale (the rule before the first decode was shared)."""
    from amulet_ai.imaging.decode import DecodedImage, decode_draft_and_detail, decode_picture
    from amulet_ai.model.localiser import Localiser, locate_with
    from amulet_ai.serving.locating import DRAFT_SIDE, FIRST_DETAIL_SIDE, MIN_ZOOM, fills_frame
    from amulet_ai.training.localise import box_iou

    localiser = Localiser.load()
    cases = _size_cases(step, seed)

    def decoded(data: bytes) -> DecodedImage:
        if draft == "alone":
            return decode_picture(data, min_side=DRAFT_SIDE)
        return decode_draft_and_detail(data, draft_side=DRAFT_SIDE, detail_side=FIRST_DETAIL_SIDE)[
            0
        ]

    drafts = [(kind, decoded(data), box) for kind, data, box in cases]
    kinds = ("tight", "phone", "small", "bare")
    out: dict[str, Any] = {"photos": {k: sum(c[0] == k for c in cases) for k in kinds}}
    for side, free, zoom in configs:
        meta = localiser.metadata.model_copy(
            update={"run_size": side, "multiple": 32 if free else None, "zoom_size": zoom}
        )
        name = f"{side}_{'free' if free else 'square'}" + ("" if zoom is None else f"_zoom_{zoom}")
        localiser.metadata = meta
        localiser.warm_up(2)
        row: dict[str, Any] = {}
        zooms = {f"min_zoom_{z}": z for z in (0.0, 1.0, 1.25, MIN_ZOOM, 2.0, 1e9)}
        for zoom_name, min_zoom in zooms.items():
            per: dict[str, dict[str, list[float]]] = {}
            for kind, picture, truth in drafts:
                runs: list[int] = []

                def counted(batch: np.ndarray, runs: list[int] = runs) -> np.ndarray:
                    runs.append(1)
                    return localiser.logits(batch)

                started = time.process_time()
                found = locate_with(counted, picture, meta, min_zoom=min_zoom)
                cpu = 1000 * (time.process_time() - started)
                b = found.box
                iou = (
                    0.0
                    if b is None or truth is None
                    else box_iou((b.x, b.y, b.x + b.width, b.y + b.height), truth)
                )
                stats = per.setdefault(
                    kind, {"iou": [], "cpu": [], "found": [], "fills": [], "runs": []}
                )
                stats["runs"].append(len(runs))
                stats["iou"].append(iou)
                stats["cpu"].append(cpu)
                want = "found" if truth is not None else "no_amulet"
                stats["found"].append(float(found.status == want))
                stats["fills"].append(float(fills_frame(found)))
            row[zoom_name] = {
                kind: {
                    "iou_at_least_0.8": round(float(np.mean(np.array(st["iou"]) >= 0.8)), 3),
                    "mean_iou": round(float(np.mean(st["iou"])), 3),
                    "found": round(float(np.mean(st["found"])), 3),
                    "fills_frame": round(float(np.mean(st["fills"])), 3),
                    "cpu_ms": round(float(np.median(st["cpu"])), 1),
                    "graph_runs": round(float(np.mean(st["runs"])), 2),
                }
                for kind, st in per.items()
            }
        out[name] = row
        logger.info("size %s: %s", name, row[f"min_zoom_{MIN_ZOOM}"])
    return out


def stage_costs(runs: int = 20) -> dict[str, Any]:
    """CPU ms per photo of the serving path's ``prepare`` for each row's photo, in process:
    ``off``, and ``auto`` with the localiser as shipped and at the 320 px square it was
    trained at; ``auto`` split into the first decode (draft and detail), the localiser
    graph's runs, and the rest (letterbox, mask to box, crop, sharpness, a second decode
    where one is needed)."""
    from amulet_ai.model.classifier import AmuletClassifier
    from amulet_ai.serving.locating import DRAFT_SIDE, FIRST_DETAIL_SIDE, prepare

    classifier = AmuletClassifier.load(with_localiser=True)
    localiser = classifier.localiser
    assert localiser is not None
    shipped = localiser.metadata
    graph = localiser.logits
    spent = [0.0, 0]

    def timed(batch: np.ndarray) -> np.ndarray:
        started = time.process_time()
        try:
            return graph(batch)
        finally:
            spent[0] += time.process_time() - started
            spent[1] += 1

    localiser.logits = timed  # type: ignore[method-assign]
    configs = {
        "shipped": shipped,
        "square_320": shipped.model_copy(update={"multiple": None, "run_size": None}),
    }
    out: dict[str, Any] = {}
    for kind, row_photos in located_photos().items():
        photo = row_photos[0]  # the first photo of each row
        row: dict[str, Any] = {}
        for arm, meta in (("off", shipped), *configs.items()):
            localiser.metadata = meta
            mode = "off" if arm == "off" else "auto"
            for _ in range(3):
                prepare(classifier, lambda photo=photo: photo, mode)
            totals, graphs, calls = [], [], []
            for _ in range(runs):
                spent[:] = [0.0, 0]
                started = time.process_time()
                prepared = prepare(classifier, lambda photo=photo: photo, mode)
                totals.append(time.process_time() - started)
                graphs.append(spent[0])
                calls.append(spent[1])
            name = arm if arm == "off" else f"auto_{arm}"
            row[name] = {
                "cpu_ms": round(1000 * float(np.median(totals)), 1),
                "graph_ms": round(1000 * float(np.median(graphs)), 1),
                "graph_runs": round(float(np.mean(calls)), 2),
                "status": prepared.location.status,
            }
        started = time.process_time()
        for _ in range(runs):
            classifier.decode_draft_and_detail(
                photo, draft_side=DRAFT_SIDE, detail_side=FIRST_DETAIL_SIDE
            )
        draft = round(1000 * (time.process_time() - started) / runs, 1)
        for name in ("auto_shipped", "auto_square_320"):
            stats = row[name]
            stats["draft_decode_ms"] = draft
            stats["rest_ms"] = round(stats["cpu_ms"] - stats["graph_ms"] - draft, 1)
        out[kind] = row
        logger.info("stages %s: %s", kind, row)
    localiser.metadata = shipped
    return out


FIRST_DECODE_PHOTOS = {
    "12 MP 4:3": (4000, 3000),
    "12 MP 3:4": (3000, 4000),
    "8 MP": (3264, 2448),
    "2 MP": (1600, 1200),
    "1 MP": (1152, 864),
    "224 px": (224, 224),
}


def _phone_at(width: int, height: int) -> bytes:
    """:func:`phone_jpeg` as a photo of ``width`` x ``height`` (turned for an upright one,
    resized for a smaller one), quality 90; 224 px: :func:`photo_jpeg`."""
    import io

    from PIL import Image

    if max(width, height) <= 224:
        return photo_jpeg(3)
    image = Image.open(io.BytesIO(phone_jpeg())).convert("RGB")
    if height > width:
        image = image.transpose(Image.Transpose.ROTATE_90)
    if image.size == (width, height):
        if height <= width:
            return phone_jpeg()
    else:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def first_decode_table(runs: int = 15, sides: tuple[int, ...] = (240, 320, 480, 640)) -> Any:
    """Expected decode CPU ms per photo of ``prepare`` (auto) for each rule of its first
    decode (the shorter side it asks, :data:`~amulet_ai.serving.locating.FIRST_DETAIL_SIDE`;
    240: the draft alone, the old rule), per photo size: the first decode's CPU, plus the
    CPU of the second decode the crop needs (medians, the rules in alternating rounds),
    averaged over amulets whose long side is
    spread evenly over the scene generator's sizes (:data:`~amulet_ai.training.scenes.SIZE_RANGE`
    of the short side; its box taken as that long side, the crop that plus the margin)."""
    from amulet_ai.imaging.decode import decode_draft_and_detail, decode_picture
    from amulet_ai.serving.locating import CROP_MARGIN, DRAFT_SIDE
    from amulet_ai.training.scenes import SIZE_RANGE

    def cpu_each(fns: list[Any]) -> list[float]:
        """Median CPU ms of each of ``fns``, called in alternating rounds."""
        times: list[list[float]] = [[] for _ in fns]
        for fn in fns:
            fn()
        for _ in range(runs):
            for fn, spent in zip(fns, times, strict=True):
                started = time.process_time()
                fn()
                spent.append(time.process_time() - started)
        return [1000 * float(np.median(t)) for t in times]

    def cpu(fn: Any) -> float:
        return cpu_each([fn])[0]

    fractions = np.linspace(*SIZE_RANGE, 29)
    out: dict[str, Any] = {}
    for name, (width, height) in FIRST_DECODE_PHOTOS.items():
        data = _phone_at(width, height)
        short = min(width, height)
        seconds: dict[int, float] = {}
        row: dict[str, Any] = {}
        firsts = cpu_each(
            [
                lambda side=side, data=data: decode_draft_and_detail(
                    data, draft_side=DRAFT_SIDE, detail_side=side
                )
                for side in sides
            ]
        )
        for side, first in zip(sides, firsts, strict=True):
            detail = decode_draft_and_detail(data, draft_side=DRAFT_SIDE, detail_side=side)[1]
            scale = min(detail.image.size) / short
            extra = []
            for fraction in fractions:
                crop = fraction * short * (1 + 2 * CROP_MARGIN)
                if crop * scale >= 224 or scale >= 1:
                    extra.append(0.0)
                    continue
                need = int(np.ceil(short * 224 / crop))
                if need not in seconds:
                    seconds[need] = cpu(
                        lambda need=need, data=data: decode_picture(data, min_side=need)
                    )
                extra.append(seconds[need])
            row[f"side_{side}"] = {
                "first_ms": round(first, 1),
                "second_share": round(float(np.mean([e > 0 for e in extra])), 2),
                "expected_ms": round(first + float(np.mean(extra)), 1),
            }
        out[name] = row
        logger.info("first decode %s: %s", name, row)
    return out


def _cpu_ms(run: Any, shape: tuple[int, int], runs: int = 20) -> float:
    x = np.zeros((1, 3, *shape), dtype=np.float32)
    for _ in range(3):
        run(x)
    started = time.process_time()
    for _ in range(runs):
        run(x)
    return round(1000 * (time.process_time() - started) / runs, 1)


def graph_costs() -> dict[str, float]:
    """CPU ms per run of each graph (see the docstring)."""
    from amulet_ai.model.classifier import AmuletClassifier
    from amulet_ai.model.localiser import Localiser

    classifier = AmuletClassifier.load(warmup_runs=0)
    localiser = Localiser.load()
    size = classifier.input_size
    out = {"classifier_224": _cpu_ms(classifier.run, (size, size))}
    for height, width in ((320, 320), (192, 256), (256, 256), (224, 224)):
        out[f"localiser_{width}x{height}"] = _cpu_ms(localiser.logits, (height, width))
    return out


def _output_diffs(shipped: Any, other: Any, size: int) -> dict[str, float] | None:
    """Max |difference| of each output the two graphs share, on the development photos
    (None where ``../shared`` is not beside the checkout)."""
    from amulet_ai.imaging.decode import decode_image, to_tensor
    from amulet_ai.training.data import load_dataset

    if not SHARED_DATA.is_dir():
        return None
    paths = [photo.path for photo in load_dataset(SHARED_DATA).photos]
    batch = np.stack([to_tensor(decode_image(p.read_bytes(), size=size).image) for p in paths])
    names = [
        o.name for o in shipped.get_outputs() if o.name in {x.name for x in other.get_outputs()}
    ]
    feed = shipped.get_inputs()[0].name
    ours = shipped.run(names, {feed: batch})
    theirs = other.run(names, {other.get_inputs()[0].name: batch})
    diffs = {n: float(np.abs(a - b).max()) for n, a, b in zip(names, ours, theirs, strict=True)}
    diffs["photos"] = float(len(paths))
    return diffs


def classifier_graph_ab(other: Path, rounds: int = 8, runs: int = 20) -> dict[str, Any]:
    """CPU ms per run of the shipped classifier graph and of ``other``, median of
    ``rounds`` alternating rounds of ``runs`` runs each, and their ratio."""
    from amulet_ai.config import DEFAULT_MODEL_DIR
    from amulet_ai.model.metadata import ModelMetadata
    from amulet_ai.model.sessions import cpu_session

    metadata = ModelMetadata.load(DEFAULT_MODEL_DIR / "metadata.json")
    paths = {"shipped": DEFAULT_MODEL_DIR / metadata.onnx_file, "other": other}
    sessions = {name: cpu_session(path, 1, 1) for name, path in paths.items()}
    size = metadata.input.size
    spent: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            feed = {session.get_inputs()[0].name: np.zeros((1, 3, size, size), np.float32)}
            spent[name].append(
                _cpu_ms(lambda x, s=session, f=feed: s.run(None, f), (size, size), runs)
            )
    medians = {name: float(np.median(values)) for name, values in spent.items()}
    return {
        "outputs_max_abs_diff": _output_diffs(sessions["shipped"], sessions["other"], size),
        "cpu_ms": medians,
        "shipped_over_other": round(medians["shipped"] / medians["other"], 3),
        "rounds": rounds,
        "runs_per_round": runs,
        "other": str(other),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_locate", description=__doc__)
    parser.add_argument("--zoom", action="store_true", help="the box IoU table (in process)")
    parser.add_argument("--graphs", action="store_true", help="CPU ms per graph run")
    parser.add_argument(
        "--against",
        type=Path,
        metavar="ONNX",
        help="with --graphs: the shipped classifier graph against this one, alternated",
    )
    parser.add_argument(
        "--sizes", action="store_true", help="box IoU and CPU per localiser input size"
    )
    parser.add_argument(
        "--draft",
        choices=("shared", "alone"),
        help="--sizes at the shipped input size only, the draft reduced from prepare's first "
        "decode (shared) or decoded alone (the rule before)",
    )
    parser.add_argument("--stages", action="store_true", help="CPU ms of prepare by stage")
    parser.add_argument("--quick", action="store_true", help="fewer requests (HTTP rows)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import json

    if args.graphs and args.against:
        result: Any = classifier_graph_ab(args.against)
    elif args.graphs:
        result = graph_costs()
    elif args.sizes and args.draft:
        result = size_table(configs=((256, True, None),), draft=args.draft)
    elif args.sizes:
        result = size_table()
    elif args.stages:
        result = {"prepare": stage_costs(), "first_decode": first_decode_table()}
    else:
        result = zoom_table() if args.zoom else bench_locate(quick=args.quick)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
