"""Search speed of enrolled types and ``/v1/similar``: the exact numpy search at 100, 10,000
and 100,000 stored embeddings (generated), one owner.

``python -m bench.bench_enrolment [--sizes 100 10000 100000] [--runs 50]``

What is timed is the search part of each request, the code the service runs:

* ``similar``: :meth:`~amulet_ai.serving.owner_indexes.CollectionIndex.search` of a front
  and back pair (two query embeddings) for the 10 closest photos;
* ``predict``: :meth:`~amulet_ai.model.enrolment.EnrolledIndex.type_distances` of one photo
  (distance to every enrolled type, one type per 20 photos) and the rule's ``combine``.

Embeddings are standard normal vectors of the model's width (624), like the standardised
features they stand for; the index is built once per size (as the service builds it once
per owner and revision) and not timed. Results go to ``bench/results/enrolment.json`` and
``enrolment.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from amulet_ai.model.enrolment import EnrolledClass, EnrolledIndex, EnrolmentRule
from amulet_ai.serving.owner_indexes import CollectionIndex
from amulet_ai.store.collection import PhotoRef

DIMS = 624
RESULTS = Path(__file__).resolve().parent / "results"


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000.0, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000.0, 3),
    }


def _timed(fn: Any, runs: int) -> list[float]:
    fn()  # first call outside the figures (page faults of a new matrix)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def bench_size(size: int, runs: int, rng: np.random.Generator) -> dict[str, Any]:
    vectors = rng.standard_normal((size, DIMS), dtype=np.float32)
    refs = [PhotoRef("piece", i // 2 + 1, "front" if i % 2 == 0 else "back", i + 1)
            for i in range(size)]  # fmt: skip
    sq_norms = (vectors.astype(np.float64) ** 2).sum(1).astype(np.float32)
    collection = CollectionIndex(refs, vectors, sq_norms)
    n_types = max(1, size // 20)
    classes = tuple(EnrolledClass(f"enrolled_{i}", f"T{i}", f"T{i}") for i in range(n_types))
    enrolled = EnrolledIndex("1.0", classes, vectors, np.arange(size) % n_types)
    pair = rng.standard_normal((2, DIMS), dtype=np.float32)
    probs = np.full(6, 1 / 6)
    rule = EnrolmentRule()

    def predict() -> None:
        distances = enrolled.type_distances(pair[:1])[0]
        rule.combine(probs, 1.0, distances)

    return {
        "embeddings": size,
        "types": n_types,
        "matrix_mb": round(vectors.nbytes / 1e6, 1),
        "similar": _percentiles(_timed(lambda: collection.search(pair, 10), runs)),
        "predict": _percentiles(_timed(predict, runs)),
    }


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Search part, exact numpy, {result['runs']} runs per size ({result['host']}).",
        "",
        "| stored embeddings | matrix MB | /v1/similar p50 ms | p95 ms "
        "| predict with enrolled types p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["sizes"]:
        lines.append(
            f"| {row['embeddings']:,} | {row['matrix_mb']} | {row['similar']['p50_ms']} | "
            f"{row['similar']['p95_ms']} | {row['predict']['p50_ms']} | "
            f"{row['predict']['p95_ms']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    result = {
        "runs": args.runs,
        "host": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "sizes": [bench_size(size, args.runs, rng) for size in args.sizes],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "enrolment.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "enrolment.md").write_text(to_markdown(result))
    sys.stdout.write(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
