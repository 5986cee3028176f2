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

from amulet_ai.api.deps import StateDep
from amulet_ai.api.schemas import (
    CacheHealth,
    HealthReport,
    HealthStatus,
    MemoryHealth,
    ModelHealth,
    ProbeResponse,
    SharedStateHealth,
    WorkHealth,
)
from amulet_ai.api.state import ServingState

router = APIRouter(tags=["health"])

_MB = 1024 * 1024

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


def _report(state: ServingState) -> HealthReport:
    settings = state.settings
    rss = state.rss_bytes()
    under = rss <= settings.memory_limit_mb * _MB
    classifier = state.model.current
    reasons = state.readiness_problems()
    status: HealthStatus = "ok"
    if classifier is None:
        status = "unavailable"
    elif reasons:
        status = "degraded"
    shared = SharedStateHealth(**state.shared.status()) if state.shared else None
    if shared is not None and shared.status == "degraded":
        # Still serving (from in-process state), so degraded, not unready.
        reasons = [*reasons, f"shared state: {shared.reason}"]
        status = "degraded" if status == "ok" else status
    stats = state.cache.stats()
    cache = CacheHealth(enabled=False)
    if stats is not None:
        cache = CacheHealth(
            enabled=True,
            entries=stats.entries,
            bytes=stats.bytes,
            max_bytes=stats.max_bytes,
            hits=stats.hits,
            misses=stats.misses,
            evictions=stats.evictions,
            hit_rate=round(stats.hit_rate, 4),
        )
    pool = state._pool
    return HealthReport(
        status=status,
        reasons=reasons,
        draining=state.draining,
        uptime_s=round(state.uptime_s(), 3),
        model=ModelHealth(
            loaded=classifier is not None,
            name=classifier.name if classifier else None,
            version=classifier.version if classifier else None,
            loaded_at=state.model.loaded_at,
            error=state.model.error if classifier is None else None,
        ),
        memory=MemoryHealth(
            rss_mb=round(rss / _MB, 1), limit_mb=settings.memory_limit_mb, under_limit=under
        ),
        cache=cache,
        work=WorkHealth(
            requests_in_flight=state.in_flight.value,
            inference_workers=pool.workers if pool else 0,
            inference_pending=pool.pending if pool else 0,
            inference_capacity=pool.capacity if pool else 0,
        ),
        shared_state=shared,
    )


@router.get(
    "/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "No model loaded"}},
)
async def health(state: StateDep) -> JSONResponse:
    """The detailed report: model, memory, cache, work in flight."""
    report = _report(state)
    code = 503 if report.status == "unavailable" else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=code)


@router.get("/health/live", response_model=ProbeResponse)
async def live() -> ProbeResponse:
    """Liveness: 200 while the process serves HTTP."""
    return ProbeResponse(status="ok")


@router.get("/health/ready", response_model=ProbeResponse, responses=_NOT_READY)
async def ready(state: StateDep) -> JSONResponse:
    """Readiness: 200 when the model is loaded, memory is fine and the app is not draining."""
    problems = state.readiness_problems()
    body = ProbeResponse(status="unavailable" if problems else "ok", reasons=problems)
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if problems else 200)
