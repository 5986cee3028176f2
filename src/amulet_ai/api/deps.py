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

from amulet_ai.api.owners import Caller
from amulet_ai.api.readiness import HealthMonitor
from amulet_ai.api.saved_work import SavedWork
from amulet_ai.api.saving import HistorySaver
from amulet_ai.api.security import RateLimiter, check_admin_key
from amulet_ai.api.services import PredictForms, Services
from amulet_ai.config import Settings
from amulet_ai.errors import Forbidden, StorageUnavailable
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.serving.metrics import ServiceMetrics
from amulet_ai.serving.model_slot import ModelSlot
from amulet_ai.serving.service import PredictionService
from amulet_ai.store import Store


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


async def get_store(request: Request) -> Store:
    return _services(request).saved.store


async def get_saver(request: Request) -> HistorySaver:
    return _services(request).saver


async def get_saved_work(request: Request) -> SavedWork:
    return _services(request).saved


StoreDep = Annotated[Store, Depends(get_store)]
SaverDep = Annotated[HistorySaver, Depends(get_saver)]
SavedWorkDep = Annotated[SavedWork, Depends(get_saved_work)]

_ApiKeyHeader = Annotated[
    str | None, Header(description="API key; needed once any key exists (environment or database).")
]


def _forwarded_by_proxy(request: Request, address: str) -> bool:
    # uvicorn replaces the client address with the forwarded one only for a trusted peer;
    # from anyone else the header stays but the address is still the peer's own.
    forwarded = request.headers.get("x-forwarded-for")
    return forwarded is not None and address in (part.strip() for part in forwarded.split(","))


async def authorize(request: Request, x_api_key: _ApiKeyHeader = None) -> Caller:
    """Find the caller's owner and scopes from the API key; count the request's rate limit.

    The rate-limit bucket is the key (``key:<digest>`` or ``key:<id>``), or the client's
    address (``ip:<address>``) when no key is needed and none was sent. A key used through a
    trusted proxy (the page, ``AMULET_FORWARDED_ALLOW_IPS``) on behalf of a forwarded address
    counts as ``<key bucket>:ip:<address>``: one limit per collector, not one for everyone
    behind the page's key.
    """
    services = _services(request)
    host = request.client.host if request.client else "unknown"
    caller = await services.owners.resolve(x_api_key, host)
    bucket = caller.identity
    if not bucket.startswith("ip:") and _forwarded_by_proxy(request, host):
        bucket = f"{bucket}:ip:{host}"
    limiter = services.rate_limiter
    if limiter.enabled:
        verdict = await limiter.hit(bucket)
        request.state.response_headers = verdict.headers()
        if not verdict.allowed:
            raise RateLimiter.refuse(verdict)
    return caller


CallerDep = Annotated[Caller, Depends(authorize)]

# The scoped callers below call ``authorize`` themselves rather than depend on it: each
# dependency level costs FastAPI's resolver CPU on every request, and no route takes two
# callers (the rate limit is counted once per request).


async def predict_caller(request: Request, x_api_key: _ApiKeyHeader = None) -> Caller:
    """A caller with the ``predict`` scope (403 otherwise)."""
    caller = await authorize(request, x_api_key)
    caller.require("predict")
    return caller


async def collection_caller(request: Request, x_api_key: _ApiKeyHeader = None) -> Caller:
    """A caller with the ``collection`` scope (403 otherwise)."""
    caller = await authorize(request, x_api_key)
    caller.require("collection")
    return caller


async def require_admin(
    request: Request,
    settings: SettingsDep,
    x_admin_key: Annotated[str | None, Header(description="The admin key.")] = None,
    x_api_key: _ApiKeyHeader = None,
) -> None:
    """Allow the admin key, or an API key with the ``admin`` scope; else 401/403.

    A valid API key without the scope is 403 ``forbidden`` (it names the scope); any other
    ``X-API-Key`` (not a key, or one that cannot be checked now) is judged as if absent:
    the admin key decides.
    """
    if x_admin_key is None and x_api_key:
        host = request.client.host if request.client else "unknown"
        try:
            caller = await _services(request).owners.resolve(x_api_key, host)
        except (Forbidden, StorageUnavailable):
            caller = None
        if caller is not None:
            caller.require("admin")
            return
    check_admin_key(settings.admin_key, x_admin_key)


async def serving_model(slot: ModelSlotDep) -> AmuletClassifier:
    """The model serving now (503 ``model_unavailable`` when none is loaded)."""
    return slot.require()


async def admit_inference(request: Request) -> AmuletClassifier:
    """Admit new inference work (memory, model, pool) and pin the model for the request.

    The classifier returned is the one the whole request runs on, so a reload meanwhile
    does not change the model a request finishes on.
    """
    return _services(request).prediction.admit()


ApiKeyDep = CallerDep
PredictCallerDep = Annotated[Caller, Depends(predict_caller)]
CollectionCallerDep = Annotated[Caller, Depends(collection_caller)]
AdminDep = Annotated[None, Depends(require_admin)]
ModelDep = Annotated[AmuletClassifier, Depends(serving_model)]
AdmittedModelDep = Annotated[AmuletClassifier, Depends(admit_inference)]
