"""Closed-loop load on a live API from one asyncio process: N clients, each sending its next
request as soon as the last one is answered, until a deadline.

Bodies are encoded once up front (a prepared multipart body per photo), so the client's own
CPU goes to HTTP, not to building forms. Every answer is kept as an :class:`Outcome`;
transport failures (reset, refused, timeout) are outcomes too, with status 0.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from hostile_corpus import MULTIPART, form, part


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: when it started (s since the run began), status, latency, and details."""

    started_s: float
    status: int
    latency_s: float
    code: str | None = None
    retry_after: str | None = None
    cached: bool = False
    model_version: str | None = None
    server_ms: float | None = None
    error: str | None = None


def predict_body(photo: bytes) -> bytes:
    """A ready multipart body with ``photo`` as ``front``."""
    return form(part("front", photo))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _parse(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    if isinstance(body.get("error"), dict):
        return {"code": body["error"].get("code")}
    model = body.get("model")
    timing = body.get("timing_ms")
    model = model if isinstance(model, dict) else {}
    timing = timing if isinstance(timing, dict) else {}
    return {
        "cached": bool(body.get("cached")),
        "model_version": model.get("version"),
        "server_ms": timing.get("total"),
    }


async def run_load(
    url: str,
    *,
    clients: int,
    duration_s: float | None = None,
    total_requests: int | None = None,
    next_body: Callable[[int], bytes],
    path: str = "/v1/predict",
    headers: dict[str, str] | None = None,
    timeout_s: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Run ``clients`` closed loops until ``duration_s`` passes or ``total_requests`` are sent.

    ``next_body(i)`` gives the body of the i-th request (in sending order, over all clients).
    ``on_progress(n)`` is called after every answer with the number answered so far.
    """
    if duration_s is None and total_requests is None:
        raise ValueError("give duration_s or total_requests")
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    outcomes: list[Outcome] = []
    counter = iter(range(total_requests if total_requests is not None else 10**12))
    started = deadline = 0.0
    request_headers = {"Content-Type": MULTIPART, **(headers or {})}

    async def one_client(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            index = next(counter, None)
            if index is None:
                return
            body = next_body(index)
            sent = time.perf_counter()
            try:
                response = await client.post(path, content=body, headers=request_headers)
            except httpx.HTTPError as exc:
                outcomes.append(
                    Outcome(sent - started, 0, time.perf_counter() - sent, error=type(exc).__name__)
                )
            else:
                latency = time.perf_counter() - sent
                outcomes.append(
                    Outcome(
                        sent - started,
                        response.status_code,
                        latency,
                        retry_after=response.headers.get("retry-after"),
                        **_parse(response),
                    )
                )
            if on_progress is not None:
                on_progress(len(outcomes))

    # One pooled client of one connection per loop: a single pool of 256 connections costs
    # the client far more CPU per request (it scans its connections on every request).
    # They share one TLS context: building one per client (the default) takes seconds.
    tls = ssl.create_default_context()
    async with AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout_s, verify=tls)
            )
            for _ in range(clients)
        ]
        # The clock starts once every client exists.
        started = time.perf_counter()
        deadline = started + duration_s if duration_s is not None else float("inf")
        await asyncio.gather(*(one_client(client) for client in pool))
    return outcomes


def probe_latencies(
    url: str, path: str, duration_s: float, every_s: float, timeout_s: float
) -> list[float]:
    """Time ``GET path`` every ``every_s`` for ``duration_s``, as an orchestrator's probe would.

    Meant to run in a process of its own (so the load generator's GIL does not slow it);
    a probe that fails or times out counts as infinity.
    """
    seconds: list[float] = []
    deadline = time.monotonic() + duration_s
    with httpx.Client(base_url=url, timeout=timeout_s) as client:
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                ok = client.get(path).status_code == 200
            except httpx.HTTPError:
                ok = False
            seconds.append(time.perf_counter() - began if ok else float("inf"))
            time.sleep(every_s)
    return seconds


if __name__ == "__main__":
    # ``python load.py URL PATH DURATION EVERY TIMEOUT``: the probe in a process of its own,
    # started with subprocess so it does not re-import the test runner's ``__main__``.
    import sys

    _url, _path, *_numbers = sys.argv[1:]
    _duration, _every, _timeout = (float(n) for n in _numbers)
    json.dump(probe_latencies(_url, _path, _duration, _every, _timeout), sys.stdout)
