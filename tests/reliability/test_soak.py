"""Soak: 10,000 predictions of mixed sizes, 30% of them repeats, against one live server.

After a warm-up of 1,000 requests the server's RSS may grow by at most 5% to the end of
the run, and the result cache, given a small byte budget so that it fills and evicts during
the warm-up, must stay within that budget at every sample of ``/health``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from hostile_images import jpeg
from live_server import StartApi
from load import percentile, predict_body, run_load
from reliability_report import Check, record

REQUESTS = 10_000
WARMUP = 1_000
CLIENTS = 8
REPEAT_SHARE = 0.30
CACHE_MAX_MB = 2.0
RSS_GROWTH_BOUND = 0.05
# Photo sizes and how often each is sent: mostly model-sized, some camera-sized.
SIZES = ((224, 224, 0.6), (640, 480, 0.3), (1600, 1200, 0.1))
HEALTH_EVERY_S = 1.0


class _Bodies:
    """The i-th request's body: a fresh photo (unique bytes), or a repeat of a recent one."""

    def __init__(self, seed: int = 7) -> None:
        self._rng = random.Random(seed)
        self._bases = [
            (predict_body(jpeg(w, h, seed=s)), share) for w, h, share in SIZES for s in range(3)
        ]
        self._weights = [share for _, share in self._bases]
        self._recent: list[bytes] = []
        self.repeats = 0
        self.sizes: Counter[int] = Counter()

    def __call__(self, index: int) -> bytes:
        if self._recent and self._rng.random() < REPEAT_SHARE:
            self.repeats += 1
            return self._rng.choice(self._recent)
        base, _ = self._rng.choices(self._bases, self._weights)[0]
        # The form ends with CRLF--boundary--CRLF; bytes after the JPEG's end-of-image
        # marker make the photo unique without another encode.
        head, _, tail = base.rpartition(b"\r\n--")
        body = head + index.to_bytes(8, "big") + b"\r\n--" + tail
        self.sizes[len(base) // 1024] += 1
        self._recent.append(body)
        del self._recent[:-200]
        return body


class _HealthSampler(threading.Thread):
    """Polls ``/health`` while the load runs: RSS and the cache's bytes against its budget."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[dict[str, Any]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            while not self.stopped.wait(HEALTH_EVERY_S):
                try:
                    report = client.get("/health").json()
                except httpx.HTTPError:
                    continue
                self.samples.append({"at": time.monotonic(), **report["cache"], **report["memory"]})


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_soak_keeps_memory_flat_and_the_cache_in_budget(start_api: StartApi) -> None:
    api = start_api(
        {
            "AMULET_CACHE_MAX_MB": str(CACHE_MAX_MB),
            "AMULET_LOG_LEVEL": "WARNING",
        }
    )
    bodies = _Bodies()
    rss_at: dict[int, float] = {}
    checkpoints = set(range(WARMUP, REQUESTS + 1, 250))

    def on_progress(answered: int) -> None:
        if answered in checkpoints:
            rss_at[answered] = api.rss_mb()

    sampler = _HealthSampler(api.url)
    sampler.start()
    started = time.perf_counter()
    outcomes = asyncio.run(
        run_load(
            api.url,
            clients=CLIENTS,
            total_requests=REQUESTS,
            next_body=bodies,
            on_progress=on_progress,
        )
    )
    wall = time.perf_counter() - started
    sampler.stopped.set()
    sampler.join()
    final = httpx.get(api.url + "/health", timeout=5.0).json()

    statuses = Counter(o.status for o in outcomes)
    baseline = rss_at[WARMUP]
    late = [rss for n, rss in rss_at.items() if n >= REQUESTS * 0.9]
    growth = (max(late) - baseline) / baseline
    over_budget = [s for s in sampler.samples if s["bytes"] > s["max_bytes"]]
    hits = sum(1 for o in outcomes if o.cached)
    latencies = [o.latency_s for o in outcomes if o.status == 200]
    record(
        "soak",
        f"Soak ({REQUESTS:,} requests, {CLIENTS} clients, {REPEAT_SHARE:.0%} repeats)",
        [
            Check("requests answered 200", statuses[200], "==", REQUESTS),
            Check(
                "RSS growth after warm-up",
                round(100 * growth, 2),
                "<=",
                100 * RSS_GROWTH_BOUND,
                "%",
            ),
            Check("/health samples with the cache over its budget", len(over_budget), "==", 0),
            Check("cache evictions (the budget was reached)", final["cache"]["evictions"], ">=", 1),
        ],
        {
            "wall_s": round(wall, 1),
            "requests_per_s": round(len(outcomes) / wall, 1),
            "by_status": {str(k): v for k, v in sorted(statuses.items())},
            "repeats_sent": bodies.repeats,
            "cache_hits": hits,
            "photo_kb_sent": dict(sorted(bodies.sizes.items())),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "rss_mb": {
                "after_warmup": round(baseline, 1),
                "late_max": round(max(late), 1),
                "run_max": round(max(rss_at.values()), 1),
                "idle_after": round(api.rss_mb(), 1),
                "peak_vmhwm": round(api.peak_rss_mb(), 1),
            },
            "cache": {
                "max_bytes": final["cache"]["max_bytes"],
                "largest_bytes_seen": max((s["bytes"] for s in sampler.samples), default=0),
                "entries_end": final["cache"]["entries"],
                "evictions": final["cache"]["evictions"],
                "health_samples": len(sampler.samples),
            },
        },
    )
    assert statuses[200] == REQUESTS, dict(statuses)
    assert growth <= RSS_GROWTH_BOUND, rss_at
    assert over_budget == []
    assert final["cache"]["evictions"] >= 1
    assert hits >= bodies.repeats * 0.5
