"""``bench_locate --graphs --against``: the shipped classifier graph against another file."""

from __future__ import annotations

from pathlib import Path

import pytest

from amulet_ai.config import DEFAULT_MODEL_DIR
from bench.bench_locate import SHARED_DATA, classifier_graph_ab


def test_the_shipped_graph_against_a_copy_of_itself_gives_the_same_outputs(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "copy.onnx"
    copy.write_bytes((DEFAULT_MODEL_DIR / "amulet_classifier.onnx").read_bytes())
    result = classifier_graph_ab(copy, rounds=1, runs=1)
    assert result["cpu_ms"]["shipped"] > 0 and result["cpu_ms"]["other"] > 0
    assert result["shipped_over_other"] > 0
    diffs = result["outputs_max_abs_diff"]
    if not SHARED_DATA.is_dir():
        pytest.skip("the development photos are not beside the checkout")
    assert diffs["photos"] == 137
    assert {"logits", "unknown_score", "embedding"} <= set(diffs)
    assert all(value == 0.0 for name, value in diffs.items() if name != "photos")
