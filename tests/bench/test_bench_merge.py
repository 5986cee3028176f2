"""``bench --only``: the sections it measures replace those of the last full run, noted with
their own date and load, and the targets are judged again on the whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report import render_markdown
from bench.run import SECTIONS, merged_results

LATEST = Path(__file__).resolve().parents[2] / "bench" / "results" / "latest.json"


def _env(date: str, load: float) -> dict[str, Any]:
    return {"date": date, "load_average_at_start": [load, load, load]}


def _locate(p50: float, cpu_ratio: float) -> dict[str, Any]:
    row = {
        "auto": {"p50_ms": p50, "server_cpu_ms_per_request": 30.0},
        "off": {"p50_ms": 40.0, "server_cpu_ms_per_request": 20.0},
        "p50_ratio": round(p50 / 40.0, 2),
        "cpu_ratio": cpu_ratio,
    }
    return {"rounds": 3, "requests_per_round": 10, "photos": {"12 MP scene": row}}


def test_a_rerun_section_replaces_the_full_runs_and_says_when_it_was_measured() -> None:
    full = json.loads(LATEST.read_text(encoding="utf-8"))  # the committed full run
    assert set(full["sections"]) == set(SECTIONS)
    again = {
        "quick": False,
        "sections": ["locate"],
        "env": {**_env("2026-12-01T17:00:00+00:00", 3.2), "load_average_at_end": [3.0] * 3},
        "locate": _locate(79.0, 1.4),
        "seconds": 90.0,
    }
    merged = merged_results(full, again)
    assert merged["model"] == full["model"]  # kept from the full run
    assert merged["locate"]["photos"]["12 MP scene"]["auto"]["p50_ms"] == 79.0
    assert merged["rerun"]["locate"]["date"] == "2026-12-01T17:00:00+00:00"
    assert merged["env"] == full["env"]
    target = {t["key"]: t for t in merged["targets"]}["locate_12mp_p50"]
    assert target["measured"] == 79.0 and target["passed"]
    text = render_markdown(merged)
    assert "Section locate measured again 2026-12-01T17:00:00+00:00" in text
    assert "load average at start 3.2" in text
    assert "| 12 MP scene | 79.0 | 40.0 |" in text
