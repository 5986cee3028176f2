"""The API's wire models: what each route answers, as pydantic classes.

Pure data, no side effects on import, so the client library validates responses with the
same classes the server answers with. The prediction fields are the classifier's own
result types (:mod:`amulet_ai.model.results`); the API only adds what HTTP needs (request
id, model reference, cache flag, timings).

Example::

    >>> from amulet_ai.api.schemas import ErrorResponse
    >>> ErrorResponse.model_validate(
    ...     {"error": {"code": "rate_limited", "message": "Slow down.", "request_id": "r1"}}
    ... ).error.code
    'rate_limited'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from amulet_ai.model.metadata import ClassInfo
from amulet_ai.model.results import (
    Classification,
    ClassScore,
    PhotoBox,
    PhotoLocation,
    PhotoMask,
    PhotoResult,
    SideResults,
    UnknownVerdict,
)

# --- errors --------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """What went wrong: a stable machine code and a message for people."""

    code: str = Field(examples=["unsupported_media_type"])
    message: str = Field(examples=["Not an image in a supported format (JPEG, PNG, WebP, HEIC)."])
    request_id: str | None = Field(None, examples=["3f2a9c0e5b7d4e21"])
    details: dict[str, Any] | None = Field(None, description="Extra facts, where useful.")


class ErrorResponse(BaseModel):
    """The envelope of every error the API answers with, whatever the status."""

    error: ErrorBody


# --- predictions ---------------------------------------------------------------------------


class ModelRef(BaseModel):
    """Which model produced a result."""

    model_config = ConfigDict(protected_namespaces=())

    name: str = Field(examples=["amulet-efficientnet-lite0"])
    version: str = Field(examples=["1.0.0"])


class Timing(BaseModel):
    """Milliseconds spent on the request; decode, locate and inference are 0 on a cache hit."""

    decode: float = Field(examples=[3.1])
    locate: float = Field(
        0.0, examples=[21.7], description="Finding the amulet and cropping it; 0 with off."
    )
    inference: float = Field(examples=[5.4])
    total: float = Field(examples=[10.2])


class PredictResponse(Classification):
    """``POST /v1/predict``: the classification plus request id, model, cache flag, timings."""

    model_config = ConfigDict(protected_namespaces=())

    request_id: str = Field(examples=["3f2a9c0e5b7d4e21"])
    model: ModelRef
    cached: bool = Field(False, description="True when the result came from the cache.")
    timing_ms: Timing
    history_id: int | None = Field(
        None,
        description="With save=true: the id of the saved check in GET /v1/history; null "
        "when not saved (no save=true, or the database is unavailable).",
    )


class BatchItem(BaseModel):
    """One file of a batch: its result, or its own error; one bad file fails only itself."""

    index: int = Field(ge=0, description="Position of the file in the request.")
    filename: str | None = Field(None, examples=["front.jpg"])
    cached: bool = False
    result: Classification | None = None
    error: ErrorBody | None = None
    history_id: int | None = Field(None, description="With save=true: the saved check's id.")


class BatchResponse(BaseModel):
    """``POST /v1/predict/batch``: one item per file, in the order they were sent."""

    model_config = ConfigDict(protected_namespaces=())

    request_id: str
    model: ModelRef
    results: list[BatchItem]
    timing_ms: Timing


# --- catalog -------------------------------------------------------------------------------


class ClassesResponse(BaseModel):
    """``GET /v1/classes``: the known amulet types, in the model's order."""

    model_config = ConfigDict(protected_namespaces=())

    model: ModelRef
    classes: list[ClassInfo]


class UnknownDetection(BaseModel):
    """How the model decides a photo shows none of the known types."""

    method: str = Field(examples=["mahalanobis"])
    threshold: float = Field(examples=[31.5])


class UploadLimits(BaseModel):
    """What the server accepts, so a client (the page) can say it before sending."""

    max_upload_mb: float = Field(examples=[20.0], description="Largest photo accepted, MB.")
    max_batch_files: int = Field(examples=[16], description="Most files in one batch.")
    max_image_pixels: int = Field(examples=[40_000_000], description="Most pixels per image.")


class LocaliserInfo(BaseModel):
    """The localiser served with the model (``locate=auto``), and what it was measured at."""

    name: str = Field(examples=["amulet-localiser-lite0"])
    version: str = Field(examples=["1.0.0"])
    onnx_sha256: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)


class ModelInfo(BaseModel):
    """``GET /v1/model``: the model's metadata, the metrics measured when it was built, and
    the server's upload limits."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    created_at: str = ""
    architecture: str
    onnx_file: str | None = Field(None, examples=["amulet_classifier.onnx"])
    onnx_sha256: str | None = None
    input_size: int = Field(examples=[224])
    temperature: float = Field(description="Calibration temperature applied to the logits.")
    unknown: UnknownDetection
    classes: list[ClassInfo]
    metrics: dict[str, Any] = Field(default_factory=dict)
    backdrop: Literal["as_is", "grey_outside_mask"] = Field(
        "as_is",
        description="What the classifier judges around the amulet: the photo as it is, or "
        "everything outside the localiser's mask neutral grey.",
    )
    localiser: LocaliserInfo | None = Field(
        None, description="Null when the model folder has no localiser (photos judged whole)."
    )
    limits: UploadLimits


# --- health --------------------------------------------------------------------------------

HealthStatus = Literal["ok", "degraded", "unavailable"]


class ModelHealth(BaseModel):
    loaded: bool
    name: str | None = None
    version: str | None = None
    loaded_at: float | None = Field(None, description="Unix time the model was loaded.")
    error: str | None = Field(None, description="Why the model is not loaded, when it is not.")
    localiser: ModelRef | None = Field(
        None, description="The localiser loaded with the model; null without one."
    )


class MemoryHealth(BaseModel):
    rss_mb: float
    limit_mb: float
    under_limit: bool


class CacheHealth(BaseModel):
    enabled: bool
    entries: int = 0
    bytes: int = 0
    max_bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    hit_rate: float = 0.0


class SharedStateHealth(BaseModel):
    """Where the cache and rate limits are shared (Redis), and whether that works now."""

    backend: Literal["redis"]
    status: Literal["ok", "degraded"] = Field(
        description="degraded: Redis is unreachable; this process uses in-process state."
    )
    reason: str | None = None


class StorageHealth(BaseModel):
    """The database of saved work (history, pieces, keys), and whether it answers now."""

    backend: Literal["sqlite", "postgresql"]
    status: Literal["ok", "unavailable"] = Field(
        description="unavailable: predictions still answer; saved work answers 503."
    )
    history: Literal["off", "results", "photos"] = Field(
        description="What POST /v1/predict?save=true keeps (AMULET_HISTORY)."
    )
    reason: str | None = None


class WorkHealth(BaseModel):
    requests_in_flight: int = Field(description="HTTP requests being served now.")
    inference_workers: int
    inference_pending: int = Field(description="Jobs running or waiting for a worker.")
    inference_capacity: int = Field(description="Jobs admitted at most (workers + queue).")


class HealthReport(BaseModel):
    """``GET /health``: the detailed report."""

    model_config = ConfigDict(protected_namespaces=())

    status: HealthStatus
    reasons: list[str] = Field(default_factory=list, description="Why it is not ok.")
    draining: bool = False
    uptime_s: float
    model: ModelHealth
    memory: MemoryHealth
    cache: CacheHealth
    work: WorkHealth
    shared_state: SharedStateHealth | None = Field(
        None, description="Set when AMULET_REDIS_URL shares state across processes."
    )
    storage: StorageHealth | None = None


class ProbeResponse(BaseModel):
    """``GET /health/live`` and ``GET /health/ready``."""

    status: Literal["ok", "unavailable"]
    reasons: list[str] = Field(default_factory=list)


# --- Open Inference Protocol (/v2) --------------------------------------------------------


class OipLive(BaseModel):
    live: bool


class OipReady(BaseModel):
    ready: bool


class OipServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str] = Field(default_factory=list)


class OipTensor(BaseModel):
    name: str
    datatype: str = Field(examples=["FP32"])
    shape: list[int] = Field(examples=[[-1, 3, 224, 224]])


class OipModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str = "onnxruntime_onnx"
    inputs: list[OipTensor]
    outputs: list[OipTensor]


class OipModelReady(BaseModel):
    name: str
    ready: bool


# --- admin ---------------------------------------------------------------------------------


class ReloadResponse(BaseModel):
    """``POST /v1/admin/reload``: which model serves now and which one it replaced."""

    model_config = ConfigDict(protected_namespaces=())

    model: ModelRef
    previous: ModelRef | None = None
    duration_ms: float


__all__ = [
    "BatchItem",
    "BatchResponse",
    "CacheHealth",
    "ClassInfo",
    "ClassScore",
    "Classification",
    "ClassesResponse",
    "ErrorBody",
    "ErrorResponse",
    "HealthReport",
    "HealthStatus",
    "LocaliserInfo",
    "MemoryHealth",
    "ModelHealth",
    "ModelInfo",
    "ModelRef",
    "OipLive",
    "OipModelMetadata",
    "OipModelReady",
    "OipReady",
    "OipServerMetadata",
    "OipTensor",
    "PhotoBox",
    "PhotoLocation",
    "PhotoMask",
    "PhotoResult",
    "PredictResponse",
    "ProbeResponse",
    "ReloadResponse",
    "SideResults",
    "StorageHealth",
    "Timing",
    "UnknownDetection",
    "UnknownVerdict",
    "WorkHealth",
]
