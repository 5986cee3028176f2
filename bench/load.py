"""Load generation on loopback: ``concurrency`` clients posting photos for a bounded time.

Each client loops: take the next photo, POST it as the ``front`` part of a multipart form,
wait for the answer, repeat, until the time (or the request budget) runs out. Only 200s count
towards throughput and latency; other statuses are counted by code. The figures include the
load generator's own CPU time per request (it shares the machine with the server) and, when
the server's pid is known, the server's.

Example::

    >>> load = post_photos(url, photos, concurrency=8, duration_s=5)      # doctest: +SKIP
    >>> result = asyncio.run(load)                                        # doctest: +SKIP
    >>> result.throughput, result.p50_ms, result.p99_ms                   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

PREDICT_PATH = "/v1/predict"

Payloads = Sequence[bytes] | Callable[[int], bytes]


@dataclass
class LoadResult:
    """What one load run measured; ``as_dict`` is what goes into the JSON."""

    concurrency: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # answers other than 200
    transport_errors: int = 0
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    # The server's own timing histograms over the run: name -> [sum of seconds, count].
    server_timing: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the 200s' latency, nearest rank, in ms."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return 1000.0 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def p50_ms(self) -> float | None:
        return 1000.0 * statistics.median(self.latencies) if self.latencies else None

    @property
    def p99_ms(self) -> float | None:
        return self.percentile_ms(0.99)

    def merge(self, other: LoadResult) -> LoadResult:
        """Both runs as one (rounds of the same setting alternated with others)."""
        server = (
            None
            if self.server_cpu_s is None or other.server_cpu_s is None
            else self.server_cpu_s + other.server_cpu_s
        )
        timing = {name: list(pair) for name, pair in self.server_timing.items()}
        for name, (total, count) in other.server_timing.items():
            slot = timing.setdefault(name, [0.0, 0.0])
            slot[0] += total
            slot[1] += count
        return LoadResult(
            concurrency=self.concurrency,
            server_timing=timing,
            latencies=self.latencies + other.latencies,
            statuses=self.statuses + other.statuses,
            transport_errors=self.transport_errors + other.transport_errors,
            seconds=self.seconds + other.seconds,
            client_cpu_s=self.client_cpu_s + other.client_cpu_s,
            server_cpu_s=server,
        )

    def as_dict(self) -> dict[str, Any]:
        per_request = max(1, self.ok)
        result: dict[str, Any] = {
            "concurrency": self.concurrency,
            "ok": self.ok,
            "failed": sum(self.statuses.values()) + self.transport_errors,
            "failed_statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "seconds": round(self.seconds, 2),
            "throughput": round(self.throughput, 1),
            "p50_ms": _round(self.p50_ms),
            "p90_ms": _round(self.percentile_ms(0.90)),
            "p99_ms": _round(self.p99_ms),
            "client_cpu_ms_per_request": round(1000 * self.client_cpu_s / per_request, 2),
        }
        if self.server_cpu_s is not None:
            result["server_cpu_ms_per_request"] = round(1000 * self.server_cpu_s / per_request, 2)
        if self.server_timing:
            result["server_mean_ms"] = {
                name: round(1000 * total / count, 2)
                for name, (total, count) in self.server_timing.items()
                if count
            }
        return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _round_robin(photos: Sequence[bytes]) -> Callable[[int], bytes]:
    items = list(photos)
    return lambda i: items[i % len(items)]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its children (a multi-worker server)."""
    root = psutil.Process(pid)
    total = _cpu_seconds(root)
    for child in root.children(recursive=True):
        try:
            total += _cpu_seconds(child)
        except psutil.NoSuchProcess:
            continue
    return total


async def post_photos(
    url: str,
    photos: Payloads,
    *,
    concurrency: int,
    duration_s: float | None = None,
    requests: int | None = None,
    path: str = PREDICT_PATH,
    server_pid: int | None = None,
    client: httpx.AsyncClient | None = None,
    timeout_s: float = 60.0,
) -> LoadResult:
    """Post photos from ``concurrency`` clients until ``duration_s`` or ``requests`` run out.

    ``photos`` is a list (taken round robin) or a function of the request number (for
    example, to make every request a different file). One pooled client with ``concurrency``
    keep-alive connections serves every simulated user, unless ``client`` is given.
    """
    if duration_s is None and requests is None:
        raise ValueError("give duration_s or requests")
    pick = photos if callable(photos) else _round_robin(photos)
    result = LoadResult(concurrency)
    counter = iter(range(requests if requests is not None else 1 << 62))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    own = client is None
    http = client or httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits)
    server = psutil.Process(server_pid) if server_pid else None

    async def one_user(deadline: float) -> None:
        for i in counter:
            if time.perf_counter() >= deadline:
                return
            data = pick(i)
            started = time.perf_counter()
            try:
                response = await http.post(
                    path, files={"front": (f"photo{i}.jpg", data, "image/jpeg")}
                )
            except httpx.TransportError:
                result.transport_errors += 1
                continue
            elapsed = time.perf_counter() - started
            if response.status_code == 200:
                result.latencies.append(elapsed)
            else:
                result.statuses[response.status_code] += 1

    try:
        cpu_start = time.process_time()
        server_start = _tree_cpu_seconds(server.pid) if server else 0.0
        started = time.perf_counter()
        deadline = started + duration_s if duration_s is not None else float("inf")
        await asyncio.gather(*(one_user(deadline) for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
        result.client_cpu_s = time.process_time() - cpu_start
        if server:
            result.server_cpu_s = _tree_cpu_seconds(server.pid) - server_start
    finally:
        if own:
            await http.aclose()
    return result


async def alternate(
    runs: dict[str, Callable[[], Awaitable[LoadResult]]], rounds: int
) -> dict[str, LoadResult]:
    """Run each named load once per round, in turn, and merge each one's rounds.

    Alternating spreads drift on a shared machine (other people's jobs starting and
    stopping) over every setting alike, so their ratio stays fair.
    """
    merged: dict[str, LoadResult] = {}
    for _ in range(rounds):
        for name, run in runs.items():
            measured = await run()
            merged[name] = merged[name].merge(measured) if name in merged else measured
    return merged
