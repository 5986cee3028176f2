"""README sections that are generated from files, never typed by hand.

A block sits between ``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->``:

    config  the settings table, from :class:`amulet_ai.config.Settings`
    model   the model card summary, from ``models/metadata.json`` (measured by training)
    bench   the performance table, ``bench/results/latest.md`` (written by the benchmarks)

``python -m amulet_ai.ops.readme_blocks`` rewrites the blocks of README.md in place;
``--check`` exits 1 when README.md differs from what the files say (a test runs it too).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from amulet_ai.config import REPO_ROOT
from amulet_ai.ops.config_template import render_markdown_table

README_PATH = REPO_ROOT / "README.md"
METADATA_PATH = REPO_ROOT / "models" / "metadata.json"
BENCH_TABLE_PATH = REPO_ROOT / "bench" / "results" / "latest.md"

_BLOCK_RE = re.compile(
    r"(?P<begin><!-- BEGIN generated:(?P<name>[a-z]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<end><!-- END generated:(?P=name) -->)",
    re.DOTALL,
)


# Labels for the metrics training writes; any other number is shown under its own key.
_METRIC_LABELS = {
    "top1": "Top-1 accuracy, all photos",
    "top1_front": "Top-1 accuracy, fronts",
    "top1_back": "Top-1 accuracy, backs",
    "top3": "Top-3 accuracy",
    "ece": "Expected calibration error (after temperature scaling)",
    "ece_before_temperature": "Expected calibration error before temperature scaling",
    "nll": "Negative log-likelihood",
    "unknown_auroc_non_amulet": "Unknown detection AUROC, photos that are not amulets",
    "unknown_auroc_unseen_type": (
        "Unknown detection AUROC, amulet types held out of training (leave one class out)"
    ),
    "non_amulet_flagged_rate": "Photos that are not amulets flagged unknown",
    "non_amulet_photos": "Photos that are not amulets, tested",
    "cv_keep_rate": "Known photos kept (not flagged unknown)",
    "folds": "Cross-validation folds",
    "parity_max_abs_logit_diff": "Exported ONNX against torch, largest logit difference",
}


def _number(value: float | int) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.3g}" if abs(value) < 0.01 else f"{value:.3f}"


def _numeric_leaves(section: dict[str, Any]) -> list[tuple[str, float | int]]:
    return [
        (key, value)
        for key, value in section.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def render_model_summary(metadata_path: Path = METADATA_PATH) -> str:
    """The model card in a few tables, every figure read from the metadata file."""
    if not metadata_path.is_file():
        return "No model metadata found at `models/metadata.json`.\n"
    meta = json.loads(metadata_path.read_text(encoding="utf-8"))
    metrics: dict[str, Any] = meta.get("metrics", {})
    cv: dict[str, Any] = metrics.get("cv", {})
    per_class: dict[str, Any] = cv.get("per_class", {})
    photos: dict[str, Any] = meta.get("data", {}).get("per_class", {})
    lines = [
        f"Model `{meta.get('name', '?')}` version `{meta.get('version', '?')}`"
        f" ({meta.get('architecture', '?')}), trained {meta.get('created_at', '?')}"
        f" on {meta.get('data', {}).get('photos', '?')} photos.",
        "",
        "| Type | ชื่อ | Name | Photos | Precision | Recall |",
        "|---|---|---|---|---|---|",
    ]
    for cls in meta.get("classes", []):
        scores = per_class.get(cls["id"], {})
        precision, recall = scores.get("precision"), scores.get("recall")
        lines.append(
            f"| `{cls['id']}` | {cls['name_th']} | {cls['name_en']} | {photos.get(cls['id'], '')}"
            f" | {_number(precision) if precision is not None else ''}"
            f" | {_number(recall) if recall is not None else ''} |"
        )
    rows = _numeric_leaves(cv) + _numeric_leaves(metrics)
    if rows:
        lines += [
            "",
            "| Measured by the training run (5-fold cross-validation) | Value |",
            "|---|---|",
        ]
        lines += [f"| {_METRIC_LABELS.get(key, key)} | {_number(value)} |" for key, value in rows]
    unknown = meta.get("unknown", {})
    if "threshold" in unknown:
        lines += [
            "",
            f"A photo is answered as unknown when its unknown score is above "
            f"{_number(float(unknown['threshold']))}; the temperature is "
            f"{_number(float(meta.get('temperature', 1.0)))}.",
        ]
    return "\n".join(lines) + "\n"


def render_bench_table(table_path: Path = BENCH_TABLE_PATH) -> str:
    """The benchmark's own Markdown table, as the last full run wrote it."""
    if not table_path.is_file():
        return "No benchmark results yet: run `python production_runner.py bench`.\n"
    text = table_path.read_text(encoding="utf-8")
    return text if text.endswith("\n") else text + "\n"


BLOCKS: dict[str, Callable[[], str]] = {
    "config": lambda: render_markdown_table(),
    "model": lambda: render_model_summary(),
    "bench": lambda: render_bench_table(),
}


def blocks_in(text: str) -> dict[str, str]:
    """The generated blocks found in ``text``, by name."""
    return {m["name"]: m["body"] for m in _BLOCK_RE.finditer(text)}


def sync(text: str) -> str:
    """``text`` with every known block replaced by its freshly generated content."""

    def replace(match: re.Match[str]) -> str:
        render = BLOCKS.get(match["name"])
        body = render() if render else match["body"]
        return match["begin"] + body + match["end"]

    return _BLOCK_RE.sub(replace, text)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite README.md's generated blocks, or ``--check`` that they are current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    parser.add_argument("--readme", type=Path, default=README_PATH)
    args = parser.parse_args(argv)
    current = args.readme.read_text(encoding="utf-8")
    fresh = sync(current)
    if args.check:
        stale = [n for n, body in blocks_in(current).items() if blocks_in(fresh)[n] != body]
        if stale:
            sys.stderr.write(f"README.md blocks out of date: {', '.join(stale)}\n")
            return 1
        return 0
    args.readme.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
