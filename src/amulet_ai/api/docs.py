"""OpenAPI documentation data: example error envelopes and multipart request bodies.

Routes pass ``responses=error_responses(401, 413, ...)`` so ``/docs`` shows, for every
status a route can answer, the envelope with a real code and message.
"""

from __future__ import annotations

from typing import Any

from amulet_ai.api.schemas import ErrorResponse

_EXAMPLE_ID = "3f2a9c0e5b7d4e21"

# status -> (description, code, message)
_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("Corrupt image or malformed form", "corrupt_image", "The image is truncated or corrupt."),
    401: ("No API key", "unauthorized", "An API key is required in the X-API-Key header."),
    403: ("Wrong key", "forbidden", "The API key is not valid."),
    404: ("No such resource", "not_found", "No such resource."),
    408: (
        "The upload stalled",
        "request_timeout",
        "No part of the upload arrived for 15 s.",
    ),
    409: (
        "History is off on this server",
        "history_disabled",
        "This server keeps no history (AMULET_HISTORY=off).",
    ),
    413: (
        "Upload or image too large",
        "payload_too_large",
        "The request body is larger than 41943040 bytes.",
    ),
    415: (
        "Not a supported image",
        "unsupported_media_type",
        "Not an image in a supported format (JPEG, PNG, WebP, HEIC).",
    ),
    422: ("Missing or wrong field", "validation_error", "front: field required."),
    429: (
        "Rate limited (see Retry-After and RateLimit-* headers)",
        "rate_limited",
        "Rate limit of 120 requests exceeded; retry in 41 s.",
    ),
    503: (
        "Overloaded, low on memory, draining or no model (see Retry-After)",
        "overloaded",
        "Every inference worker is busy and the queue is full.",
    ),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries with an example envelope for each status."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, code, message = _ERRORS[status]
        out[status] = {
            "model": ErrorResponse,
            "description": description,
            "content": {
                "application/json": {
                    "example": {
                        "error": {"code": code, "message": message, "request_id": _EXAMPLE_ID}
                    }
                }
            },
        }
    return out


def multipart_body(fields: dict[str, tuple[str, bool, bool]]) -> dict[str, Any]:
    """``openapi_extra=`` for a streamed multipart body: name -> (description, many, required)."""
    properties: dict[str, Any] = {}
    for name, (description, many, _) in fields.items():
        item = {"type": "string", "format": "binary"}
        properties[name] = (
            {"type": "array", "items": item, "description": description}
            if many
            else {**item, "description": description}
        )
    required = [name for name, (_, _, needed) in fields.items() if needed]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                }
            },
        }
    }
