"""Throughput of the API with 2 worker processes against 1, on this machine, in one run.

Each setting starts ``amulet-ai api --workers N`` on a free loopback port (result cache
off, rate limit off, so every request decodes and runs the model), waits until it is
ready, warms it up, then posts 224 px JPEG photos from ``concurrency`` clients for
``duration_s`` seconds and counts the answers. The ratio is throughput(2) / throughput(1).

Run ``python bench/bench_workers.py [--quick] [--json]``; import ``bench_workers`` to get
the same numbers as a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from amulet_ai.ops.api_process import ApiProcess, free_port  # noqa: E402

# Every request decodes and runs the model: no result cache, no rate limit, no keys.
BENCH_ENV = {
    "AMULET_CACHE_ENABLED": "false",
    "AMULET_RATE_LIMIT": "",
    "AMULET_LOG_LEVEL": "WARNING",
    "AMULET_API_KEYS": "",
    "AMULET_REDIS_URL": "",
}


def photo_jpeg(seed: int, size: int = 224) -> bytes:
    """A smooth photo-like JPEG, different for each seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    channels = [
        127 + 100 * np.sin(xx / size * rng.uniform(1, 6) * 6.28) * np.cos(yy / size * 6.28)
        for _ in range(3)
    ]
    buf = io.BytesIO()
    image = np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(buf, "JPEG", quality=90)
    return buf.getvalue()


async def _load(
    url: str, photos: list[bytes], concurrency: int, duration_s: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:

        async def one_client(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < stop_at:
                photo = photos[i % len(photos)]
                i += concurrency
                started = time.perf_counter()
                response = await client.post(
                    "/v1/predict", files={"front": ("photo.jpg", photo, "image/jpeg")}
                )
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)
        if latencies
        else None,
    }


def measure(workers: int, photos: list[bytes], concurrency: int, duration_s: float) -> dict:
    """Throughput of one ``--workers`` setting."""
    with tempfile.TemporaryFile() as log:
        api = ApiProcess(free_port(), env=BENCH_ENV, output=log, workers=workers).start()
        try:
            # Ten answers in a row: every worker on the port has loaded its model.
            url = api.wait_ready(streak=10)
            asyncio.run(_load(url, photos, concurrency, min(2.0, duration_s)))  # warm-up
            result = asyncio.run(_load(url, photos, concurrency, duration_s))
        except RuntimeError as exc:  # ServiceStartError included
            log.seek(0)
            tail = log.read()[-3000:].decode(errors="replace")
            raise RuntimeError(f"{exc}; its log ends:\n{tail}") from exc
        finally:
            api.stop()
    return {"workers": workers, **result}


def bench_workers(
    *, concurrency: int = 8, duration_s: float = 10.0, quick: bool = False
) -> dict[str, Any]:
    """Throughput with 1 and 2 API worker processes and their ratio, as a dict."""
    if quick:
        duration_s = min(duration_s, 3.0)
    photos = [photo_jpeg(seed) for seed in range(64)]
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


def format_table(result: dict[str, Any]) -> str:
    rows = [
        "| workers | req/s | p50 ms | p99 ms | errors |",
        "|---:|---:|---:|---:|---:|",
    ]
    for key in ("workers_1", "workers_2"):
        r = result[key]
        rows.append(
            f"| {r['workers']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} |"
        )
    rows.append(
        f"\n2 workers / 1 worker: {result['ratio_2_vs_1']}x "
        f"({result['cpu_count']} CPU cores, concurrency {result['concurrency']}, "
        f"{result['duration_s']} s each, load average {result['load_avg_1m_before']} before)"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per setting")
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per setting")
    args = parser.parse_args(argv)
    result = bench_workers(concurrency=args.concurrency, duration_s=args.duration, quick=args.quick)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return result


if __name__ == "__main__":
    main()
