"""Runtime benchmarks: each feature against the same code with the feature off, in one run.

    cache      a repeated image: result-cache hit vs the real work (decode + to_tensor, or the
               `work` callable a caller passes, e.g. model inference)
    pool       pooled httpx client vs a new client per request (and vs a new connection per
               request on one client), against a real uvicorn server in another process
    streaming  peak RSS growth of StreamingFileHandler vs reading the file whole; every mode
               in a fresh subprocess
    gc         peak RSS growth of a workload that leaves cyclic garbage: gc defaults, gc off,
               and each with the GarbageCollectionManager; every mode in a fresh subprocess

``production_runner.py bench --only runtime`` runs them; each ``bench_*`` returns its
figures as a dict. Nothing is written to disk except temporary files, removed afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from amulet_ai.imaging.decode import decode_image, to_tensor
from amulet_ai.runtime import (
    ByteBudgetCache,
    ConnectionPool,
    GarbageCollectionManager,
    StreamingFileHandler,
    content_key,
)
from bench.photos import scene_jpeg
from bench.servers import bench_env

REPO_ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
TARGETS = {"cache": 10.0, "pool": 1.5, "streaming": 0.95}


# --- measuring helpers -----------------------------------------------------------------


class PeakRss:
    """Samples this process's RSS on a thread; ``growth_mb`` is the peak over the start.

    The lifetime peak (``ru_maxrss``) is read too, so a burst between samples still counts.
    """

    def __init__(self, interval_s: float = 0.002) -> None:
        self._process = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.start = self.peak = 0

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self.start = self.peak = self._rss()
        self._max_before = _ru_maxrss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        max_after = _ru_maxrss()
        if max_after > self._max_before:
            self.peak = max(self.peak, max_after)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / MB


def _ru_maxrss() -> int:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kb) if sys.platform == "darwin" else int(kb) * 1024


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _run_child(*args: str) -> dict[str, Any]:
    """Run :func:`child` with ``args`` in a fresh interpreter; return its JSON line."""
    code = "import sys; from bench.bench_runtime import child; child(sys.argv[1:])"
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=bench_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- cache -----------------------------------------------------------------------------


def decode_work(data: bytes) -> np.ndarray:
    """The real per-image work without the model: decode to model size, then scale."""
    return to_tensor(decode_image(data).image)


def _result_size(value: object) -> int:
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) if isinstance(nbytes, int) else sys.getsizeof(value)


def bench_cache(
    work: Callable[[bytes], object] | None = None,
    *,
    quick: bool = False,
    image: bytes | None = None,
    work_name: str | None = None,
) -> dict[str, Any]:
    """Hit vs miss on a repeated image through a ``ByteBudgetCache`` keyed by SHA-256.

    ``work`` defaults to decode + to_tensor; pass inference to measure the API's case.
    The hit path includes hashing the upload, as the API's does.
    """
    work = work or decode_work
    data = image or (scene_jpeg(800, 600) if quick else scene_jpeg(2000, 1500))
    repeats = 10 if quick else 30
    cache: ByteBudgetCache[str, object] = ByteBudgetCache(64 * MB, 3600, getsizeof=_result_size)

    def cached(payload: bytes) -> object:
        key = content_key(payload)
        found = cache.get(key)
        if found is None:
            found = work(payload)
            cache.set(key, found)
        return found

    work(data)  # warm imports and allocator
    miss_ms = _median_ms(lambda: work(data), repeats)
    cached(data)  # the one miss that fills the cache
    hit_ms = _median_ms(lambda: cached(data), repeats * 10)
    speedup = miss_ms / hit_ms
    return {
        "image_bytes": len(data),
        "work": work_name or getattr(work, "__name__", "work"),
        "miss_ms": round(miss_ms, 3),
        "hit_ms": round(hit_ms, 4),
        "speedup": round(speedup, 1),
        "target": TARGETS["cache"],
        "meets_target": speedup >= TARGETS["cache"],
        "stats": {"hits": cache.stats().hits, "misses": cache.stats().misses},
    }


# --- pool ------------------------------------------------------------------------------

_SERVER_CODE = """
import socket, sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b'{"status":"ok"}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
"""


async def _pool_rounds(url: str, requests: int, rounds: int) -> dict[str, list[float]]:
    async def pooled(pool: ConnectionPool) -> None:
        for _ in range(requests):
            (await pool.get("/")).raise_for_status()

    # Building a client costs tens of ms (it loads the CA bundle), so fewer requests suffice
    # for a stable per-request figure.
    client_requests = max(10, requests // 10)

    async def new_client() -> None:
        for _ in range(client_requests):
            async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
                (await client.get("/")).raise_for_status()

    async def new_connection(client: httpx.AsyncClient) -> None:
        for _ in range(requests):
            (await client.get("/")).raise_for_status()

    per_request: dict[str, list[float]] = {"pooled": [], "new_client": [], "new_connection": []}
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    async with (
        ConnectionPool(url) as pool,
        httpx.AsyncClient(base_url=url, limits=no_keepalive, timeout=10.0) as one_client,
    ):
        await pooled(pool)  # warm both ends
        # Alternate the modes round by round so drift on a shared machine hits them alike.
        for _ in range(rounds):
            modes: list[tuple[str, Awaitable[None], int]] = [
                ("pooled", pooled(pool), requests),
                ("new_client", new_client(), client_requests),
                ("new_connection", new_connection(one_client), requests),
            ]
            for mode, run, count in modes:
                start = time.perf_counter()
                await run
                per_request[mode].append((time.perf_counter() - start) / count * 1000)
    return per_request


def bench_pool(*, quick: bool = False) -> dict[str, Any]:
    """Sequential GETs on loopback: pooled vs a new client (or connection) per request."""
    requests, rounds = (100, 3) if quick else (300, 5)
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER_CODE], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        _wait_for_port(port)
        per_request = asyncio.run(_pool_rounds(url, requests, rounds))
    finally:
        server.terminate()
        server.wait(10)
    ms = {mode: statistics.median(values) for mode, values in per_request.items()}
    speedup = ms["new_client"] / ms["pooled"]
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "pooled_ms": round(ms["pooled"], 3),
        "new_client_ms": round(ms["new_client"], 3),
        "new_connection_ms": round(ms["new_connection"], 3),
        "speedup": round(speedup, 2),
        "speedup_vs_new_connection": round(ms["new_connection"] / ms["pooled"], 2),
        "target": TARGETS["pool"],
        "meets_target": speedup >= TARGETS["pool"],
    }


def _wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --- streaming -------------------------------------------------------------------------


def _streaming_child(mode: str, path: str) -> dict[str, Any]:
    handler = StreamingFileHandler()
    gc.collect()
    start = time.perf_counter()
    with PeakRss() as rss:
        if mode == "read_all":
            data = Path(path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            del data
        elif mode == "stream_file":
            with handler.read_file(path) as streamed:
                digest = streamed.sha256
        elif mode == "stream_upload":
            with open(path, "rb") as f, handler.read_stream(iter(lambda: f.read(MB), b"")) as s:
                digest = s.sha256
        else:
            raise SystemExit(f"unknown mode {mode}")
    return {
        "peak_growth_mb": round(rss.growth_mb, 1),
        "seconds": round(time.perf_counter() - start, 3),
        "sha256": digest,
    }


def bench_streaming(*, size_mb: int = 100) -> dict[str, Any]:
    """Peak RSS growth hashing a large file: streamed (file and upload paths) vs read whole.

    Quick mode keeps the 100 MB the claim is about: each child takes well under a second.
    """
    with tempfile.TemporaryDirectory(prefix="amulet-bench-") as tmp:
        path = Path(tmp) / "large.bin"
        block = os.urandom(MB)
        with path.open("wb") as out:
            for i in range(size_mb):
                out.write(i.to_bytes(4, "little") + block[4:])
        modes = {m: _run_child("streaming", m, str(path)) for m in _STREAM_MODES}
    if len({m["sha256"] for m in modes.values()}) != 1:
        raise RuntimeError("streaming and read-all disagree on the SHA-256")
    read_all = modes["read_all"]["peak_growth_mb"]
    result: dict[str, Any] = {"size_mb": size_mb}
    for mode, measured in modes.items():
        result[f"{mode}_peak_mb"] = measured["peak_growth_mb"]
        result[f"{mode}_s"] = measured["seconds"]
    reduction = 1 - max(modes["stream_file"]["peak_growth_mb"], 0.0) / read_all
    upload_reduction = 1 - max(modes["stream_upload"]["peak_growth_mb"], 0.0) / read_all
    result |= {
        "reduction": round(reduction, 4),
        "upload_reduction": round(upload_reduction, 4),
        "target": TARGETS["streaming"],
        "meets_target": min(reduction, upload_reduction) >= TARGETS["streaming"],
    }
    return result


_STREAM_MODES = ("read_all", "stream_file", "stream_upload")


# --- gc --------------------------------------------------------------------------------


def _handle_request(i: int) -> str:
    """A request-shaped unit of work that leaves an unreachable cycle holding 16 KB."""
    context: dict[str, Any] = {"buffer": bytearray(16 * 1024), "id": i}
    context["self"] = context  # e.g. a callback or traceback pointing back at its owner
    context["buffer"][:8] = i.to_bytes(8, "little")
    return hashlib.sha256(context["buffer"]).hexdigest()


def _cyclic_workload(requests: int) -> None:
    for i in range(requests):
        _handle_request(i)


def _gc_child(mode: str, requests: int, headroom_mb: float) -> dict[str, Any]:
    automatic, managed = mode.split("+") if "+" in mode else (mode, "")
    gc.collect()
    if automatic == "disabled":
        gc.disable()

    async def run() -> dict[str, Any]:
        baseline_mb = psutil.Process().memory_info().rss / MB
        manager = GarbageCollectionManager(
            high_water_mb=baseline_mb + headroom_mb, interval_s=0.02, cooldown_s=0.0
        )
        start = time.perf_counter()
        with PeakRss() as rss:
            if managed:
                await manager.start()
            await asyncio.to_thread(_cyclic_workload, requests)
            await manager.stop()
        return {
            "peak_growth_mb": round(rss.growth_mb, 1),
            "seconds": round(time.perf_counter() - start, 3),
            "manager_collections": manager.stats().collections,
        }

    return asyncio.run(run())


_GC_MODES = ("default", "disabled", "default+manager", "disabled+manager")


def bench_gc(*, quick: bool = False) -> dict[str, Any]:
    """Peak RSS growth of a cyclic-garbage workload under four collection regimes."""
    requests = 20_000 if quick else 50_000
    headroom_mb = 64.0
    modes = {m: _run_child("gc", m, str(requests), str(headroom_mb)) for m in _GC_MODES}
    default = modes["default"]["peak_growth_mb"]
    disabled = modes["disabled"]["peak_growth_mb"]
    return {
        "requests": requests,
        "garbage_mb": round(requests * 16 / 1024, 1),
        "manager_high_water": f"start RSS + {headroom_mb:g} MB, sampled every 0.02 s",
        "modes": modes,
        "manager_vs_default": round(modes["default+manager"]["peak_growth_mb"] / default, 2)
        if default > 0
        else None,
        "manager_vs_disabled": round(modes["disabled+manager"]["peak_growth_mb"] / disabled, 3)
        if disabled > 0
        else None,
    }


# --- all -------------------------------------------------------------------------------


def child(argv: list[str]) -> None:
    """What :func:`_run_child` runs in a fresh interpreter: one measurement, one JSON line."""
    kind, *rest = argv
    if kind == "streaming":
        result = _streaming_child(rest[0], rest[1])
    else:
        result = _gc_child(rest[0], int(rest[1]), float(rest[2]))
    print(json.dumps(result))
