"""The localiser's statuses by amulet size, and on pictures without an amulet.

Run (about 15 minutes on two loaded cores; needs ../shared/data/amulets)::

    nice -n 19 python -m bench.bench_locstatus --json bench/results/locstatus.json

Every picture goes through the serving path's ``prepare`` (``locate=auto``, the shipped
models/) as an upload would, and its answered status is counted. The groups, in two
splits (``tune``: seed 31 and the training backdrop families; ``report``: seed 32 and the
test-only families, which the localiser never saw):

    small      scenes of every keyed development photo, one on the phone canvas
               (2000 x 1500) and one on the small one (320-1600 px), the amulet at 3-25 %
               of the short side (below the generator's training range)
    usual      the same at the generator's range, 25-95 %
    none       pictures without an amulet: the 74 that ``evaluate`` and ``train`` use
               (:func:`~amulet_ai.training.nonamulet.non_amulet_images`, 224 px), the
               scikit-image and scikit-learn sample photos at their own size, and bare
               phone backdrops of every family (6 a family); pictures alternate between
               the splits

Then the status rule (:func:`~amulet_ai.model.localiser.locate_from_logits`, its
``small_threshold``, ``min_small_peak``, ``small_alone`` and ``min_lowres_peak``) is
searched on the ``tune`` split, on the first pass's cached logits: a rule that changes
only what the first pass answers ``no_amulet`` or ``too_small`` leaves every other answer
as served, so each candidate's answers are exact without running the graph again. The
candidate kept is the one with the most small amulets answered ``too_small`` where no
picture without an amulet that the rule before these fields answered ``no_amulet`` is
answered otherwise, and no fewer usual scenes are ``found``; its figures on the
``report`` split are the result (``with_chosen_rule``), and ``with_models_rule`` those of
the rule in models/.
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import json
import logging
import pickle
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image

from amulet_ai.imaging.decode import DecodedImage
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.localiser import Letterbox, LocaliserMetadata, letterbox, locate_from_logits
from amulet_ai.serving.locating import DRAFT_SIDE, FIRST_DETAIL_SIDE, prepare

logger = logging.getLogger(__name__)

SHARED_DATA: Final = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "amulets"
STATUSES: Final = ("found", "too_small", "too_blurred", "no_amulet")
SMALL_RANGE: Final = (0.03, 0.25)
SPLITS: Final = {"tune": 31, "report": 32}
SMALL_BANDS: Final = (0.03, 0.05, 0.08, 0.11, 0.14, 0.17, 0.20, 0.25)
USUAL_BANDS: Final = (0.25, 0.40, 0.60, 0.80, 0.96)
BARE_PER_FAMILY: Final = 6
# The rule's candidates: the lower threshold a faint region is looked for at (None: not at
# all, as shipped) and the least peak probability a too-small region needs.
SMALL_THRESHOLDS: Final = (None, 0.3, 0.2, 0.15, 0.1)
MIN_SMALL_PEAKS: Final = (0.0, 0.6, 0.7, 0.8, 0.9)
SMALL_ALONE: Final = (False, True)
MIN_LOWRES_PEAKS: Final = (0.0, 0.9, 0.99, 1.01)  # 1.01: never too small by pixels alone
RULE_FIELDS: Final = ("small_threshold", "min_small_peak", "small_alone", "min_lowres_peak")


Picture = tuple[str, str, str, str, float, bytes]  # group, split, kind, canvas, fraction, bytes


@dataclass(slots=True)
class Case:
    """One picture: what was answered as served, and the first pass's logits on its draft
    with what the rules read of the letterbox and the draft (their sizes, not pixels: a
    rule that changes only ``no_amulet`` and ``too_small`` never reads the pixels)."""

    group: str  # small, usual, none
    split: str
    kind: str  # a backdrop family (bare_FAMILY without an amulet), picture_224, picture_full
    canvas: str  # phone, small (scenes), picture
    fraction: float  # the amulet's long side / the short side; 0 without an amulet
    served: str
    first: str  # the first pass's own status with the shipped rule
    logits: np.ndarray
    letterbox_size: tuple[int, int]  # width, height
    placed: tuple[float, int, int, int, int]  # scale, left, top, width, height
    draft_size: tuple[int, int]
    original: tuple[int, int]
    format: str

    def boxed(self) -> Letterbox:
        width, height = self.letterbox_size
        tensor = np.broadcast_to(np.float32(0), (3, height, width))
        return Letterbox(tensor, *self.placed)

    def picture(self) -> DecodedImage:
        return DecodedImage(Image.new("RGB", self.draft_size), *self.original, self.format)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _pictures(step: int) -> Iterator[Picture]:
    """(group, split, kind, canvas, fraction, bytes) of every picture measured."""
    from amulet_ai.training.backdrops import FAMILIES, TEST_FAMILIES
    from amulet_ai.training.cutout import cut_out_all
    from amulet_ai.training.data import load_dataset
    from amulet_ai.training.nonamulet import non_amulet_images, sample_pictures
    from amulet_ai.training.scenes import SIZE_RANGE, Canvas, make_scene

    splits = list(SPLITS)
    for k, image in enumerate(non_amulet_images()):
        yield "none", splits[k % 2], "picture_224", "picture", 0.0, _png(image)
    for k, image in enumerate(sample_pictures()):
        yield "none", splits[k % 2], "picture_full", "picture", 0.0, _png(image)
    for split, seed in SPLITS.items():
        for family in FAMILIES:
            for k in range(BARE_PER_FAMILY):
                scene = make_scene(
                    None, photo=-1, number=7000 + k, family=family, seed=seed, canvas="phone"
                )
                yield "none", split, f"bare_{family}", "phone", 0.0, scene.jpeg
    photos = load_dataset(SHARED_DATA).photos[::step]
    cuts = cut_out_all(photos)[0]
    keyed = [(i, cut) for i, cut in enumerate(cuts) if cut.ok]
    test = tuple(TEST_FAMILIES)
    train = tuple(f for f in FAMILIES if f not in TEST_FAMILIES)
    for split, seed in SPLITS.items():
        families = train if split == "tune" else test
        for i, cut in keyed:
            runs: list[tuple[str, int, Canvas, tuple[float, float]]] = [
                ("small", 0, "phone", SMALL_RANGE),
                ("small", 1, "small", SMALL_RANGE),
                ("usual", 2, "phone", SIZE_RANGE),
                ("usual", 3, "small", SIZE_RANGE),
            ]
            for group, number, canvas, size_range in runs:
                family = families[(i + number) % len(families)]
                scene = make_scene(
                    cut, photo=i, number=number, family=family, seed=seed, canvas=canvas,
                    size_range=size_range,
                )  # fmt: skip
                yield group, split, family, canvas, scene.fraction, scene.jpeg


def collect(classifier: AmuletClassifier, pictures: Iterable[Picture]) -> list[Case]:
    """Every picture (group, split, kind, canvas, fraction, bytes) through ``prepare`` and
    through the localiser's first pass alone."""
    localiser = classifier.localiser
    assert localiser is not None
    meta = localiser.metadata
    cases = []
    started = time.monotonic()
    for group, split, kind, canvas, fraction, data in pictures:
        served = prepare(classifier, functools.partial(bytes, data), "auto").location.status
        draft = classifier.decode_draft_and_detail(
            data, draft_side=DRAFT_SIDE, detail_side=FIRST_DETAIL_SIDE
        )[0]
        boxed = letterbox(draft.image, meta.input_side(max(draft.image.size)), meta.multiple)
        logits = localiser.logits(boxed.tensor[None])[0]
        first = locate_from_logits(logits, boxed, draft, meta).status
        height, width = boxed.tensor.shape[1:]
        placed = (boxed.scale, boxed.left, boxed.top, boxed.width, boxed.height)
        size = (draft.width, draft.height)
        shapes = ((width, height), placed, draft.image.size, size)
        cases.append(Case(group, split, kind, canvas, fraction, served, first, logits,
                          *shapes, draft.format))  # fmt: skip
        if len(cases) % 100 == 0:
            logger.info("%d pictures, %.0f s", len(cases), time.monotonic() - started)
    return cases


def answered(case: Case, meta: LocaliserMetadata) -> str:
    """The status the serving path answers for ``case`` under the rule in ``meta``: the
    first pass's own answer where it is ``no_amulet`` or ``too_small`` (then nothing else
    runs), else the answer served. The rule's candidates change only what the shipped rule
    answers ``no_amulet`` or ``too_small`` on the first pass, so a case the shipped first
    pass judged keeps its served answer."""
    if case.first not in ("no_amulet", "too_small"):
        return case.served
    return locate_from_logits(case.logits, case.boxed(), case.picture(), meta).status


def _shares(statuses: Sequence[str]) -> dict[str, Any]:
    counts = Counter(statuses)
    total = len(statuses)
    out: dict[str, Any] = {"n": total}
    out.update({s: round(counts[s] / total, 3) if total else None for s in STATUSES})
    return out


def _band(fraction: float, edges: Sequence[float]) -> str | None:
    for lo, hi in zip(edges, edges[1:], strict=False):
        if lo <= fraction < hi:
            return f"{lo:.2f}-{hi:.2f}"
    return None


def table(cases: Sequence[Case], statuses: Sequence[str]) -> dict[str, Any]:
    """Status shares per group, per canvas, per kind of picture without an amulet and per
    size band."""
    out: dict[str, Any] = {}
    for group in ("small", "usual", "none"):
        rows = [(c, s) for c, s in zip(cases, statuses, strict=True) if c.group == group]
        entry: dict[str, Any] = {"all": _shares([s for _, s in rows])}
        if group == "none":
            kinds = sorted({"bare" if c.kind.startswith("bare") else c.kind for c, _ in rows})
            for kind in kinds:
                entry[kind] = _shares([s for c, s in rows if c.kind.startswith(kind)])
        else:
            edges = SMALL_BANDS if group == "small" else USUAL_BANDS
            for canvas in sorted({c.canvas for c, _ in rows}):
                entry[canvas] = _shares([s for c, s in rows if c.canvas == canvas])
            bands: dict[str, list[str]] = {}
            for c, s in rows:
                band = _band(c.fraction, edges)
                if band is not None:
                    bands.setdefault(band, []).append(s)
            entry["bands"] = {band: _shares(v) for band, v in sorted(bands.items())}
        out[group] = entry
    return out


def _score(cases: Sequence[Case], statuses: Sequence[str]) -> tuple[float, float, float, int]:
    """(small answered too_small, none answered no_amulet, usual answered found, pictures
    without an amulet answered no_amulet before and otherwise now)."""

    def share(group: str, status: str) -> float:
        picked = [s for c, s in zip(cases, statuses, strict=True) if c.group == group]
        return sum(s == status for s in picked) / max(1, len(picked))

    lost = sum(
        c.group == "none" and c.served == "no_amulet" and s != "no_amulet"
        for c, s in zip(cases, statuses, strict=True)
    )
    return share("small", "too_small"), share("none", "no_amulet"), share("usual", "found"), lost


def search(cases: Sequence[Case], meta: LocaliserMetadata) -> dict[str, Any]:
    """Every candidate rule's figures on ``cases`` (the tune split), and the one chosen:
    the most small amulets answered ``too_small`` where no picture without an amulet that
    was answered ``no_amulet`` is answered otherwise and no fewer usual scenes are
    ``found`` (ties: the most ``no_amulet``, then the first in the grid, which tries the
    fewest rules first)."""
    shipped = _score(cases, [c.served for c in cases])
    names = ("small_too_small", "none_no_amulet", "usual_found", "none_no_amulet_lost")
    rows = []
    best: tuple[tuple[float, float], dict[str, Any]] | None = None
    for values in itertools.product(SMALL_THRESHOLDS, MIN_SMALL_PEAKS, SMALL_ALONE,
                                    MIN_LOWRES_PEAKS):  # fmt: skip
        update = dict(zip(RULE_FIELDS, values, strict=True))
        rule = meta.model_copy(update=update)
        small, none, usual, lost = _score(cases, [answered(c, rule) for c in cases])
        row = {**update, **dict(zip(names, (round(small, 3), round(none, 3), round(usual, 3),
                                            lost), strict=True))}  # fmt: skip
        rows.append(row)
        if lost == 0 and usual >= shipped[2]:
            key = (small, none)
            if best is None or key > best[0]:
                best = (key, row)
    return {
        "shipped": dict(
            zip(
                names,
                (round(shipped[0], 3), round(shipped[1], 3), round(shipped[2], 3), shipped[3]),
                strict=True,
            )
        ),  # fmt: skip
        "candidates": rows,
        "chosen": None if best is None else best[1],
    }


def bench_locstatus(step: int = 1, cache: Path | None = None) -> dict[str, Any]:
    """The statuses as shipped per split, the rule search on ``tune`` and the chosen rule's
    figures on both splits (see the module docstring). ``cache``: the measured pictures
    are kept in this pickle and read back from it when it exists (a new search, no new
    run)."""
    classifier = AmuletClassifier.load(with_localiser=True)
    localiser = classifier.localiser
    assert localiser is not None
    meta = localiser.metadata
    if cache is not None and cache.is_file():
        with cache.open("rb") as file:
            cases: list[Case] = pickle.load(file)  # noqa: S301 (the bench's own file)
    else:
        cases = collect(classifier, _pictures(step))
        if cache is not None:
            with cache.open("wb") as file:
                pickle.dump(cases, file)
    # What the rule before these fields answers (the served answer, where models/ holds
    # none of its own): it differs from models/'s only where the first pass is not judged.
    fields = LocaliserMetadata.model_fields
    plain = meta.model_copy(update={k: fields[k].default for k in RULE_FIELDS})
    for case in cases:
        case.served = answered(case, plain)
    by_split = {split: [c for c in cases if c.split == split] for split in SPLITS}
    out: dict[str, Any] = {
        "pictures": {split: Counter(c.group for c in v) for split, v in by_split.items()},
        "before": {split: table(v, [c.served for c in v]) for split, v in by_split.items()},
    }
    found = search(by_split["tune"], plain)
    out["search_tune"] = {"shipped": found["shipped"], "chosen": found["chosen"]}
    chosen = found["chosen"]
    if chosen is not None:
        rule = plain.model_copy(update={k: chosen[k] for k in RULE_FIELDS})
        out["chosen_rule"] = {k: chosen[k] for k in RULE_FIELDS}
        out["with_chosen_rule"] = {
            split: table(v, [answered(c, rule) for c in v]) for split, v in by_split.items()
        }
    out["rule_in_models"] = {k: getattr(meta, k) for k in RULE_FIELDS}
    out["with_models_rule"] = {
        split: table(v, [answered(c, meta) for c in v]) for split, v in by_split.items()
    }
    out["candidates_tune"] = found["candidates"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--cache", type=Path, help="keep the measured pictures in this pickle")
    parser.add_argument("--step", type=int, default=1, help="every STEP-th photo (quick runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = bench_locstatus(step=args.step, cache=args.cache)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    logger.info("%s", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
