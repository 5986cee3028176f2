"""Mapping HTTP answers and transport failures onto the one exception hierarchy.

The API's error envelope ``{"error": {"code", "message", "request_id"}}`` becomes the class
that owns that code (``error_for_code``), carrying the API's own message, the request id and
any ``Retry-After``. Failures to reach the API at all become :class:`UpstreamUnavailable`
or :class:`UpstreamTimeout`.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from amulet_ai.errors import (
    AmuletError,
    NotFound,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_code,
)

# When a proxy answers instead of the API there is no envelope; the status decides.
_BY_STATUS: dict[int, type[AmuletError]] = {
    404: NotFound,
    429: RateLimited,
    502: UpstreamUnavailable,
    503: UpstreamUnavailable,
    504: UpstreamTimeout,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    >>> parse_retry_after("2")
    2.0
    >>> parse_retry_after(None) is None
    True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_from_response(response: httpx.Response) -> AmuletError:
    """The typed exception for a non-2xx answer, with the API's own message."""
    code: str | None = None
    message: str | None = None
    details: dict[str, Any] = {"status": response.status_code}
    try:
        body = response.json()
    except ValueError:
        body = None
    envelope = body.get("error") if isinstance(body, dict) else None
    if isinstance(envelope, dict):
        code = envelope.get("code") if isinstance(envelope.get("code"), str) else None
        message = envelope.get("message") if isinstance(envelope.get("message"), str) else None
        if isinstance(envelope.get("details"), dict):
            details.update(envelope["details"])
    request_id = response.headers.get("x-request-id")
    if request_id:
        details["request_id"] = request_id
    if code is not None:
        cls = error_for_code(code)
    else:
        cls = _BY_STATUS.get(response.status_code, AmuletError)
    return cls(
        message,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        details=details,
    )


def error_from_transport(exc: httpx.TransportError) -> AmuletError:
    """The typed exception for a request that never got an answer.

    A connect timeout is a connection failure (retried); any other timeout means the API
    may be working on the request, which :class:`UpstreamTimeout` says.
    """
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return UpstreamTimeout(details={"reason": type(exc).__name__})
    return UpstreamUnavailable(details={"reason": type(exc).__name__})
