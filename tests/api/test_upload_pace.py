"""An upload's idle timeout counts only the pauses between its pieces, in both forms.

A body that trickles in slowly but never pauses for ``upload_idle_timeout_s`` is read to the
end and answered; one that stops halfway is a 408 ``request_timeout`` once the timeout
passes. Through the real app over ASGI, the body sent piece by piece.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from harness import async_client

from amulet_ai.config import Settings

IDLE_S = 0.4
BOUNDARY = "pace-boundary"


def _body(form: str, photo: bytes) -> tuple[bytes, dict[str, str]]:
    if form == "raw":
        return photo, {"Content-Type": "image/jpeg"}
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="front"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = head + photo + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def _paced(
    body: bytes, pieces: int, pause_s: float, stall_after: int | None = None
) -> AsyncIterator[bytes]:
    step = -(-len(body) // pieces)
    for i in range(pieces):
        if i == stall_after:
            await asyncio.sleep(30)  # never reached: the server gives up first
        yield body[i * step : (i + 1) * step]
        await asyncio.sleep(pause_s)


async def _post_paced(
    settings_for: Callable[..., Settings], photo: bytes, form: str, **pace: Any
) -> tuple[httpx.Response, float]:
    """POST ``photo`` in ``form`` paced by :func:`_paced`; the answer and the seconds it took."""
    body, headers = _body(form, photo)
    async with async_client(settings_for(upload_idle_timeout_s=IDLE_S)) as client:
        started = time.perf_counter()
        r = await client.post("/v1/predict", content=_paced(body, **pace), headers=headers)
        return r, time.perf_counter() - started


@pytest.mark.parametrize("form", ["raw", "multipart"])
async def test_a_slow_steady_upload_is_answered(
    settings_for: Callable[..., Settings], make_photo: Callable[..., bytes], form: str
) -> None:
    r, took = await _post_paced(
        settings_for, make_photo(320, 240, seed=7300), form, pieces=8, pause_s=IDLE_S / 4
    )
    assert r.status_code == 200, r.text
    assert r.json()["images"]["front"]["format"] == "JPEG"
    assert took > 1.5 * IDLE_S, "the whole upload took longer than one idle timeout"


@pytest.mark.parametrize("form", ["raw", "multipart"])
async def test_an_upload_that_stops_halfway_is_408(
    settings_for: Callable[..., Settings], make_photo: Callable[..., bytes], form: str
) -> None:
    r, took = await _post_paced(
        settings_for, make_photo(320, 240, seed=7301), form, pieces=4, pause_s=0.0, stall_after=2
    )
    assert r.status_code == 408
    error = r.json()["error"]
    assert error["code"] == "request_timeout"
    assert error["details"] == {"idle_timeout_s": IDLE_S}
    assert IDLE_S <= took < IDLE_S + 5
