"""``POST /v1/admin/reload``: swap in the model on disk without dropping a request.

Needs ``X-Admin-Key``; with no admin key configured the admin routes answer 403.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from amulet_ai.api.deps import AdminDep, MetricsDep, ModelSlotDep
from amulet_ai.api.docs import error_responses
from amulet_ai.api.schemas import ModelRef, ReloadResponse
from amulet_ai.errors import LockTimeout, ModelUnavailable

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/reload", response_model=ReloadResponse, responses=error_responses(401, 403, 503))
async def reload_model(admin: AdminDep, slot: ModelSlotDep, metrics: MetricsDep) -> ReloadResponse:
    """Load the model from disk and swap it in; requests in flight finish on the old one."""
    try:
        swap = await asyncio.to_thread(slot.reload)
    except (ModelUnavailable, LockTimeout) as exc:
        metrics.model_reloads.labels(outcome="failed").inc()
        kept = slot.current
        logger.error("model reload failed: %s", exc.message)
        suffix = " The previous model keeps serving." if kept is not None else ""
        raise type(exc)(f"Reload failed: {exc.message}{suffix}", retry_after=5.0) from exc
    metrics.model_reloads.labels(outcome="ok").inc()
    previous = swap.previous
    logger.info(
        "model reloaded: %s -> %s in %.0f ms",
        previous.version if previous else "none",
        swap.current.version,
        swap.seconds * 1000.0,
    )
    return ReloadResponse(
        model=ModelRef(name=swap.current.name, version=swap.current.version),
        previous=ModelRef(name=previous.name, version=previous.version) if previous else None,
        duration_ms=round(swap.seconds * 1000.0, 1),
    )
