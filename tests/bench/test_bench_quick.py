"""The quick benchmark, as CI runs it: every section measured, its wide-margin ratios hold.

It starts real servers on loopback and loads them for about two minutes, so it is slow; it
runs in `make test` so every CI run measures the service again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SECTIONS = {
    "model",
    "service",
    "profile",
    "batching",
    "cache",
    "memory",
    "runtime",
    "workers",
    "locate",
}
STAGES = {
    "HTTP and routing",
    "body reading",
    "hashing",
    "decode",
    "locate",
    "inference",
    "response",
    "logging and metrics",
    "serving",
    "other",
}
ASSERTED_IN_QUICK = {
    "classifier_vs_raw",
    "decode_draft_speedup",
    "cache_hit_vs_miss_phone",
    "vs_naive_phone_c1",
    "vs_naive_phone_c8",
}


def test_quick_bench_measures_everything_and_its_ratios_hold(
    repo_root: Path, model_dir: Path, tmp_path: Path
) -> None:
    run = subprocess.run(
        [sys.executable, "production_runner.py", "bench", "--quick", "--out", str(tmp_path)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    results = json.loads((tmp_path / "quick.json").read_text(encoding="utf-8"))
    assert results["quick"] is True
    assert set(results["sections"]) == SECTIONS
    checks = {c["key"]: c for c in results["targets"]}
    assert ASSERTED_IN_QUICK <= set(checks)
    for key, check in checks.items():
        assert isinstance(check["measured"], int | float), f"{key} was not measured"
        assert check["asserted"] == ("quick_bound" in check)
        if check["asserted"]:
            assert check["quick_passed"], check
    assert ASSERTED_IN_QUICK <= {key for key, check in checks.items() if check["asserted"]}
    assert set(results["service"]["levels"]) == {"8"}
    row = results["service"]["levels"]["8"]
    assert row["amulet"]["failed"] == 0 and row["amulet"]["ok"] > 0
    raw_body = row["raw_body"]
    assert raw_body["amulet"]["failed"] == 0 and raw_body["amulet"]["ok"] > 0
    for form in ("multipart", "raw"):
        profile = results["service"]["profile"][form]
        assert profile["answers"] > 0 and profile["failed"] == 0
        assert set(profile["stages"]) == STAGES
        # The stages account for the server's CPU: the models' share (the localiser's, with
        # the default locate=auto, or the classifier's) is the largest.
        assert sum(profile["stages"].values()) <= profile["server_cpu_ms_per_request"] * 1.05
        assert max(profile["stages"], key=profile["stages"].get) in ("locate", "inference")
    assert results["memory"]["statuses"] == {"200": results["memory"]["uploads"]}
    for kind, row in results["locate"]["photos"].items():
        assert row["auto"]["failed"] == 0 and row["off"]["failed"] == 0, kind
        assert row["auto"]["server_mean_ms"]["locate"] > 0, kind  # the localiser ran
        if kind.startswith("12 MP"):  # a 224 px photo may be located from the classifier's run
            assert row["cpu_ratio"] is not None and row["cpu_ratio"] > 1.0, kind
    table = (tmp_path / "quick.md").read_text(encoding="utf-8")
    assert "| Promise | Measured | Target |" in table
    assert not (tmp_path / "latest.json").exists()  # quick runs never replace the full results
