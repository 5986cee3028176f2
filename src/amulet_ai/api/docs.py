"""The API's documentation: ``/docs`` and ``/redoc`` served with no internet, and the
OpenAPI data routes pass in (example error envelopes, multipart request bodies).

Swagger UI and ReDoc load their scripts from a CDN by default, which leaves ``/docs``
blank offline. :func:`install_docs` serves them from the files the ``fastapi-offline``
package ships (FastAPI's documented self-hosting: ``get_swagger_ui_html`` with local
URLs), and the API's favicon from ``amulet_ai/static``.

Routes pass ``responses=error_responses(401, 413, ...)`` so ``/docs`` shows, for every
status a route can answer, the envelope with a real code and message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from amulet_ai.api.schemas import ErrorResponse

ASSETS_URL: Final = "/docs/assets"
FAVICON_URL: Final = "/favicon.ico"
_ASSETS_DIR: Final = Path(fastapi_offline.__file__).resolve().parent / "static"
FAVICON_FILE: Final = Path(__file__).resolve().parents[1] / "static" / "favicon.png"

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
    413: (
        "Upload or image too large",
        "payload_too_large",
        "The request body is larger than 40.1 MB.",
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


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and ``/favicon.ico`` from local files.

    ``app`` must be built with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off).
    """
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"
    app.mount(ASSETS_URL, StaticFiles(directory=_ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=FAVICON_URL,
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=FAVICON_URL,
            with_google_fonts=False,
        )

    @app.get(FAVICON_URL, include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(FAVICON_FILE, media_type="image/png")
