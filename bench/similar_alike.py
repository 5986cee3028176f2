"""How well ``/v1/similar``'s nearest photo and its ``alike`` mark tell the type, on the
development photos (read at run time from ../shared, never copied).

Each photo in turn is the query, sent as it is; the collection is every other photo as the
service keeps it (re-encoded by :func:`~amulet_ai.store.images.keep_photo`) and embeds it
(:func:`~amulet_ai.serving.owner_indexes.embed_jpegs`, ``AMULET_LOCATE``'s default
``auto``), searched by :meth:`~amulet_ai.serving.owner_indexes.CollectionIndex.search`.
A hit is alike when its distance is within the model's unknown threshold, as the API marks
it (both to 4 places). Printed (markdown):

* how often the nearest photo is of the query's own type, and how often it is alike;
* of the different-type photos, how many are marked alike (over every query and photo);
  of the same-type photos, how many are;
* what the page shows (the alike ones among the three nearest): how many photos, and how
  many of those are of another type;
* per type, how often the nearest photo is of that type.

The photos are the ones the committed model was trained and calibrated on (its threshold
keeps 95% of them in cross-validation), so the figures say what the scale means on them,
not how it does on a collector's new photos.

Run::

    nice -n 19 python -m bench.similar_alike [--data ../shared/data/amulets] [--shown 3]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.serving.owner_indexes import CollectionIndex, embed_jpegs
from amulet_ai.store.collection import PhotoRef
from amulet_ai.store.images import keep_photo

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "amulets"


@dataclass(frozen=True, slots=True)
class Figures:
    queries: int
    nearest_same: int
    nearest_alike: int
    nearest_other_alike: int
    other_pairs: int
    other_alike: int
    same_pairs: int
    same_alike: int
    shown: int
    shown_other: int
    per_type: dict[str, tuple[int, int]]  # type: (nearest of its type, photos)


def measure(data: Path, model_dir: Path, shown_count: int) -> tuple[Figures, float]:
    """Embed every photo twice (as sent and as kept), then search leave-one-out."""
    paths = sorted(data.glob("*/*/*.jpg"))
    if not paths:
        raise SystemExit(f"no photos under {data}")
    labels = [p.parts[-3] for p in paths]
    classifier = AmuletClassifier.load(model_dir, with_localiser=True, warmup_runs=0)
    threshold = round(classifier.threshold, 4)  # as the API compares: both to 4 places
    sent = embed_jpegs(classifier, {i: p.read_bytes() for i, p in enumerate(paths)}, "auto")
    kept_jpegs = {i: keep_photo(p.read_bytes()).full_jpeg for i, p in enumerate(paths)}
    kept = embed_jpegs(classifier, kept_jpegs, "auto")
    vectors = np.stack([kept[i] for i in range(len(paths))]).astype(np.float32)
    refs = [PhotoRef("piece", i, "front", i, labels[i]) for i in range(len(paths))]
    counts: Counter[str] = Counter()
    per_type: dict[str, list[int]] = {label: [0, 0] for label in labels}
    for i, label in enumerate(labels):
        rest = np.arange(len(paths)) != i
        rows = vectors[rest]
        sq_norms = (rows.astype(np.float64) ** 2).sum(1).astype(np.float32)
        index = CollectionIndex(
            [r for r, keep in zip(refs, rest, strict=True) if keep], rows, sq_norms
        )
        hits = [(r, round(d, 4)) for r, d in index.search(sent[i][None, :], len(rows))]
        nearest, distance = hits[0]
        same = nearest.class_id == label
        counts["nearest_same"] += same
        counts["nearest_alike"] += distance <= threshold
        counts["nearest_other_alike"] += (not same) and distance <= threshold
        per_type[label][0] += same
        per_type[label][1] += 1
        for ref, d in hits:
            key = "same" if ref.class_id == label else "other"
            counts[f"{key}_pairs"] += 1
            counts[f"{key}_alike"] += d <= threshold
        for ref, d in hits[:shown_count]:
            if d <= threshold:
                counts["shown"] += 1
                counts["shown_other"] += ref.class_id != label
    figures = Figures(
        queries=len(paths),
        nearest_same=counts["nearest_same"],
        nearest_alike=counts["nearest_alike"],
        nearest_other_alike=counts["nearest_other_alike"],
        other_pairs=counts["other_pairs"],
        other_alike=counts["other_alike"],
        same_pairs=counts["same_pairs"],
        same_alike=counts["same_alike"],
        shown=counts["shown"],
        shown_other=counts["shown_other"],
        per_type={k: (v[0], v[1]) for k, v in per_type.items()},
    )
    return figures, threshold


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100.0 * part / whole:.1f}%)" if whole else "0/0"


def report(f: Figures, threshold: float, shown_count: int) -> str:
    lines = [
        f"Development photos: {f.queries}, each the query against the other {f.queries - 1}; "
        f"alike: distance <= {threshold:.4f} (the model's unknown threshold).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| nearest photo of the query's own type | {_pct(f.nearest_same, f.queries)} |",
        f"| nearest photo alike | {_pct(f.nearest_alike, f.queries)} |",
        f"| nearest photo of another type and alike | {_pct(f.nearest_other_alike, f.queries)} |",
        f"| different-type photos marked alike | {_pct(f.other_alike, f.other_pairs)} |",
        f"| same-type photos marked alike | {_pct(f.same_alike, f.same_pairs)} |",
        f"| page: alike among the {shown_count} nearest, of another type | "
        f"{_pct(f.shown_other, f.shown)} |",
        "",
        "| type | nearest photo of its type |",
        "|---|---|",
    ]
    lines += [f"| {t} | {_pct(same, n)} |" for t, (same, n) in sorted(f.per_type.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--shown", type=int, default=3, help="photos the page shows at most")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    figures, threshold = measure(args.data, args.model_dir, args.shown)
    sys.stdout.write(report(figures, threshold, args.shown) + "\n")
    sys.stdout.write(f"\n({time.perf_counter() - started:.0f} s)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
