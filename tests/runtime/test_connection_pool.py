"""ConnectionPool / SyncConnectionPool against a real uvicorn server on 127.0.0.1.

The server records the client address of every request; distinct client ports are
distinct TCP connections, so reuse is counted on the server side.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import httpx
import psutil
import pytest
import uvicorn

from amulet_ai.runtime import ConnectionPool, SyncConnectionPool

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class RecordingApp:
    """A minimal ASGI app: answers "ok", or sleeps first on /slow; records client ports."""

    def __init__(self) -> None:
        self.client_ports: list[int] = []
        self._lock = threading.Lock()

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        with self._lock:
            self.client_ports.append(scope["client"][1])
        if scope["path"] == "/slow":
            await asyncio.sleep(1.0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def connections(self) -> set[int]:
        with self._lock:
            return set(self.client_ports)

    def reset(self) -> None:
        with self._lock:
            self.client_ports.clear()


class LoopbackServer:
    def __init__(self, app: RecordingApp, url: str) -> None:
        self.app = app
        self.url = url


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    app = RecordingApp()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_keep_alive=30)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield LoopbackServer(app, f"http://127.0.0.1:{port}")
    uv.should_exit = True
    thread.join(10)
    sock.close()


def established_local_ports() -> set[int]:
    """Local ports of this process's ESTABLISHED TCP connections (both ends live here)."""
    return {
        conn.laddr.port
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.laddr
    }


async def test_async_pool_reuses_one_connection_and_closes_it(server: LoopbackServer) -> None:
    server.app.reset()
    pool = ConnectionPool(server.url, max_connections=4)
    for _ in range(20):
        response = await pool.get("/")
        assert response.text == "ok"
    used = server.app.connections()
    assert len(used) == 1  # 20 sequential requests, one TCP connection
    assert used <= established_local_ports()
    assert pool.requests_sent == 20

    await pool.aclose()
    assert pool.closed
    assert not (used & established_local_ports())  # the connection is really gone
    with pytest.raises(RuntimeError):
        await pool.get("/")
    await pool.aclose()  # closing twice is harmless


async def test_concurrent_requests_stay_within_max_connections(server: LoopbackServer) -> None:
    server.app.reset()
    async with ConnectionPool(server.url, max_connections=3) as pool:
        for _ in range(3):
            responses = await asyncio.gather(*(pool.get("/") for _ in range(12)))
            assert all(r.status_code == 200 for r in responses)
        assert 1 <= len(server.app.connections()) <= 3
    assert not (server.app.connections() & established_local_ports())


async def test_a_new_client_per_request_opens_a_connection_each_time(
    server: LoopbackServer,
) -> None:
    server.app.reset()
    for _ in range(10):
        async with httpx.AsyncClient(base_url=server.url) as client:
            await client.get("/")
    assert len(server.app.connections()) == 10  # what the pool saves


async def test_timeout_applies(server: LoopbackServer) -> None:
    async with ConnectionPool(server.url, timeout_s=0.2) as pool:
        with pytest.raises(httpx.ReadTimeout):
            await pool.get("/slow")


def test_sync_pool_shared_by_threads(server: LoopbackServer) -> None:
    server.app.reset()
    errors: list[BaseException] = []
    with SyncConnectionPool(server.url, max_connections=4) as pool:

        def work() -> None:
            try:
                for _ in range(10):
                    assert pool.get("/").text == "ok"
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        assert pool.requests_sent == 40
        assert 1 <= len(server.app.connections()) <= 4
    assert pool.closed
    assert not (server.app.connections() & established_local_ports())
