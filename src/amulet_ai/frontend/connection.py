"""How the page reaches the API: one shared client, the visitor's address, and the calls.

The page obtains its client only through :func:`get_client`. In production that is one
pooled :class:`~amulet_ai.client.AmuletClient` per server process (``st.cache_resource``),
so every browser session shares its connections and its circuit breaker: when the API is
dead, the breaker opens for everyone and nobody hammers it. It never waits out a
``Retry-After``: a busy API is reported to the collector at once, with the wait. A test may
place its own client (for instance one on ``httpx.MockTransport``) in
``st.session_state[CLIENT_STATE_KEY]`` before the first run.

Each check is sent with ``save=true``, so it lands in the owner's history on the API; when
the API refuses saving (history off, or the page's key lacks the ``collection`` scope) the
page asks once more without it and stops asking to save for this session.

Every call carries the browser's address in ``X-Forwarded-For`` (:func:`visitor_headers`),
so the API's per-client rate limit counts each collector, not the page. The API trusts that
header only from the page's own address (``AMULET_FORWARDED_ALLOW_IPS``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

import streamlit as st

from amulet_ai.api.schemas import ClassesResponse, HealthReport, ModelInfo
from amulet_ai.client import AmuletClient, Photo
from amulet_ai.config import get_settings
from amulet_ai.errors import AmuletError, Forbidden, HistoryDisabled
from amulet_ai.frontend.state import Answer, PageSession, photo_key
from amulet_ai.model.results import LocateMode

logger = logging.getLogger(__name__)

CLIENT_STATE_KEY: Final = "amulet_client"
TOP_K: Final = 3


@st.cache_resource(show_spinner=False, on_release=lambda client: client.close())
def _shared_client(base_url: str, api_key: str | None) -> AmuletClient:
    return AmuletClient(base_url, api_key=api_key, max_retry_after_s=0.0)


def get_client() -> AmuletClient:
    """The client this session talks through (see the module docstring)."""
    injected = st.session_state.get(CLIENT_STATE_KEY)
    if isinstance(injected, AmuletClient):
        return injected
    settings = get_settings()
    key = settings.frontend_api_key
    return _shared_client(settings.public_url, key.get_secret_value() if key else None)


def visitor_headers() -> dict[str, str]:
    """``X-Forwarded-For`` with this browser session's address; empty on loopback.

    Streamlit reports no address for a browser on the page's own machine; the API then sees
    the page's address, which is the same thing.
    """
    address = st.context.ip_address
    # Outside a browser session (AppTest, a bare script run) there is no string to send.
    return {"X-Forwarded-For": address} if isinstance(address, str) and address else {}


def ask(
    client: AmuletClient,
    session: PageSession,
    front: bytes,
    back: bytes | None,
    headers: dict[str, str],
    *,
    locate: LocateMode = "auto",
) -> Answer:
    """The answer for these photos: from this session's memory, or from the API.

    ``locate`` is the API's option: ``auto`` finds the amulet in the photo, ``off`` takes
    the photo as already cropped to it; answers are remembered per mode.

    The heatmap is always requested, so switching the overlay on or off needs no new call,
    and so is each photo's localiser mask (the judged crop is shown greyed outside it, as a
    model that greys the backdrop reads it; an older server sends none).
    The answer is saved in the owner's history unless saving was refused (module docstring).
    Failures propagate as :class:`~amulet_ai.errors.AmuletError` and are not
    remembered, so trying again really asks again.
    """
    key = photo_key(front, back, explain=True, locate=locate)
    remembered = session.result(key)
    if remembered is not None:
        return remembered
    started = time.perf_counter()
    save = not session.saving_refused
    try:
        response = client.predict(
            front,
            back,
            top_k=TOP_K,
            explain=True,
            save=save,
            locate=locate,
            headers=headers,
            mask=True,
        )
    except (HistoryDisabled, Forbidden):
        if not save:
            raise
        session.saving_refused = True
        response = client.predict(
            front, back, top_k=TOP_K, explain=True, locate=locate, headers=headers, mask=True
        )
    answer = Answer(response, (time.perf_counter() - started) * 1000.0, from_session=False)
    session.remember(key, answer, front)
    return answer


def health(
    client: AmuletClient, session: PageSession, headers: dict[str, str], *, refresh: bool = False
) -> HealthReport:
    """The API's health report, remembered for a short while."""
    return session.service_value("health", lambda: client.health(headers=headers), refresh=refresh)


def catalog(client: AmuletClient, session: PageSession, headers: dict[str, str]) -> ClassesResponse:
    """The known types, remembered for a short while."""
    return session.service_value("classes", lambda: client.classes(headers=headers))


def model_info(client: AmuletClient, session: PageSession, headers: dict[str, str]) -> ModelInfo:
    """The served model and the server's limits, remembered for a short while."""
    return session.service_value("model", lambda: client.model_info(headers=headers))


def saved_photo(session: PageSession, key: str, fetch: Callable[[], Photo]) -> bytes | None:
    """A kept photo's bytes, fetched once per session (photos never change under an id);
    None when the API has none or cannot send it now."""
    cached = session.saved_photos.get(key)
    if cached is not None:
        return cached
    try:
        photo = fetch()
    except AmuletError as exc:
        logger.info("photo %s not shown: %s", key, exc.code)
        return None
    session.saved_photos[key] = photo.content
    return photo.content
