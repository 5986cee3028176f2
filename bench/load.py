"""Load generation on loopback: ``concurrency`` clients posting photos for a bounded time.

Each client loops: take the next photo, POST it as the ``front`` part of a multipart form,
wait for the answer, repeat, until the time (or the request budget) runs out. Only 200s count
towards throughput and latency; other statuses are counted by code. The figures include the
load generator's own CPU time per request (it shares the machine with the server) and, when
the server's pid is known, the server's.

The clients speak HTTP/1.1 over keep-alive connections themselves, the way load tools such
as wrk do: a request's bytes are built once per photo and written as they are, and a
response is read by its ``Content-Length`` (or chunks). A general client (httpx) spends
about 2 ms of CPU per request here, a tenth of what a model run costs, and on a two-core
machine that time comes out of the server's share; this one spends a fraction of that, so
the ratios measure the server, not the load generator.

Example::

    >>> load = post_photos(url, photos, concurrency=8, duration_s=5)      # doctest: +SKIP
    >>> result = asyncio.run(load)                                        # doctest: +SKIP
    >>> result.throughput, result.p50_ms, result.p99_ms                   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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


class HttpError(Exception):
    """The connection broke or the server's answer was not HTTP/1.1 as expected."""


class MultipartRequests:
    """The bytes of ``POST path`` requests carrying one photo as the ``front`` part."""

    def __init__(self, url: str, path: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"an http:// URL is needed, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self._path = (parts.path.rstrip("/") + path).encode("ascii")
        self._boundary = b"amulet-bench-" + os.urandom(12).hex().encode("ascii")

    def build(self, photo: bytes, i: int) -> bytes:
        part_head = (
            b'--%s\r\nContent-Disposition: form-data; name="front"; filename="photo%d.jpg"'
            b"\r\nContent-Type: image/jpeg\r\n\r\n" % (self._boundary, i)
        )
        tail = b"\r\n--%s--\r\n" % self._boundary
        length = len(part_head) + len(photo) + len(tail)
        head = (
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: amulet-bench\r\n"
            b"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n"
            % (self._path, self.host.encode("ascii"), self.port, self._boundary, length)
        )
        return b"".join((head, part_head, photo, tail))


class Connection:
    """One keep-alive HTTP/1.1 connection: write a request, read its answer, repeat."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> int:
        """Send ``request``; return the answer's status once its whole body has arrived."""
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            assert self._reader is not None
            self._writer.write(request)
            await self._writer.drain()
            head = await self._reader.readuntil(b"\r\n\r\n")
            status, length, chunked, close = _parse_head(head)
            if chunked:
                await self._skip_chunks()
            elif length is not None:
                await self._reader.readexactly(length)
            else:
                raise HttpError("an answer without Content-Length or chunks")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise HttpError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status

    async def _skip_chunks(self) -> None:
        assert self._reader is not None
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            await self._reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                return

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """Status, Content-Length, chunked?, close? from a response head."""
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise HttpError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    status = int(status_line[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    return status, length, chunked, close


async def post_photos(
    url: str,
    photos: Payloads,
    *,
    concurrency: int,
    duration_s: float | None = None,
    requests: int | None = None,
    path: str = PREDICT_PATH,
    server_pid: int | None = None,
    timeout_s: float = 60.0,
) -> LoadResult:
    """Post photos from ``concurrency`` clients until ``duration_s`` or ``requests`` run out.

    ``photos`` is a list (taken round robin; each request's bytes are built once) or a
    function of the request number (for example, to make every request a different file).
    Each simulated user keeps one connection open for all its requests.
    """
    if duration_s is None and requests is None:
        raise ValueError("give duration_s or requests")
    builder = MultipartRequests(url, path)
    if callable(photos):
        make = photos

        def request_for(i: int) -> bytes:
            return builder.build(make(i), i)
    else:
        prebuilt = [builder.build(photo, i) for i, photo in enumerate(photos)]

        def request_for(i: int) -> bytes:
            return prebuilt[i % len(prebuilt)]

    result = LoadResult(concurrency)
    counter = iter(range(requests if requests is not None else 1 << 62))
    server = psutil.Process(server_pid) if server_pid else None

    async def one_user(deadline: float) -> None:
        connection = Connection(builder.host, builder.port)
        try:
            for i in counter:
                if time.perf_counter() >= deadline:
                    return
                request = request_for(i)
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(timeout_s):
                        status = await connection.exchange(request)
                except (HttpError, TimeoutError):
                    connection.close()
                    result.transport_errors += 1
                    continue
                elapsed = time.perf_counter() - started
                if status == 200:
                    result.latencies.append(elapsed)
                else:
                    result.statuses[status] += 1
        finally:
            connection.close()

    cpu_start = time.process_time()
    server_start = _tree_cpu_seconds(server.pid) if server else 0.0
    started = time.perf_counter()
    deadline = started + duration_s if duration_s is not None else float("inf")
    await asyncio.gather(*(one_user(deadline) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - cpu_start
    if server:
        result.server_cpu_s = _tree_cpu_seconds(server.pid) - server_start
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
