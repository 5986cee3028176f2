"""In-process cost of the classifier graph per photo, for classifiers of several backbones.

Each folder holds a trained classifier (``amulet_classifier.onnx`` and ``metadata.json``,
e.g. the train command's ``--out`` for ``--backbone lite0``, ``lite2`` and ``lite0+lite2``).
Each is loaded as the API loads it (:class:`~amulet_ai.model.classifier.AmuletClassifier`,
2 intra-op threads) and run on one photo at its own input size; the folders take turns
round by round, so a change in the machine's load falls on all of them alike. Per folder:
the median wall milliseconds of one run and the CPU milliseconds per run (process time,
all of onnxruntime's threads), over all rounds.

Run::

    python -m bench.bench_backbones models build/lite2 build/lite0_lite2 [--rounds 5 --runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from amulet_ai.model.classifier import AmuletClassifier


def _round(classifier: AmuletClassifier, runs: int) -> tuple[list[float], float]:
    """Wall seconds of each of ``runs`` single-photo runs, and their CPU seconds in all."""
    size = classifier.input_size
    x = np.zeros((1, 3, size, size), dtype=np.float32)
    walls = []
    cpu_started = time.process_time()
    for _ in range(runs):
        started = time.perf_counter()
        classifier.run(x)
        walls.append(time.perf_counter() - started)
    return walls, time.process_time() - cpu_started


def bench_backbones(folders: list[Path], *, rounds: int, runs: int) -> dict[str, Any]:
    """Per folder: backbone, input size, graph size, median wall ms and CPU ms per run."""
    classifiers = {str(f): AmuletClassifier.load(f, warmup_runs=3) for f in folders}
    walls: dict[str, list[float]] = {name: [] for name in classifiers}
    cpu: dict[str, float] = dict.fromkeys(classifiers, 0.0)
    for r in range(rounds):
        order = list(classifiers) if r % 2 == 0 else list(reversed(classifiers))
        for name in order:
            w, c = _round(classifiers[name], runs)
            walls[name] += w
            cpu[name] += c
    out: dict[str, Any] = {"rounds": rounds, "runs_per_round": runs, "models": {}}
    for name, classifier in classifiers.items():
        meta = classifier.metadata
        onnx_file = Path(name) / "amulet_classifier.onnx"
        out["models"][name] = {
            "version": meta.version,
            "architecture": json.loads((Path(name) / "metadata.json").read_text())["architecture"],
            "input_size": classifier.input_size,
            "onnx_mb": round(onnx_file.stat().st_size / 1e6, 1),
            "wall_ms_p50": round(1000 * statistics.median(walls[name]), 2),
            "cpu_ms_per_run": round(1000 * cpu[name] / (rounds * runs), 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_backbones", description=__doc__)
    parser.add_argument("folders", type=Path, nargs="+", help="classifier folders")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="runs per folder per round")
    args = parser.parse_args()
    print(json.dumps(bench_backbones(args.folders, rounds=args.rounds, runs=args.runs), indent=2))


if __name__ == "__main__":
    main()
