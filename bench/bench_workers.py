"""Throughput of the API with 2 worker processes against 1, on this machine, in one run.

Each setting starts ``amulet-ai api --workers N`` (:func:`bench.servers.amulet_service`:
result cache off, rate limit off, so every request decodes and runs the model), waits
until every worker has loaded its model, warms it up, then posts 224 px photos
(:func:`bench.photos.small_photos`) from ``concurrency`` clients for ``duration_s`` seconds
(:func:`bench.load.post_photos`). The ratio is throughput(2) / throughput(1).
"""

from __future__ import annotations

import asyncio
import os
import platform
from typing import Any

from bench.load import post_photos
from bench.photos import small_photos
from bench.servers import amulet_service


def measure(
    workers: int, photos: list[bytes], concurrency: int, duration_s: float
) -> dict[str, Any]:
    """Throughput of one ``--workers`` setting."""
    with amulet_service(f"workers_{workers}", workers=workers) as server:
        asyncio.run(post_photos(server.url, photos, concurrency=concurrency, duration_s=1.0))
        result = asyncio.run(
            post_photos(
                server.url,
                photos,
                concurrency=concurrency,
                duration_s=duration_s,
                server_pid=server.pid,
            )
        )
    figures = result.as_dict()
    return {
        "workers": workers,
        "requests": result.ok,
        "errors": figures["failed"],
        "seconds": figures["seconds"],
        "rps": figures["throughput"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
    }


def bench_workers(
    *, concurrency: int = 8, duration_s: float = 10.0, quick: bool = False
) -> dict[str, Any]:
    """Throughput with 1 and 2 API worker processes and their ratio, as a dict."""
    if quick:
        duration_s = min(duration_s, 3.0)
    photos = small_photos(64)
    # The machine may be shared: the load before the run says how much the figures mean.
    load_before = round(os.getloadavg()[0], 2)
    one = measure(1, photos, concurrency, duration_s)
    two = measure(2, photos, concurrency, duration_s)
    return {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "concurrency": concurrency,
        "duration_s": duration_s,
        "load_avg_1m_before": load_before,
        "workers_1": one,
        "workers_2": two,
        "ratio_2_vs_1": round(two["rps"] / one["rps"], 2) if one["rps"] else None,
    }
