"""The Amulet-AI REST API: :func:`create_app` assembles it, nothing else lives here.

Routes (error bodies are always ``{"error": {"code", "message", "request_id"}}``)::

    POST   /v1/predict[?save=true]  front (+ back) photo -> classification   predict
    POST   /v1/predict/batch        files[] -> one result or error per file  predict
    GET    /v1/classes              the known amulet types                   any key
    GET    /v1/model                model metadata and measured metrics      any key
    GET    /v1/history              the caller's saved checks, newest first  collection
    GET    /v1/history/{id}         one saved check (+ /photo?size=&side=)   collection
    DELETE /v1/history/{id}         forget a saved check                     collection
    POST   /v1/history/{id}/feedback  right, or what it should have been     collection
    POST   /v1/pieces               a piece of the collection (classified)   collection
    GET    /v1/pieces               the caller's pieces, newest first        collection
    GET|PATCH|DELETE /v1/pieces/{id}  (+ /photo/{front|back}?size=)          collection
    POST   /v1/types                enrol a type from 3-50 photos            collection+predict
    GET    /v1/types                the six model types and the enrolled     collection
    GET|DELETE /v1/types/{id}       one enrolled type (+ /photos/{photo_id})  collection
    POST   /v1/types/{id}/photos    add photos to an enrolled type           collection+predict
    PUT    /v1/types/{id}/published publish an enrolled type to every owner  admin
    POST   /v1/similar              the caller's photos closest to a photo   collection
    POST   /v1/admin/reload         swap in the model on disk                admin
    GET  /health                  detailed report (200 ok/degraded, 503 unavailable)
    GET  /health/live             liveness (200)
    GET  /health/ready            readiness (200 or 503)
    GET  /v2                      Open Inference Protocol: server metadata
    GET  /v2/health/live          OIP liveness
    GET  /v2/health/ready         OIP readiness
    GET  /v2/models/{name}        OIP model metadata
    GET  /v2/models/{name}/ready  OIP model readiness
    GET  /metrics                 Prometheus exposition
    GET  /docs, /redoc            OpenAPI pages, served from local files (no CDN)
    GET  /openapi.json            OpenAPI document
    GET  /favicon.ico             the API's icon

Run it::

    uvicorn amulet_ai.api.app:create_app --factory --no-access-log \\
        --timeout-graceful-shutdown 20

or, in code, ``create_app(Settings(model_dir=..., api_keys=...))``. The model loads in the
lifespan; a missing or broken model leaves the app live but not ready. The right column is
the scope an API key needs (:mod:`amulet_ai.api.owners`; with no key anywhere, none is
needed); admin routes also take ``X-Admin-Key``.
"""

from __future__ import annotations

from fastapi import FastAPI

import amulet_ai
from amulet_ai.api.cors import JsonCORSMiddleware
from amulet_ai.api.docs import install_docs
from amulet_ai.api.error_handlers import install_error_handlers
from amulet_ai.api.lifespan import lifespan
from amulet_ai.api.middleware import HeadAsGetMiddleware, RequestContextMiddleware
from amulet_ai.api.routes import (
    admin,
    catalog,
    health,
    history,
    metrics,
    oip,
    pieces,
    predict,
    similar,
    types,
)
from amulet_ai.api.services import Services
from amulet_ai.config import Settings, get_settings

_EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for ``settings`` (default: :func:`~amulet_ai.config.get_settings`).

    Example::

        >>> from amulet_ai.config import Settings
        >>> app = create_app(Settings(rate_limit=""))
        >>> app.title
        'Amulet-AI'
    """
    settings = settings or get_settings()
    services = Services(settings)
    app = FastAPI(
        title="Amulet-AI",
        version=amulet_ai.__version__,
        summary="Photo classifier for Thai Buddhist amulets (พระเครื่อง).",
        lifespan=lifespan,
        # Served by install_docs from local files: the default pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.services = services
    install_error_handlers(app, services.metrics)
    app.add_middleware(HeadAsGetMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["X-API-Key", "X-Admin-Key", "X-Request-ID", "Content-Type"],
            expose_headers=_EXPOSED_HEADERS,
        )
    # Added last, so outermost: every response, CORS preflights included, passes through it.
    app.add_middleware(RequestContextMiddleware, traffic=services.traffic, metrics=services.metrics)
    for module in (predict, catalog, history, pieces, types, similar, admin, health, oip, metrics):
        app.include_router(module.router)
    install_docs(app)
    return app
