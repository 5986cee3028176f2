"""Defaults both clients share: URL, key, timeout, retries and circuit breaker from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import SecretStr
from tenacity import AsyncRetrying, BaseRetrying, Retrying, retry_if_not_exception_type

from amulet_ai.config import Settings, get_settings
from amulet_ai.errors import UpstreamTimeout
from amulet_ai.runtime.circuit import CircuitBreaker

API_KEY_HEADER = "X-API-Key"

RetryingT = TypeVar("RetryingT", bound=BaseRetrying)


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Resolved settings of one client."""

    base_url: str
    headers: dict[str, str]
    timeout_s: float
    connect_timeout_s: float
    max_connections: int
    attempts: int
    backoff_s: float


def resolve_options(
    settings: Settings | None,
    base_url: str | None,
    api_key: str | SecretStr | None,
    timeout_s: float | None,
    retries: int | None,
    backoff_s: float,
    max_connections: int | None,
) -> ClientOptions:
    """Explicit arguments win; anything left as None comes from ``settings``."""
    settings = settings or get_settings()
    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    timeout = settings.client_timeout_s if timeout_s is None else timeout_s
    retry_count = settings.client_retries if retries is None else retries
    if retry_count < 0:
        raise ValueError("retries must be >= 0")
    return ClientOptions(
        base_url=(base_url or settings.public_url).rstrip("/"),
        headers={API_KEY_HEADER: api_key} if api_key else {},
        timeout_s=timeout,
        connect_timeout_s=min(timeout, 5.0),
        max_connections=max_connections or settings.client_max_connections,
        attempts=retry_count + 1,
        backoff_s=backoff_s,
    )


def default_breaker(settings: Settings | None) -> CircuitBreaker:
    """The circuit breaker sized by ``circuit_failure_threshold`` / ``circuit_reset_s``."""
    settings = settings or get_settings()
    return CircuitBreaker(
        settings.circuit_failure_threshold,
        settings.circuit_reset_s,
        name="amulet-api",
    )


def without_timeout_retries(policy: RetryingT) -> RetryingT:
    """The runtime's retry policy, minus retries of a request the API is still working on.

    A read timeout means the server has the request; sending it again only doubles its
    load, so :class:`UpstreamTimeout` ends the attempts. Connection failures, 429 and 503
    are still retried, ``Retry-After`` honoured.
    """
    copied: RetryingT = policy.copy(
        retry=policy.retry & retry_if_not_exception_type(UpstreamTimeout)
    )
    return copied


__all__ = [
    "API_KEY_HEADER",
    "AsyncRetrying",
    "ClientOptions",
    "Retrying",
    "default_breaker",
    "resolve_options",
    "without_timeout_retries",
]
