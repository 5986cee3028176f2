"""Starlette's CORS middleware, with refused preflights answered in the API's error envelope.

Starlette answers a preflight it refuses (an origin, method or header not allowed) with a
plain-text 400. Every other error of this API is JSON with a stable code, so clients and
logs see one shape: here it is 400 ``cors_rejected``, with what was refused in
``details.refused`` and the request id. Allowed preflights and simple requests are
Starlette's own handling, unchanged.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from amulet_ai.api.error_handlers import error_response
from amulet_ai.errors import CorsRejected

_REFUSAL_PREFIX = "Disallowed CORS "
# Headers of Starlette's refusal that describe its plain-text body, not the CORS policy.
_BODY_HEADERS = frozenset({"content-length", "content-type"})


class JsonCORSMiddleware(CORSMiddleware):
    """See the module docstring; configured exactly like ``CORSMiddleware``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "origin" not in headers or "access-control-request-method" not in headers:
            await super().__call__(scope, receive, send)
            return
        response = self.preflight_response(request_headers=headers)
        if response.status_code == 400:
            refused = bytes(response.body).decode("latin-1").removeprefix(_REFUSAL_PREFIX)
            error = CorsRejected(
                f"The CORS preflight was refused: {refused} not allowed.",
                details={"refused": refused.split(", ")},
            )
            request_id = scope.get("state", {}).get("request_id")
            refusal = error_response(error, request_id if isinstance(request_id, str) else None)
            for name, value in response.headers.items():
                if name not in _BODY_HEADERS:
                    refusal.headers[name] = value
            response = refusal
        await response(scope, receive, send)
