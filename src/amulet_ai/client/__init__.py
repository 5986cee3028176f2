"""What other programs (and the page) use to call the Amulet-AI API.

Two clients with the same methods, :class:`AmuletClient` (blocking) and
:class:`AsyncAmuletClient` (asyncio): ``predict``, ``predict_batch``, ``health``,
``classes``, ``model_info``; for saved work ``predict(..., save=True)``, ``history``,
``delete_history``, ``feedback``, ``history_photo``, ``create_piece``, ``pieces``,
``update_piece``, ``delete_piece``, ``piece_photo``; ``similar``, ``photo`` (by a route the
API answered), ``types``, ``create_type``, ``delete_type``. Answers are the
API's own pydantic models (:mod:`amulet_ai.api.schemas`, :mod:`amulet_ai.api.saved_schemas`).
Every failure is an :class:`~amulet_ai.errors.AmuletError`; the classes a caller usually handles::

    AmuletError
    ├── InvalidInput / CorruptImage / ValidationFailed     the photo or a field is bad (4xx)
    ├── PayloadTooLarge / UnsupportedMediaType              too big, not an image
    ├── Unauthorized / Forbidden                            the API key
    ├── RateLimited / Overloaded / ModelUnavailable         retried first, then raised
    ├── UpstreamUnavailable                                 the API cannot be reached
    │   └── CircuitOpen                                     ... and calls are paused
    └── UpstreamTimeout                                     the API did not answer in time

Example::

    >>> from amulet_ai.client import AmuletClient
    >>> with AmuletClient("http://127.0.0.1:8000") as client:      # doctest: +SKIP
    ...     client.predict("front.jpg").top1.name_en
    'Phra Sivali'
"""

from amulet_ai.api.saved_schemas import (
    FeedbackBody,
    HistoryEntry,
    HistoryPage,
    PieceBody,
    PiecePage,
    PieceUpdate,
)
from amulet_ai.api.schemas import (
    BatchResponse,
    ClassesResponse,
    HealthReport,
    ModelInfo,
    PhotoBox,
    PhotoLocation,
    PhotoMask,
    PredictResponse,
)
from amulet_ai.api.types_schemas import (
    EnrolResponse,
    SimilarHit,
    SimilarResponse,
    TypeBody,
    TypeList,
)
from amulet_ai.client._async import AsyncAmuletClient
from amulet_ai.client._calls import Photo
from amulet_ai.client._errors import parse_retry_after
from amulet_ai.client._options import API_KEY_HEADER
from amulet_ai.client._sync import AmuletClient
from amulet_ai.client._uploads import UploadSource
from amulet_ai.errors import (
    AmuletError,
    CircuitOpen,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = [
    "API_KEY_HEADER",
    "AmuletClient",
    "AmuletError",
    "AsyncAmuletClient",
    "BatchResponse",
    "CircuitOpen",
    "ClassesResponse",
    "EnrolResponse",
    "FeedbackBody",
    "HealthReport",
    "HistoryEntry",
    "HistoryPage",
    "ModelInfo",
    "Photo",
    "PhotoBox",
    "PhotoLocation",
    "PhotoMask",
    "PieceBody",
    "PiecePage",
    "PieceUpdate",
    "PredictResponse",
    "SimilarHit",
    "SimilarResponse",
    "TypeBody",
    "TypeList",
    "UploadSource",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "parse_retry_after",
]
