"""``GET /health`` (the detailed report), ``/health/live`` and ``/health/ready``.

Live answers 200 while the process serves HTTP at all. Ready answers 200 only when the
model is loaded and warmed, memory is under the ceiling and the app is not draining; else
503 with the reasons. ``/health`` answers 200 for ``ok`` and ``degraded`` and 503 for
``unavailable`` (no model). None of them needs an API key: they are for probes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from amulet_ai.api.deps import HealthDep
from amulet_ai.api.schemas import HealthReport, ProbeResponse

router = APIRouter(tags=["health"])

_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ProbeResponse,
        "description": "Not ready",
        "content": {
            "application/json": {
                "example": {"status": "unavailable", "reasons": ["memory above the ceiling"]}
            }
        },
    }
}


@router.get(
    "/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "No model loaded"}},
)
async def health(monitor: HealthDep) -> JSONResponse:
    """The detailed report: model, memory, cache, work in flight."""
    report = monitor.report()
    code = 503 if report.status == "unavailable" else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=code)


@router.get("/health/live", response_model=ProbeResponse)
async def live() -> ProbeResponse:
    """Liveness: 200 while the process serves HTTP."""
    return ProbeResponse(status="ok")


@router.get("/health/ready", response_model=ProbeResponse, responses=_NOT_READY)
async def ready(monitor: HealthDep) -> JSONResponse:
    """Readiness: 200 when the model is loaded, memory is fine and the app is not draining."""
    problems = monitor.problems()
    body = ProbeResponse(status="unavailable" if problems else "ok", reasons=problems)
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if problems else 200)
