"""The blocking client: :class:`AmuletClient`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from amulet_ai.api.saved_schemas import (
    FeedbackBody,
    HistoryPage,
    PhotoSize,
    PieceBody,
    PiecePage,
    PieceUpdate,
    Side,
)
from amulet_ai.api.schemas import (
    BatchResponse,
    ClassesResponse,
    HealthReport,
    ModelInfo,
    PredictResponse,
)
from amulet_ai.api.types_schemas import EnrolResponse, SimilarResponse, TypeList
from amulet_ai.client._calls import (
    Call,
    Photo,
    classes_call,
    create_piece_call,
    create_type_call,
    delete_history_call,
    delete_piece_call,
    delete_type_call,
    feedback_call,
    health_call,
    history_call,
    history_photo_call,
    model_info_call,
    photo_call,
    piece_photo_call,
    pieces_call,
    predict_batch_call,
    predict_call,
    similar_call,
    types_call,
    update_piece_call,
)
from amulet_ai.client._errors import error_from_transport
from amulet_ai.client._options import default_breaker, resolve_options, without_timeout_retries
from amulet_ai.client._uploads import UploadSource
from amulet_ai.config import Settings
from amulet_ai.model.results import LocateMode
from amulet_ai.runtime.circuit import CircuitBreaker
from amulet_ai.runtime.http_pool import SyncConnectionPool
from amulet_ai.runtime.retry import retrying

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class AmuletClient:
    """A blocking client of the Amulet-AI API, over one pooled ``httpx.Client``.

    Photos may be given as bytes, a path or a binary file object. Answers are the API's
    own pydantic models; failures are :class:`~amulet_ai.errors.AmuletError`
    subclasses (the API's error code decides which), with
    :class:`~amulet_ai.errors.UpstreamUnavailable`,
    :class:`~amulet_ai.errors.UpstreamTimeout` and
    :class:`~amulet_ai.errors.CircuitOpen` when the API cannot be reached.

    Unset arguments come from settings (``public_url``, ``client_timeout_s``,
    ``client_retries``, ``circuit_failure_threshold``, ``circuit_reset_s``). Connection
    failures, 429 and 503 are retried with backoff, ``Retry-After`` honoured, unless it asks
    for more than ``max_retry_after_s`` (a page that must answer its visitor at once passes
    0); every attempt goes through the circuit breaker, so a dead API is not hammered. Each
    call takes extra ``headers`` for that request alone (a page forwarding its visitor's
    address in ``X-Forwarded-For``). ``transport`` takes
    any ``httpx`` transport (tests pass ``httpx.MockTransport``).

    Example::

        >>> with AmuletClient("http://127.0.0.1:8000") as client:      # doctest: +SKIP
        ...     result = client.predict("front.jpg", explain=True)
        ...     result.top1.name_th, result.unknown.is_unknown
        ('พระสีวลี', False)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | SecretStr | None = None,
        timeout_s: float | None = None,
        retries: int | None = None,
        backoff_s: float = 0.5,
        max_connections: int | None = None,
        max_retry_after_s: float = 60.0,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
        settings: Settings | None = None,
    ) -> None:
        options = resolve_options(
            settings, base_url, api_key, timeout_s, retries, backoff_s, max_connections
        )
        self.base_url = options.base_url
        self.breaker = breaker or default_breaker(settings)
        self._pool = SyncConnectionPool(
            options.base_url,
            max_connections=options.max_connections,
            timeout_s=options.timeout_s,
            connect_timeout_s=options.connect_timeout_s,
            headers=options.headers,
            transport=transport,
        )
        self._retrying = without_timeout_retries(
            retrying(
                attempts=options.attempts,
                backoff_s=options.backoff_s,
                max_retry_after_s=max_retry_after_s,
            )
        )

    def _attempt(self, call: Call[M]) -> M:
        with self.breaker:
            try:
                response = self._pool.request(call.method, call.path, **call.request_kwargs())
            except httpx.TransportError as exc:
                logger.info("%s %s failed: %s", call.method, call.path, type(exc).__name__)
                raise error_from_transport(exc) from exc
            return call.parse(response)

    def _send(self, call: Call[M]) -> M:
        result: M = self._retrying.copy()(self._attempt, call)
        return result

    def predict(
        self,
        front: UploadSource,
        back: UploadSource | None = None,
        *,
        top_k: int = 3,
        explain: bool = False,
        save: bool = False,
        headers: Mapping[str, str] | None = None,
        locate: LocateMode | None = None,
        mask: bool = False,
    ) -> PredictResponse:
        """Classify one amulet from its front photo, and its back photo when given.

        With ``save=True`` the answer is also kept in the caller's history and
        ``history_id`` names it (None when the database is unavailable). ``locate``:
        ``"auto"`` finds the amulet on each photo and judges its crop (each photo's
        ``location`` says where, and ``status`` whether it could be judged), ``"off"``
        judges the whole photo (already a tight crop); None: the server's default. With
        ``mask=True`` each located photo's ``location.mask`` is the localiser's mask
        (:func:`amulet_ai.imaging.masks.mask_from_data_url` reads its ``image``); an older
        server leaves it None.
        """
        call = predict_call(
            front,
            back,
            top_k=top_k,
            explain=explain,
            save=save,
            headers=headers,
            locate=locate,
            mask=mask,
        )
        return self._send(call)

    def predict_batch(
        self,
        files: Sequence[UploadSource],
        *,
        top_k: int = 3,
        explain: bool = False,
        locate: LocateMode | None = None,
        mask: bool = False,
    ) -> BatchResponse:
        """Classify several photos independently; a bad file gets its own error entry
        (``mask`` as in :meth:`predict`)."""
        call = predict_batch_call(files, top_k=top_k, explain=explain, locate=locate, mask=mask)
        return self._send(call)

    def health(self, *, headers: Mapping[str, str] | None = None) -> HealthReport:
        """The API's detailed health report (also when it says ``unavailable``)."""
        return self._send(health_call(headers))

    def classes(self, *, headers: Mapping[str, str] | None = None) -> ClassesResponse:
        """The catalog of known amulet types, named in Thai and English."""
        return self._send(classes_call(headers))

    def model_info(self, *, headers: Mapping[str, str] | None = None) -> ModelInfo:
        """The served model's metadata and measured metrics."""
        return self._send(model_info_call(headers))

    def history(
        self,
        *,
        limit: int = 20,
        before: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HistoryPage:
        """The caller's saved checks, newest first; pass ``next_before`` as ``before``."""
        return self._send(history_call(limit, before, headers))

    def delete_history(self, item_id: int, *, headers: Mapping[str, str] | None = None) -> None:
        """Delete a saved check, its photos and its feedback."""
        self._send(delete_history_call(item_id, headers))

    def feedback(
        self,
        item_id: int,
        *,
        correct: bool,
        class_id: str | None = None,
        type_name: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FeedbackBody:
        """Say a saved answer was right, or which type (or free-text name) it really is."""
        call = feedback_call(
            item_id, correct=correct, class_id=class_id, type_name=type_name, headers=headers
        )
        return self._send(call)

    def history_photo(
        self,
        item_id: int,
        *,
        side: Side = "front",
        size: PhotoSize = "thumb",
        headers: Mapping[str, str] | None = None,
    ) -> Photo:
        """A kept photo of a saved check (``NotFound`` where photos are not kept)."""
        return self._send(history_photo_call(item_id, side, size, headers))

    def create_piece(
        self,
        front: UploadSource,
        back: UploadSource | None = None,
        *,
        name: str | None = None,
        notes: str | None = None,
        confirmed_class_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        locate: LocateMode | None = None,
    ) -> PieceBody:
        """Add a piece to the caller's collection; its photos are classified as
        :meth:`predict` classifies them (``locate`` likewise) and kept."""
        call = create_piece_call(
            front,
            back,
            name=name,
            notes=notes,
            confirmed_class_id=confirmed_class_id,
            headers=headers,
            locate=locate,
        )
        return self._send(call)

    def pieces(
        self,
        *,
        limit: int = 20,
        before: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PiecePage:
        """The caller's pieces, newest first; pass ``next_before`` as ``before``."""
        return self._send(pieces_call(limit, before, headers))

    def update_piece(
        self, piece_id: int, update: PieceUpdate, *, headers: Mapping[str, str] | None = None
    ) -> PieceBody:
        """Change a piece's name, notes or confirmed type (only the fields set in ``update``)."""
        return self._send(update_piece_call(piece_id, update, headers))

    def delete_piece(self, piece_id: int, *, headers: Mapping[str, str] | None = None) -> None:
        """Delete a piece and its photos."""
        self._send(delete_piece_call(piece_id, headers))

    def piece_photo(
        self,
        piece_id: int,
        *,
        side: Side = "front",
        size: PhotoSize = "thumb",
        headers: Mapping[str, str] | None = None,
    ) -> Photo:
        """A photo of a piece."""
        return self._send(piece_photo_call(piece_id, side, size, headers))

    def similar(
        self,
        front: UploadSource,
        back: UploadSource | None = None,
        *,
        limit: int = 5,
        max_distance: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SimilarResponse:
        """The caller's own photos (pieces, history, enrolled types) closest to this one,
        none farther than ``max_distance`` when it is given (``alike_distance`` of an answer
        keeps only the alike ones)."""
        call = similar_call(front, back, limit=limit, max_distance=max_distance, headers=headers)
        return self._send(call)

    def photo(self, url: str, *, headers: Mapping[str, str] | None = None) -> Photo:
        """A photo by the route the API answered (``thumbnail_url`` of a similar hit, ...)."""
        return self._send(photo_call(url, headers))

    def types(self, *, headers: Mapping[str, str] | None = None) -> TypeList:
        """The model's types and the caller's enrolled (and published) ones."""
        return self._send(types_call(headers))

    def create_type(
        self,
        name_en: str,
        photos: Sequence[UploadSource],
        *,
        name_th: str | None = None,
        description: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> EnrolResponse:
        """Enrol a new type from 3 to 50 photos; unusable photos come back in ``rejected``."""
        call = create_type_call(
            name_en, photos, name_th=name_th, description=description, headers=headers
        )
        return self._send(call)

    def delete_type(self, type_id: str, *, headers: Mapping[str, str] | None = None) -> None:
        """Delete one of the caller's enrolled types and its photos."""
        self._send(delete_type_call(type_id, headers))

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (each retry counts)."""
        return self._pool.requests_sent

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._pool.closed

    def close(self) -> None:
        """Close the pooled connections; safe to call twice."""
        self._pool.close()

    def __enter__(self) -> AmuletClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
