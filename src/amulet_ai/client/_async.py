"""The asyncio client: :class:`AsyncAmuletClient`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from amulet_ai.api.schemas import (
    BatchResponse,
    ClassesResponse,
    HealthReport,
    ModelInfo,
    PredictResponse,
)
from amulet_ai.client._calls import (
    Call,
    classes_call,
    health_call,
    model_info_call,
    predict_batch_call,
    predict_call,
)
from amulet_ai.client._errors import error_from_transport
from amulet_ai.client._options import default_breaker, resolve_options, without_timeout_retries
from amulet_ai.client._uploads import UploadSource
from amulet_ai.config import Settings
from amulet_ai.runtime.circuit import CircuitBreaker
from amulet_ai.runtime.http_pool import ConnectionPool
from amulet_ai.runtime.retry import async_retrying

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class AsyncAmuletClient:
    """The asyncio twin of :class:`~amulet_ai.client.AmuletClient`, on a pooled
    ``httpx.AsyncClient``; same arguments, same answers, same errors.

    ``transport`` takes any async ``httpx`` transport, e.g.
    ``httpx.ASGITransport(app=create_app())`` to talk to the app in-process.

    Example::

        >>> async def main():                                           # doctest: +SKIP
        ...     async with AsyncAmuletClient("http://127.0.0.1:8000") as client:
        ...         return (await client.predict(b"...jpeg bytes...")).top1.class_id
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
        transport: httpx.AsyncBaseTransport | None = None,
        settings: Settings | None = None,
    ) -> None:
        options = resolve_options(
            settings, base_url, api_key, timeout_s, retries, backoff_s, max_connections
        )
        self.base_url = options.base_url
        self.breaker = breaker or default_breaker(settings)
        self._pool = ConnectionPool(
            options.base_url,
            max_connections=options.max_connections,
            timeout_s=options.timeout_s,
            connect_timeout_s=options.connect_timeout_s,
            headers=options.headers,
            transport=transport,
        )
        self._retrying = without_timeout_retries(
            async_retrying(
                attempts=options.attempts,
                backoff_s=options.backoff_s,
                max_retry_after_s=max_retry_after_s,
            )
        )

    async def _attempt(self, call: Call[M]) -> M:
        with self.breaker:
            try:
                response = await self._pool.request(call.method, call.path, **call.request_kwargs())
            except httpx.TransportError as exc:
                logger.info("%s %s failed: %s", call.method, call.path, type(exc).__name__)
                raise error_from_transport(exc) from exc
            return call.parse(response)

    async def _send(self, call: Call[M]) -> M:
        result: M = await self._retrying.copy()(self._attempt, call)
        return result

    async def predict(
        self,
        front: UploadSource,
        back: UploadSource | None = None,
        *,
        top_k: int = 3,
        explain: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> PredictResponse:
        """Classify one amulet from its front photo, and its back photo when given."""
        call = predict_call(front, back, top_k=top_k, explain=explain, headers=headers)
        return await self._send(call)

    async def predict_batch(
        self, files: Sequence[UploadSource], *, top_k: int = 3, explain: bool = False
    ) -> BatchResponse:
        """Classify several photos independently; a bad file gets its own error entry."""
        return await self._send(predict_batch_call(files, top_k=top_k, explain=explain))

    async def health(self, *, headers: Mapping[str, str] | None = None) -> HealthReport:
        """The API's detailed health report (also when it says ``unavailable``)."""
        return await self._send(health_call(headers))

    async def classes(self, *, headers: Mapping[str, str] | None = None) -> ClassesResponse:
        """The catalog of known amulet types, named in Thai and English."""
        return await self._send(classes_call(headers))

    async def model_info(self, *, headers: Mapping[str, str] | None = None) -> ModelInfo:
        """The served model's metadata and measured metrics."""
        return await self._send(model_info_call(headers))

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (each retry counts)."""
        return self._pool.requests_sent

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._pool.closed

    async def aclose(self) -> None:
        """Close the pooled connections; safe to call twice."""
        await self._pool.aclose()

    async def __aenter__(self) -> AsyncAmuletClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
