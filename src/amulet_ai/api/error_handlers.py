"""Errors to HTTP answers: one envelope, status decided by :mod:`amulet_ai.errors`.

Three handlers cover everything a route can raise:

* :class:`~amulet_ai.errors.AmuletError` and its subclasses: their own status and
  code, ``Retry-After`` when they carry one;
* FastAPI's ``RequestValidationError`` (a bad query parameter): 422 ``validation_error``;
* Starlette's ``HTTPException`` (no such route, wrong method, a body FastAPI could not
  parse): 404 ``not_found``, 405 ``method_not_allowed``, 400 ``invalid_input``.

A CORS preflight refused before any route runs gets the same envelope from
:class:`~amulet_ai.api.cors.JsonCORSMiddleware`: 400 ``cors_rejected``.

Anything else is a bug; :class:`~amulet_ai.api.middleware.RequestContextMiddleware`
logs it with its traceback and answers 500 ``internal_error`` with no details.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from amulet_ai.errors import (
    AmuletError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    ValidationFailed,
)
from amulet_ai.serving.metrics import ServiceMetrics

# Error codes counted as rejections in the metrics, by reason.
REJECTION_REASONS = {
    "rate_limited": "rate_limit",
    "overloaded": "overload",
    "shutting_down": "draining",
    "memory_pressure": "memory",
    "memory_limit_exceeded": "memory",
    "payload_too_large": "too_large",
    "image_too_large": "too_large",
    "unauthorized": "auth",
    "forbidden": "auth",
}


def request_id_of(request: Request) -> str | None:
    """The id the middleware gave this request."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def error_response(exc: AmuletError, request_id: str | None) -> JSONResponse:
    """The JSON envelope for ``exc``, with ``Retry-After`` where it applies."""
    headers: dict[str, str] = {}
    retry_after = exc.retry_after
    if retry_after is None and exc.retryable and exc.status_code in (429, 503):
        retry_after = 1.0
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return JSONResponse(exc.to_dict(request_id), status_code=exc.status_code, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Location and message only: the rejected input is the client's own and may be large.
    return [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]


def _amulet_error_handler(
    metrics: ServiceMetrics | None,
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def on_amulet_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AmuletError)
        reason = REJECTION_REASONS.get(exc.code)
        if reason is not None and metrics is not None:
            metrics.rejections.labels(reason=reason).inc()
        return error_response(exc, request_id_of(request))

    return on_amulet_error


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _field_errors(exc)
    first = fields[0] if fields else {"loc": [], "msg": "invalid"}
    where = ".".join(first["loc"])
    error = ValidationFailed(f"{where}: {first['msg']}", details={"fields": fields})
    return error_response(error, request_id_of(request))


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    request_id = request_id_of(request)
    if exc.status_code == 404:
        response = error_response(NotFound(), request_id)
    elif exc.status_code == 405:
        response = error_response(MethodNotAllowed(), request_id)
    elif exc.status_code == 400:
        # FastAPI's own for a JSON body that json.loads fails on other than by syntax
        # (nesting past the recursion limit, an integer of thousands of digits, bytes that
        # are not text); malformed syntax is its 422 ``validation_error`` instead.
        response = error_response(InvalidInput("The request body could not be parsed."), request_id)
    else:
        # No route raises HTTPException itself; this covers the framework's own, if any.
        body = {"code": "http_error", "message": str(exc.detail), "request_id": request_id}
        response = JSONResponse({"error": body}, status_code=exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)  # e.g. Allow on a 405
    return response


def install_error_handlers(app: FastAPI, metrics: ServiceMetrics | None = None) -> None:
    """Register the handlers on ``app``; refusals are counted in ``metrics``."""
    app.add_exception_handler(AmuletError, _amulet_error_handler(metrics))
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
