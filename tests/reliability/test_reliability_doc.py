"""RELIABILITY.md shows the figures the reliability tests wrote, and nothing typed by hand."""

from __future__ import annotations

from reliability_report import DOC_PATH, SCENARIOS, Check, load, render, sync


def test_the_doc_is_what_the_results_file_renders() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    assert sync(text, load()) == text, "regenerate: python tests/reliability/reliability_report.py"


def test_the_committed_results_cover_every_scenario() -> None:
    recorded = {name.split(":")[0] for name in load()["scenarios"]}
    assert recorded == set(SCENARIOS)


def test_a_missed_bound_shows_in_the_table() -> None:
    failing = Check("p99", 12.0, "<=", 10.0, "s")
    entry = {
        "title": "T",
        "measured_at": "now",
        "machine": "m",
        "checks": [{**failing.__dict__, "met": failing.met}],
        "figures": {},
    }
    table = render({"scenarios": {"overload": entry}})
    assert "| 12 s | <= 10 s | **NO** |" in table
    assert "| soak | not run yet |" in table
