"""Pooled HTTP clients: one ``httpx`` client per pool, its connections kept alive and reused.

:class:`ConnectionPool` wraps an ``httpx.AsyncClient`` (the client library, the API when it
calls out); :class:`SyncConnectionPool` wraps an ``httpx.Client`` for synchronous callers
such as the Streamlit page. Both bound the number of connections, keep idle ones alive for
reuse, apply timeouts by default (10 s per request, 5 s to connect) and close cleanly.

Example::

    >>> async def main():
    ...     async with ConnectionPool("http://127.0.0.1:8000", max_connections=10) as pool:
    ...         response = await pool.get("/v1/health")
    ...         return response.status_code
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from amulet_ai.runtime.atomic import AtomicCounter


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Connection limits and timeouts shared by both pools."""

    base_url: str = ""
    max_connections: int = 20
    max_keepalive_connections: int | None = None
    keepalive_expiry_s: float = 30.0
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient``."""
        keepalive = self.max_keepalive_connections
        return {
            "base_url": self.base_url,
            "limits": httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections if keepalive is None else keepalive,
                keepalive_expiry=self.keepalive_expiry_s,
            ),
            "timeout": httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
            "headers": dict(self.headers),
        }


def _options(
    base_url: str,
    max_connections: int,
    max_keepalive_connections: int | None,
    keepalive_expiry_s: float,
    timeout_s: float,
    connect_timeout_s: float,
    headers: dict[str, str] | None,
) -> PoolOptions:
    if max_connections < 1:
        raise ValueError("max_connections must be >= 1")
    return PoolOptions(
        base_url,
        max_connections,
        max_keepalive_connections,
        keepalive_expiry_s,
        timeout_s,
        connect_timeout_s,
        tuple((headers or {}).items()),
    )


C = TypeVar("C", httpx.Client, httpx.AsyncClient)


class _PoolState(Generic[C]):
    """State both pools share: options, the lazily built client, a closed flag, a count."""

    def __init__(self, options: PoolOptions) -> None:
        self.options = options
        self._client: C | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._requests = AtomicCounter()

    def _build(self) -> C:
        raise NotImplementedError

    @property
    def client(self) -> C:
        """The shared client, built on first use."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the connection pool is closed")
            if self._client is None:
                self._client = self._build()
            return self._client

    @property
    def requests_sent(self) -> int:
        """Requests sent through this pool."""
        return self._requests.value

    @property
    def closed(self) -> bool:
        """True once the pool was closed."""
        return self._closed

    def _detach(self) -> C | None:
        with self._lock:
            client, self._client, self._closed = self._client, None, True
        return client


class ConnectionPool(_PoolState[httpx.AsyncClient]):
    """A lazily built, shared ``httpx.AsyncClient`` with bounded, kept-alive connections.

    Build it once (in the app's lifespan or a client object), use it from one event loop,
    close it with ``await pool.aclose()`` or ``async with``. ``transport`` accepts any
    ``httpx`` transport, e.g. ``httpx.MockTransport`` or ``httpx.ASGITransport`` in tests.

    Example::

        >>> pool = ConnectionPool("http://127.0.0.1:8000", timeout_s=5.0)
        >>> pool.options.max_connections, pool.closed
        (20, False)
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        max_connections: int = 20,
        max_keepalive_connections: int | None = None,
        keepalive_expiry_s: float = 30.0,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        options = _options(
            base_url,
            max_connections,
            max_keepalive_connections,
            keepalive_expiry_s,
            timeout_s,
            connect_timeout_s,
            headers,
        )
        super().__init__(options)
        self._transport = transport

    def _build(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, **self.options.client_kwargs())

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request over a pooled connection (``httpx.AsyncClient.request`` args)."""
        self._requests.increment()
        return await self.client.request(method, url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``GET url`` over a pooled connection."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``POST url`` over a pooled connection."""
        return await self.request("POST", url, **kwargs)

    async def aclose(self) -> None:
        """Close every connection; later use raises ``RuntimeError``. Safe to call twice."""
        client = self._detach()
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncConnectionPool(_PoolState[httpx.Client]):
    """The blocking twin of :class:`ConnectionPool`, over ``httpx.Client`` (thread-safe).

    Example::

        >>> with SyncConnectionPool("http://127.0.0.1:8000", max_connections=4) as pool:
        ...     pool.options.timeout_s
        10.0
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        max_connections: int = 20,
        max_keepalive_connections: int | None = None,
        keepalive_expiry_s: float = 30.0,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = _options(
            base_url,
            max_connections,
            max_keepalive_connections,
            keepalive_expiry_s,
            timeout_s,
            connect_timeout_s,
            headers,
        )
        super().__init__(options)
        self._transport = transport

    def _build(self) -> httpx.Client:
        return httpx.Client(transport=self._transport, **self.options.client_kwargs())

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request over a pooled connection (``httpx.Client.request`` args)."""
        self._requests.increment()
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``GET url`` over a pooled connection."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``POST url`` over a pooled connection."""
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        """Close every connection; later use raises ``RuntimeError``. Safe to call twice."""
        client = self._detach()
        if client is not None:
            client.close()

    def __enter__(self) -> SyncConnectionPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
