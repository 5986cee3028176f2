"""Open Inference Protocol (KServe v2) health and model metadata under ``/v2``.

Status codes follow our own probes: 200 when live or ready, 503 when not ready; an unknown
model name is 404 ``not_found``. These routes need no API key (probes call them).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

import amulet_ai
from amulet_ai.api.deps import HealthDep, ModelSlotDep
from amulet_ai.api.docs import error_responses
from amulet_ai.api.schemas import (
    OipLive,
    OipModelMetadata,
    OipModelReady,
    OipReady,
    OipServerMetadata,
    OipTensor,
)
from amulet_ai.errors import NotFound
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.serving.model_slot import ModelSlot

router = APIRouter(prefix="/v2", tags=["open inference protocol"])


def _named_model(slot: ModelSlot, name: str) -> AmuletClassifier | None:
    """The served model if ``name`` is its name; None while no model is loaded (its name
    is not known then); 404 for any other name."""
    classifier = slot.current
    if classifier is None:
        return None
    if classifier.name != name:
        raise NotFound(f"No model named {name[:100]!r} is served here.")
    return classifier


@router.get("", response_model=OipServerMetadata)
async def server_metadata() -> OipServerMetadata:
    """Server metadata."""
    return OipServerMetadata(name="amulet-ai", version=amulet_ai.__version__)


@router.get("/health/live", response_model=OipLive)
async def live() -> OipLive:
    """Server liveness."""
    return OipLive(live=True)


@router.get("/health/ready", response_model=OipReady, responses={503: {"model": OipReady}})
async def ready(monitor: HealthDep) -> JSONResponse:
    """Server readiness (same rule as ``/health/ready``)."""
    is_ready = not monitor.problems()
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("/models/{name}", response_model=OipModelMetadata, responses=error_responses(404, 503))
async def model_metadata(name: str, slot: ModelSlotDep) -> OipModelMetadata:
    """The model's name, versions, inputs and outputs."""
    classifier = _named_model(slot, name)
    if classifier is None:
        classifier = slot.require()
    meta = classifier.metadata
    size = meta.input.size
    classes = len(meta.classes)
    return OipModelMetadata(
        name=meta.name,
        versions=[meta.version],
        inputs=[OipTensor(name=meta.input.name, datatype="FP32", shape=[-1, 3, size, size])],
        outputs=[
            OipTensor(name=meta.outputs.logits, datatype="FP32", shape=[-1, classes]),
            OipTensor(name=meta.outputs.unknown_score, datatype="FP32", shape=[-1]),
            OipTensor(name=meta.outputs.cam, datatype="FP32", shape=[-1, classes, -1, -1]),
        ],
    )


@router.get(
    "/models/{name}/ready",
    response_model=OipModelReady,
    responses={404: error_responses(404)[404], 503: {"model": OipModelReady}},
)
async def model_ready(name: str, slot: ModelSlotDep, monitor: HealthDep) -> JSONResponse:
    """Whether the named model is loaded and the server ready for it."""
    classifier = _named_model(slot, name)
    is_ready = classifier is not None and not monitor.problems()
    return JSONResponse({"name": name, "ready": is_ready}, status_code=200 if is_ready else 503)
