"""The outermost layer: request id, security headers, drain refusal, last-resort errors,
metrics and the access log, for every HTTP request.

A plain ASGI middleware (no ``BaseHTTPMiddleware``), so it adds no task or body buffering.
Per request it:

* takes the client's ``X-Request-ID`` when it is sane (1-128 of ``A-Z a-z 0-9 . _ : -``),
  else makes one, and echoes it on the response;
* answers 503 ``shutting_down`` while the app drains (probes and metrics still answer);
* adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store`` and any headers a
  dependency left in ``request.state.response_headers`` (the ``RateLimit-*`` ones);
* turns an unexpected exception into 500 ``internal_error`` with no details, after logging
  it with its traceback;
* counts the request and its duration, and writes one access-log line.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from amulet_ai.api.error_handlers import error_response
from amulet_ai.api.traffic import Traffic
from amulet_ai.errors import AmuletError, ShuttingDown
from amulet_ai.serving.metrics import ServiceMetrics

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("amulet_ai.api.access")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Answered while draining, so orchestrators see the truth about the process.
_DRAIN_EXEMPT = ("/health", "/v2/health", "/metrics")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return os.urandom(8).hex()


def _route_label(scope: Scope) -> str:
    # The route template ("/v2/models/{name}"), never the raw path: bounded label values.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, traffic: Traffic, metrics: ServiceMetrics) -> None:
        self.app = app
        self.traffic = traffic
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        # This request's own copy of the lifespan state: servers are meant to copy it per
        # request, but not every ASGI host does (asgi-lifespan shares one dict), and the
        # request id written here must never be seen by a concurrent request.
        context: dict[str, Any] = dict(scope.get("state") or {})
        scope["state"] = context
        context["request_id"] = request_id
        context["started"] = started
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    if name != "Cache-Control" or name not in headers:
                        headers[name] = value
                for name, value in context.get("response_headers", {}).items():
                    headers[name] = value
            await send(message)

        traffic, metrics = self.traffic, self.metrics
        traffic.in_flight += 1
        metrics.in_flight.inc()
        try:
            if traffic.draining and not scope["path"].startswith(_DRAIN_EXEMPT):
                refusal = error_response(ShuttingDown(), request_id)
                refusal.headers["Connection"] = "close"
                metrics.rejections.labels(reason="draining").inc()
                await refusal(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception(
                "unhandled error request_id=%s method=%s path=%s",
                request_id,
                scope["method"],
                _printable(scope["path"]),
            )
            if not response_started:
                await error_response(AmuletError(), request_id)(scope, receive, send_with_headers)
        finally:
            traffic.in_flight -= 1
            metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            metrics.requests.labels(route, scope["method"], str(status)).inc()
            metrics.request_seconds.labels(route).observe(elapsed)
            _log_access(scope, status, elapsed, request_id, bool(context.get("cached", False)))


def _printable(text: str, limit: int = 200) -> str:
    return _UNPRINTABLE.sub("?", text[:limit])


def _log_access(scope: Scope, status: int, elapsed: float, request_id: str, cached: bool) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    method = scope["method"]
    path = _printable(scope["path"])
    ms = round(elapsed * 1000.0, 2)
    access_logger.info(
        "%s %s %d %.2fms request_id=%s cached=%s",
        method,
        path,
        status,
        ms,
        request_id,
        "true" if cached else "false",
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": ms,
            "request_id": request_id,
            "cached": cached,
        },
    )


class HeadAsGetMiddleware:
    """Answers ``HEAD`` on every route as its ``GET`` (RFC 9110: a server that answers GET
    answers HEAD), which FastAPI's routes do not do themselves: an uptime monitor or load
    balancer probing ``HEAD /health`` would otherwise read 405 as the service being down.

    The route sees ``GET``; the server (uvicorn), which still sees ``HEAD``, sends the
    headers without the body. Where the route has no ``GET``, the answer is its 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)
