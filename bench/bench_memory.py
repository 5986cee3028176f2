"""Server memory under the largest uploads: many 20 MB photos, 8 at a time.

The server's RSS is sampled from outside (psutil, every 10 ms) from just before the first
group until a few seconds after the last. The promise: the peak stays under the memory
ceiling (``AMULET_MEMORY_LIMIT_MB``) and the RSS comes back to within 10% of the start.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.load import post_photos
from bench.servers import RssSampler, Server

SETTLE_S = 3.0
RETURN_TOLERANCE = 0.10


async def _groups(server: Server, photo: bytes, uploads: int, group: int) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for start in range(0, uploads, group):
        size = min(group, uploads - start)
        result = await post_photos(
            server.url, [photo], concurrency=size, requests=size, timeout_s=120.0
        )
        statuses["200"] = statuses.get("200", 0) + result.ok
        for code, count in result.statuses.items():
            statuses[str(code)] = statuses.get(str(code), 0) + count
        if result.transport_errors:
            statuses["transport_error"] = (
                statuses.get("transport_error", 0) + result.transport_errors
            )
    return statuses


def large_uploads(
    server: Server, photo: bytes, *, uploads: int, group: int, ceiling_mb: float
) -> dict[str, Any]:
    """``uploads`` posts of ``photo`` in groups of ``group`` at once; the server's RSS."""
    started = time.perf_counter()
    with RssSampler(server.pid) as rss:
        statuses = asyncio.run(_groups(server, photo, uploads, group))
        seconds = time.perf_counter() - started
        time.sleep(SETTLE_S)
    returned = (rss.latest_mb - rss.start_mb) / rss.start_mb
    return {
        "uploads": uploads,
        "group": group,
        "upload_mb": round(len(photo) / 1e6, 2),
        "statuses": statuses,
        "seconds": round(seconds, 1),
        "rss_start_mb": round(rss.start_mb, 1),
        "rss_peak_mb": round(rss.peak_mb, 1),
        "rss_end_mb": round(rss.latest_mb, 1),
        "settle_s": SETTLE_S,
        "ceiling_mb": ceiling_mb,
        "peak_vs_ceiling": round(rss.peak_mb / ceiling_mb, 3),
        "end_vs_start": round(returned, 3),
        "under_ceiling": rss.peak_mb < ceiling_mb,
        "returned": returned <= RETURN_TOLERANCE,
    }
