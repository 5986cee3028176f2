"""Load generation on loopback: ``concurrency`` clients posting photos for a bounded time.

The one load generator of the benchmarks. Each client loops: take the next photo, POST it
(as the ``front`` part of a multipart form, or as the raw body with ``Content-Type:
image/jpeg``), wait for the answer, repeat, until the time (or the request budget) runs out.
Only 200s count towards throughput and latency; other statuses are counted by code. The
figures include the load generator's own CPU time per request (it shares the machine with
the server) and, when the server's pid is known, the server's.

Two engines send the same requests:

* ``wrk`` (Debian's ``wrk``, a C load generator, with ``bench/post_photos.lua``), used for
  timed loads where it is installed: it spends a few tens of microseconds of CPU per
  request, so on a two-core machine nearly all the CPU is left to the server;
* the Python client here, the fallback and the engine of fixed-count loads: it speaks
  HTTP/1.1 over keep-alive connections itself, the way wrk does (a request's bytes are
  built once per photo, a response is read by its ``Content-Length`` or chunks), and spends
  a fraction of a general client's (httpx: about 2 ms) CPU per request.

Example::

    >>> load = post_photos(url, photos, concurrency=8, duration_s=5)      # doctest: +SKIP
    >>> result = asyncio.run(load)                                        # doctest: +SKIP
    >>> result.throughput, result.p50_ms, result.p99_ms                   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import psutil

from bench.photos import with_comment

PREDICT_PATH = "/v1/predict"
WRK_SCRIPT = Path(__file__).resolve().with_name("post_photos.lua")

Form = Literal["multipart", "raw"]
FORMS: tuple[Form, ...] = ("multipart", "raw")
Engine = Literal["auto", "wrk", "python"]


@dataclass
class LoadResult:
    """What one load run measured; ``as_dict`` is what goes into the JSON."""

    concurrency: int
    engine: str = "python"  # what generated the load: "wrk" or "python"
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # answers other than 200
    transport_errors: int = 0
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    # The server's own timing histograms over the run: name -> [sum of seconds, count].
    server_timing: dict[str, list[float]] = field(default_factory=dict)
    # The server's CPU seconds by thread role over the run ("loop", "workers"), when read.
    thread_cpu_s: dict[str, float] = field(default_factory=dict)

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
        threads = dict(self.thread_cpu_s)
        for role, seconds in other.thread_cpu_s.items():
            threads[role] = threads.get(role, 0.0) + seconds
        return LoadResult(
            concurrency=self.concurrency,
            engine=self.engine,
            server_timing=timing,
            thread_cpu_s=threads,
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
            "engine": self.engine,
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


# A timed load stops with requests still in flight, and the server works on: the naive app
# cannot drop a request whose client has left (ours drops the queued ones). The next load
# of an alternation would share the CPU with that tail, so a load whose server is known
# ends once that server has gone quiet.
SETTLE_STEP_S = 0.1
SETTLE_QUIET_SHARE = 0.1  # of one core, over a step
SETTLE_MAX_S = 3.0


async def settle(
    pid: int,
    *,
    step_s: float = SETTLE_STEP_S,
    quiet_share: float = SETTLE_QUIET_SHARE,
    max_s: float = SETTLE_MAX_S,
) -> float:
    """Wait until ``pid`` and its children use under ``quiet_share`` of one core over
    ``step_s``, at most ``max_s``; the seconds waited."""
    started = time.monotonic()
    last = _tree_cpu_seconds(pid)
    while (waited := time.monotonic() - started) < max_s:
        await asyncio.sleep(step_s)
        now = _tree_cpu_seconds(pid)
        if now - last < quiet_share * step_s:
            return time.monotonic() - started
        last = now
    return waited


class HttpError(Exception):
    """The connection broke or the server's answer was not HTTP/1.1 as expected."""


class PhotoRequests:
    """The bytes of ``POST path`` requests carrying one photo.

    ``form`` is ``"multipart"`` (the photo as the ``front`` part of a form) or ``"raw"``
    (the photo as the whole body, ``Content-Type: image/jpeg``).
    """

    def __init__(self, url: str, path: str, form: Form = "multipart") -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"an http:// URL is needed, not {url!r}")
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, not {form!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.form = form
        self._path = (parts.path.rstrip("/") + path).encode("ascii")
        self._boundary = b"amulet-bench-" + os.urandom(12).hex().encode("ascii")

    def build(self, photo: bytes, i: int) -> bytes:
        if self.form == "raw":
            content_type, body = b"image/jpeg", [photo]
        else:
            part_head = (
                b'--%s\r\nContent-Disposition: form-data; name="front"; filename="photo%d.jpg"'
                b"\r\nContent-Type: image/jpeg\r\n\r\n" % (self._boundary, i)
            )
            content_type = b"multipart/form-data; boundary=" + self._boundary
            body = [part_head, photo, b"\r\n--%s--\r\n" % self._boundary]
        head = (
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: amulet-bench\r\n"
            b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (
                self._path,
                self.host.encode("ascii"),
                self.port,
                content_type,
                sum(map(len, body)),
            )
        )
        return b"".join((head, *body))


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


_RUNS = itertools.count(1)


def _run_tag() -> str:
    """A tag no other load of this process (nor, most likely, of another) has used."""
    return f"{os.getpid()}.{next(_RUNS)}"


def wrk_path() -> str | None:
    """Where ``wrk`` is installed, or None (then the Python client runs the load)."""
    return shutil.which("wrk")


async def post_photos(
    url: str,
    photos: Sequence[bytes],
    *,
    concurrency: int,
    duration_s: float | None = None,
    requests: int | None = None,
    form: Form = "multipart",
    unique: bool = False,
    path: str = PREDICT_PATH,
    server_pid: int | None = None,
    timeout_s: float = 60.0,
    engine: Engine = "auto",
) -> LoadResult:
    """Post photos from ``concurrency`` clients until ``duration_s`` or ``requests`` run out.

    ``photos`` are taken round robin; ``unique`` makes every request's bytes new (a JPEG
    comment with a tag of this run and a counter, see :func:`bench.photos.with_comment`): a
    result-cache miss with the same pixels, in this run and any other. ``engine="auto"``
    runs timed loads on ``wrk`` where it is installed and the rest (a fixed ``requests``
    count, or no ``wrk``) on the Python client.
    """
    if duration_s is None and requests is None:
        raise ValueError("give duration_s or requests")
    if not photos:
        raise ValueError("no photos to send")
    wrk = wrk_path() if engine in ("auto", "wrk") else None
    if engine == "wrk" and (wrk is None or duration_s is None):
        raise ValueError("the wrk engine needs wrk installed and a duration_s")
    server = psutil.Process(server_pid) if server_pid else None
    server_start = _tree_cpu_seconds(server.pid) if server else 0.0
    if wrk is not None and duration_s is not None:
        result = await _wrk_load(
            wrk, url, photos, concurrency, duration_s, form, unique, path, timeout_s
        )
    else:
        result = await _python_load(
            url, photos, concurrency, duration_s, requests, form, unique, path, timeout_s
        )
    if server:
        result.server_cpu_s = _tree_cpu_seconds(server.pid) - server_start
        await settle(server.pid)
    return result


async def _python_load(
    url: str,
    photos: Sequence[bytes],
    concurrency: int,
    duration_s: float | None,
    requests: int | None,
    form: Form,
    unique: bool,
    path: str,
    timeout_s: float,
) -> LoadResult:
    """The load on this process's own HTTP/1.1 client (see the module docstring)."""
    builder = PhotoRequests(url, path, form)
    tag = _run_tag()
    if unique:

        def request_for(i: int) -> bytes:
            return builder.build(with_comment(photos[i % len(photos)], f"{tag}-{i}"), i)
    else:
        prebuilt = [builder.build(photo, i) for i, photo in enumerate(photos)]

        def request_for(i: int) -> bytes:
            return prebuilt[i % len(prebuilt)]

    result = LoadResult(concurrency, engine="python")
    counter = iter(range(requests if requests is not None else 1 << 62))

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
    started = time.perf_counter()
    deadline = started + duration_s if duration_s is not None else float("inf")
    await asyncio.gather(*(one_user(deadline) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - cpu_start
    return result


async def _wrk_load(
    wrk: str,
    url: str,
    photos: Sequence[bytes],
    concurrency: int,
    duration_s: float,
    form: Form,
    unique: bool,
    path: str,
    timeout_s: float,
) -> LoadResult:
    """The load on ``wrk`` (one thread, ``concurrency`` connections) with bench/post_photos.lua.

    wrk's histogram holds every answer's latency; the 200s' share of it is taken as the
    200s' latencies (a run with other answers counts them by status, as usual).
    """
    with tempfile.TemporaryDirectory(prefix="amulet-wrk-") as folder:
        files = []
        for i, photo in enumerate(photos):
            file = Path(folder) / f"photo{i}.jpg"
            file.write_bytes(photo)
            files.append(str(file))
        command = [wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s"]
        command += ["--timeout", f"{max(1, round(timeout_s))}s", "-s", str(WRK_SCRIPT), url]
        command += ["--", path, form, _run_tag() if unique else "0", *files]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await process.communicate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode()[-2000:]}")
    summary = json.loads(lines[-1])
    result = LoadResult(concurrency, engine="wrk")
    result.seconds = summary["duration_us"] / 1e6
    result.client_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    statuses = {int(code): n for code, n in summary["statuses"].items()}
    result.transport_errors = sum(summary[k] for k in ("connect", "read", "write", "timeout"))
    ok = statuses.pop(200, 0)
    result.statuses.update(statuses)
    latencies = [us / 1e6 for us, n in summary["latency_us"] for _ in range(n)]
    if len(latencies) > ok:  # the fastest answers are the likeliest refusals
        latencies = latencies[len(latencies) - ok :]
    result.latencies = latencies
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
