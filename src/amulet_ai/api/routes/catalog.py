"""``GET /v1/classes`` and ``GET /v1/model``: what the model knows and how well it does."""

from __future__ import annotations

from fastapi import APIRouter

from amulet_ai.api.deps import ApiKeyDep, ModelDep, SettingsDep
from amulet_ai.api.docs import error_responses
from amulet_ai.api.schemas import (
    ClassesResponse,
    LocaliserInfo,
    ModelInfo,
    ModelRef,
    UnknownDetection,
    UploadLimits,
)

router = APIRouter(prefix="/v1", tags=["catalog"])

_ERRORS = error_responses(401, 403, 429, 503)


@router.get("/classes", response_model=ClassesResponse, responses=_ERRORS)
async def classes(caller: ApiKeyDep, classifier: ModelDep) -> ClassesResponse:
    """The known amulet types: ids, English and Thai names, descriptions."""
    return ClassesResponse(
        model=ModelRef(name=classifier.name, version=classifier.version),
        classes=classifier.metadata.classes,
    )


@router.get("/model", response_model=ModelInfo, responses=_ERRORS)
async def model(caller: ApiKeyDep, classifier: ModelDep, settings: SettingsDep) -> ModelInfo:
    """The model's metadata, its measured metrics, and the server's upload limits."""
    meta = classifier.metadata
    located = classifier.localiser
    return ModelInfo(
        name=meta.name,
        version=meta.version,
        created_at=meta.created_at,
        architecture=meta.architecture,
        onnx_file=meta.onnx_file,
        onnx_sha256=meta.onnx_sha256,
        input_size=meta.input.size,
        temperature=meta.temperature,
        unknown=UnknownDetection(method=meta.unknown.method, threshold=meta.unknown.threshold),
        classes=meta.classes,
        metrics=meta.metrics,
        backdrop=meta.input.backdrop,
        localiser=LocaliserInfo(
            name=located.name,
            version=located.version,
            onnx_sha256=located.metadata.onnx_sha256,
            metrics=located.metadata.metrics,
        )
        if located is not None
        else None,
        limits=UploadLimits(
            max_upload_mb=settings.max_upload_mb,
            max_batch_files=settings.max_batch_files,
            max_image_pixels=settings.max_image_pixels,
        ),
    )
