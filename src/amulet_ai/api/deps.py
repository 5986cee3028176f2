"""Typed dependencies that routes take as plain parameters.

Example::

    @router.get("/v1/classes")
    async def classes(caller: ApiKeyDep, classifier: ModelDep) -> ClassesResponse: ...

``create_app(settings)`` keeps its settings and :class:`~amulet_ai.api.services.Services`
on ``app.state``; each dependency below hands a route one narrow part of them. Tests build
an app from their own :class:`~amulet_ai.config.Settings` instead of overriding these.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from amulet_ai.api.readiness import HealthMonitor
from amulet_ai.api.security import RateLimiter, check_admin_key
from amulet_ai.api.services import PredictForms, Services
from amulet_ai.config import Settings
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.serving.metrics import ServiceMetrics
from amulet_ai.serving.model_slot import ModelSlot
from amulet_ai.serving.service import PredictionService


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_prediction_service(request: Request) -> PredictionService:
    return _services(request).prediction


async def get_predict_forms(request: Request) -> PredictForms:
    return _services(request).forms


async def get_model_slot(request: Request) -> ModelSlot:
    return _services(request).model


async def get_metrics(request: Request) -> ServiceMetrics:
    return _services(request).metrics


async def get_health_monitor(request: Request) -> HealthMonitor:
    return _services(request).health


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PredictionServiceDep = Annotated[PredictionService, Depends(get_prediction_service)]
PredictFormsDep = Annotated[PredictForms, Depends(get_predict_forms)]
ModelSlotDep = Annotated[ModelSlot, Depends(get_model_slot)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
HealthDep = Annotated[HealthMonitor, Depends(get_health_monitor)]


def _forwarded_by_proxy(request: Request, address: str) -> bool:
    # uvicorn replaces the client address with the forwarded one only for a trusted peer;
    # from anyone else the header stays but the address is still the peer's own.
    forwarded = request.headers.get("x-forwarded-for")
    return forwarded is not None and address in (part.strip() for part in forwarded.split(","))


async def authorize(
    request: Request,
    x_api_key: Annotated[
        str | None, Header(description="API key, when the server has keys configured.")
    ] = None,
) -> str:
    """Check the API key and count the request against its rate limit.

    Returns the caller's identity: ``key:<digest>``, or ``ip:<address>`` when anonymous. A
    key used through a trusted proxy (the page, ``AMULET_FORWARDED_ALLOW_IPS``) on behalf of
    a forwarded address is ``key:<digest>:ip:<address>``: one limit per collector, not one
    for everyone behind the page's key.
    """
    services = _services(request)
    address = request.client.host if request.client else "unknown"
    identity = services.api_keys.identify(x_api_key)
    if identity is None:
        identity = f"ip:{address}"
    elif _forwarded_by_proxy(request, address):
        identity = f"{identity}:ip:{address}"
    limiter = services.rate_limiter
    if limiter.enabled:
        verdict = await limiter.hit(identity)
        request.state.response_headers = verdict.headers()
        if not verdict.allowed:
            raise RateLimiter.refuse(verdict)
    return identity


async def require_admin(
    settings: SettingsDep,
    x_admin_key: Annotated[str | None, Header(description="The admin key.")] = None,
) -> None:
    """Allow only callers with the admin key (403 while none is configured)."""
    check_admin_key(settings.admin_key, x_admin_key)


async def serving_model(slot: ModelSlotDep) -> AmuletClassifier:
    """The model serving now (503 ``model_unavailable`` when none is loaded)."""
    return slot.require()


async def admit_inference(service: PredictionServiceDep) -> AmuletClassifier:
    """Admit new inference work (memory, model, pool) and pin the model for the request.

    The classifier returned is the one the whole request runs on, so a reload meanwhile
    does not change the model a request finishes on.
    """
    return service.admit()


ApiKeyDep = Annotated[str, Depends(authorize)]
AdminDep = Annotated[None, Depends(require_admin)]
ModelDep = Annotated[AmuletClassifier, Depends(serving_model)]
AdmittedModelDep = Annotated[AmuletClassifier, Depends(admit_inference)]
