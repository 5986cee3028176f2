"""The page under streamlit's AppTest, with the API faked at the client seam.

The page gets its client only through ``get_client()``, which takes a client placed in
``st.session_state[CLIENT_STATE_KEY]``; here that client runs on ``httpx.MockTransport``
(httpx's own test double) with a :class:`FakeApi` handler that counts every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fake_amulet_api import Clock, FakeApi
from streamlit.testing.v1 import AppTest

from amulet_ai.client import AmuletClient
from amulet_ai.frontend.connection import CLIENT_STATE_KEY
from amulet_ai.runtime.circuit import CircuitBreaker

APP_PATH = Path(__file__).resolve().parents[2] / "src" / "amulet_ai" / "frontend" / "app.py"


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def page(fake_api: FakeApi, clock: Clock) -> Iterator[AppTest]:
    """The page, its client on the fake API: no retries; the breaker opens after 5
    failures and stays open 60 s of ``clock``."""
    client = AmuletClient(
        "http://api.test",
        transport=httpx.MockTransport(fake_api),
        retries=0,
        breaker=CircuitBreaker(5, reset_timeout_s=60.0, clock=clock),
    )
    app = AppTest.from_file(str(APP_PATH), default_timeout=30)
    app.session_state[CLIENT_STATE_KEY] = client
    yield app
    client.close()


@pytest.fixture
def upload() -> Callable[..., None]:
    """``upload(app, photo, key="front_photo")``: put a file in an uploader and run."""

    def put(app: AppTest, photo: bytes, key: str = "front_photo", name: str = "photo.jpg") -> None:
        app.file_uploader(key=key).set_value((name, photo, "image/jpeg"))
        app.run()

    return put
