"""The reliability figures: written by the tests, shown in RELIABILITY.md, never typed in.

Each reliability test ends with :func:`record`. Only when asked (``AMULET_RECORD=1`` in
the environment) does it store its scenario's measured checks (label, value, bound) and a
few raw figures in ``bench/results/reliability.json`` and regenerate the block of
RELIABILITY.md between ``<!-- BEGIN generated:reliability -->`` and
``<!-- END generated:reliability -->`` from that file; a plain test run checks the same
bounds and leaves the working tree as it was. A test (``test_reliability_doc.py``) fails
when the block and the file disagree. Refresh the committed figures with::

    AMULET_RECORD=1 python production_runner.py test tests/reliability

Run it by hand to regenerate or check the block::

    python tests/reliability/reliability_report.py [--check]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "reliability.json"
DOC_PATH = REPO_ROOT / "RELIABILITY.md"
RECORD_VARIABLE = "AMULET_RECORD"

_BLOCK = re.compile(
    r"(<!-- BEGIN generated:(?P<name>reliability[a-z-]*) -->\n)(.*?)"
    r"(<!-- END generated:(?P=name) -->)",
    re.DOTALL,
)
_OPS = {
    "<=": lambda value, bound: value <= bound,
    "<": lambda value, bound: value < bound,
    ">=": lambda value, bound: value >= bound,
    "==": lambda value, bound: value == bound,
}
# The order scenarios appear in, whatever order the tests ran in. A test records under a
# scenario's name, or under "scenario:part" when several tests make up one scenario.
SCENARIOS = ("hostile_inputs", "overload", "soak", "faults", "security")


@dataclass(frozen=True)
class Check:
    """One promise and its measured value: ``value <op> bound``."""

    label: str
    value: float | int
    op: str
    bound: float | int
    unit: str = ""

    @property
    def met(self) -> bool:
        return bool(_OPS[self.op](self.value, self.bound))


def recording() -> bool:
    """True when this run was asked to rewrite the committed figures (``AMULET_RECORD=1``)."""
    return os.environ.get(RECORD_VARIABLE) == "1"


def load(path: Path = RESULTS_PATH) -> dict[str, Any]:
    if not path.is_file():
        return {"scenarios": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def record(
    scenario: str,
    title: str,
    checks: Sequence[Check],
    figures: dict[str, Any],
    *,
    path: Path = RESULTS_PATH,
    doc: Path = DOC_PATH,
) -> None:
    """With ``AMULET_RECORD=1``: store ``scenario``'s checks and figures, then regenerate
    the RELIABILITY.md block. Without it, nothing is written."""
    if scenario.split(":")[0] not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    if not recording():
        return
    data = load(path)
    data["scenarios"][scenario] = {
        "title": title,
        "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "checks": [{**asdict(check), "met": check.met} for check in checks],
        "figures": figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temporary.replace(path)
    if doc.is_file():
        doc.write_text(sync(doc.read_text(encoding="utf-8"), data), encoding="utf-8")


def _number(value: float | int, unit: str) -> str:
    text = (
        f"{value:,}"
        if isinstance(value, int)
        else f"{value:,.4g}"
        if abs(value) < 1e4
        else f"{value:,.0f}"
    )
    return f"{text} {unit}".strip()


def render(data: dict[str, Any]) -> str:
    """The Markdown block: one table row per check, scenario by scenario."""
    scenarios = data.get("scenarios", {})
    if not scenarios:
        return "No reliability run recorded yet: run `pytest tests/reliability`.\n"
    lines = [
        "| Scenario | Promise | Last run | Bound | Met |",
        "|---|---|---|---|---|",
    ]
    for group in SCENARIOS:
        keys = sorted(k for k in scenarios if k == group or k.startswith(group + ":"))
        if not keys:
            lines.append(f"| {group} | not run yet | | | |")
        for entry in (scenarios[k] for k in keys):
            lines += _rows(entry)
    machines = sorted({entry["machine"] for entry in scenarios.values()})
    lines += ["", f"Measured on: {'; '.join(machines)}."]
    return "\n".join(lines) + "\n"


def _rows(entry: dict[str, Any]) -> list[str]:
    rows = []
    for i, check in enumerate(entry["checks"]):
        label = f"**{entry['title']}** ({entry['measured_at']})" if i == 0 else ""
        rows.append(
            f"| {label} | {check['label']} | {_number(check['value'], check['unit'])} "
            f"| {check['op']} {_number(check['bound'], check['unit'])} "
            f"| {'yes' if check['met'] else '**NO**'} |"
        )
    return rows


def render_corpus(data: dict[str, Any]) -> str:
    """The hostile corpus case by case: what was sent, the answer required, the answer got."""
    cases = data.get("scenarios", {}).get("hostile_inputs", {}).get("figures", {}).get("per_case")
    if not cases:
        return "No hostile-input run recorded yet.\n"
    lines = ["| Case | What is sent | Required | Got | ms |", "|---|---|---|---|---|"]
    for case in cases:
        required = f"{case['expect_status']} {case['expect_code'] or ''}".strip()
        got, ms = case["status"], case["ms"]
        lines.append(f"| `{case['name']}` | {case['what']} | {required} | {got} | {ms:g} |")
    return "\n".join(lines) + "\n"


RENDERERS = {"reliability": render, "reliability-corpus": render_corpus}


def sync(text: str, data: dict[str, Any]) -> str:
    """``text`` with its generated reliability blocks rebuilt from ``data``."""
    if not _BLOCK.search(text):
        raise ValueError("RELIABILITY.md has no generated:reliability block")

    def rebuild(match: re.Match[str]) -> str:
        return match.group(1) + RENDERERS[match["name"]](data) + match.group(4)

    return _BLOCK.sub(rebuild, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate or check RELIABILITY.md's figures.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the block is stale")
    args = parser.parse_args(argv)
    current = DOC_PATH.read_text(encoding="utf-8")
    fresh = sync(current, load())
    if args.check:
        if fresh != current:
            sys.stderr.write("RELIABILITY.md is out of date with bench/results/reliability.json\n")
            return 1
        return 0
    DOC_PATH.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
