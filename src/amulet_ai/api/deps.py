"""Typed dependencies that routes take as plain parameters.

Example::

    @router.get("/v1/classes")
    async def classes(caller: ApiKeyDep, classifier: ModelDep) -> ClassesResponse: ...

``create_app(settings)`` keeps its settings and state on ``app.state``; tests build an app
from their own :class:`~amulet_ai.config.Settings` instead of overriding dependencies.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from amulet_ai.api.security import RateLimiter, check_admin_key
from amulet_ai.api.state import ServingState
from amulet_ai.config import Settings
from amulet_ai.model.classifier import AmuletClassifier


async def get_state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StateDep = Annotated[ServingState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def authorize(
    request: Request,
    state: StateDep,
    x_api_key: Annotated[
        str | None, Header(description="API key, when the server has keys configured.")
    ] = None,
) -> str:
    """Check the API key and count the request against its rate limit.

    Returns the caller's identity: ``key:<digest>``, or ``ip:<address>`` when anonymous.
    """
    identity = state.api_keys.identify(x_api_key)
    if identity is None:
        identity = f"ip:{request.client.host if request.client else 'unknown'}"
    limiter = state.rate_limiter
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


async def serving_model(state: StateDep) -> AmuletClassifier:
    """The model serving now (503 ``model_unavailable`` when none is loaded)."""
    return state.model.require()


async def model_for_inference(state: StateDep) -> AmuletClassifier:
    """Admit new inference work: memory under the ceiling, a model loaded.

    The classifier returned is pinned for the whole request, so a reload meanwhile does
    not change the model a request finishes on.
    """
    state.check_memory()
    return state.model.require()


ApiKeyDep = Annotated[str, Depends(authorize)]
AdminDep = Annotated[None, Depends(require_admin)]
ModelDep = Annotated[AmuletClassifier, Depends(serving_model)]
ClassifierDep = Annotated[AmuletClassifier, Depends(model_for_inference)]
