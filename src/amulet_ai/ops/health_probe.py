"""A health probe for cron jobs and Kubernetes exec probes: ``GET /health`` as an exit code.

Exit codes::

    0  ok           the API answers and is fully healthy
    1  degraded     it answers and serves, with a warning (memory high, ...)
    2  unavailable  it says it cannot serve, or it cannot be reached, or it answers nonsense

Example::

    >>> from amulet_ai.ops.health_probe import probe_health
    >>> probe_health("http://127.0.0.1:9", timeout_s=0.5).exit_code
    2
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_DEGRADED = 1
EXIT_UNAVAILABLE = 2

_EXIT_BY_STATUS = {"ok": EXIT_OK, "degraded": EXIT_DEGRADED, "unavailable": EXIT_UNAVAILABLE}


@dataclass(frozen=True)
class HealthProbe:
    """What the probe saw: the status word, its exit code and the API's report, if any."""

    url: str
    status: str
    exit_code: int
    http_status: int | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as ``amulet-ai health --json`` prints it."""
        return {
            "url": self.url,
            "status": self.status,
            "exit_code": self.exit_code,
            "http_status": self.http_status,
            "error": self.error,
            "report": self.report,
        }


def probe_health(
    base_url: str, *, timeout_s: float = 3.0, api_key: str | None = None
) -> HealthProbe:
    """GET ``{base_url}/health`` once and classify the answer; never raises for network faults."""
    url = base_url.rstrip("/") + "/health"
    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        response = httpx.get(url, timeout=timeout_s, headers=headers)
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return HealthProbe(url, "unreachable", EXIT_UNAVAILABLE, error=reason)
    try:
        report = response.json()
    except ValueError:
        report = None
    if not isinstance(report, dict) or report.get("status") not in _EXIT_BY_STATUS:
        return HealthProbe(
            url,
            "unavailable",
            EXIT_UNAVAILABLE,
            http_status=response.status_code,
            error=f"HTTP {response.status_code} without a health report",
        )
    status = str(report["status"])
    return HealthProbe(
        url, status, _EXIT_BY_STATUS[status], http_status=response.status_code, report=report
    )


def summary_line(probe: HealthProbe) -> str:
    """One human line: ``ok http://127.0.0.1:8000/health (model 1.0.0)``."""
    parts = [probe.status, probe.url]
    model = probe.report.get("model")
    if isinstance(model, dict) and model.get("version"):
        parts.append(f"(model {model['version']})")
    reasons = probe.report.get("reasons")
    reason = "; ".join(map(str, reasons)) if isinstance(reasons, list) else ""
    if reason or probe.error:
        parts.append(f"- {reason or probe.error}")
    return " ".join(parts)
