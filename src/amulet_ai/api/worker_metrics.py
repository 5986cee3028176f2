"""``/metrics`` for several worker processes: prometheus-client's multiprocess mode.

Under ``amulet-ai api --workers N`` the runner (:mod:`amulet_ai.ops.workers`) sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start. Each worker's counters, histograms
and gauges then live in files there, and whichever worker answers ``/metrics`` reads them
all (:func:`render_all_workers`). Figures that a single process reads at scrape time (RSS,
result-cache counters, model identity) cannot be read from another process, so each worker
publishes them every second into multiprocess metrics of the same names
(:class:`LiveFigurePublisher`): counters keep their totals, gauges add up the live workers
(RSS is reported per worker, labelled ``pid``).

Without the variable (one process) none of this is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from amulet_ai.serving.metrics import LiveFigures

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PUBLISH_INTERVAL_S = 1.0


def multiprocess_enabled() -> bool:
    """True when this process is one of several workers sharing a metrics folder."""
    return bool(os.environ.get(MULTIPROC_ENV))


def render_all_workers() -> bytes:
    """The exposition text of every worker's metrics, added up."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


class LiveFigurePublisher:
    """Writes this worker's :class:`LiveFigures` into multiprocess metrics.

    The metrics are registered nowhere: in multiprocess mode their values go to this
    worker's files, which :func:`render_all_workers` reads.
    """

    def __init__(self) -> None:
        self.rss = Gauge(
            "amulet_process_rss_bytes",
            "Resident memory of each worker process.",
            registry=None,
            multiprocess_mode="liveall",
        )
        self.cache_bytes = Gauge(
            "amulet_cache_bytes",
            "Bytes held by the workers' in-process result caches.",
            registry=None,
            multiprocess_mode="livesum",
        )
        self.cache_entries = Gauge(
            "amulet_cache_entries",
            "Entries in the workers' in-process result caches.",
            registry=None,
            multiprocess_mode="livesum",
        )
        self.model_info = Gauge(
            "amulet_model_info",
            "The model being served (value 1).",
            ["name", "version"],
            registry=None,
            multiprocess_mode="livemax",
        )
        self.model_loaded = Gauge(
            "amulet_model_loaded",
            "1 when every live worker has a model loaded.",
            registry=None,
            multiprocess_mode="livemin",
        )
        self._counters = {
            "cache_hits": Counter("amulet_cache_hits", "Result cache hits.", registry=None),
            "cache_misses": Counter("amulet_cache_misses", "Result cache misses.", registry=None),
            "cache_evictions": Counter(
                "amulet_cache_evictions",
                "Result cache entries evicted by the byte budget.",
                registry=None,
            ),
        }
        self._published = dict.fromkeys(self._counters, 0)
        self._model: tuple[str, str] | None = None

    def publish(self, figures: LiveFigures) -> None:
        """Bring the metrics up to ``figures``."""
        self.rss.set(figures.rss_bytes)
        self.cache_bytes.set(figures.cache_bytes)
        self.cache_entries.set(figures.cache_entries)
        for name, counter in self._counters.items():
            value = int(getattr(figures, name))
            # A cleared cache restarts its counts; the published total never goes back.
            delta = value - self._published[name] if value >= self._published[name] else value
            if delta:
                counter.inc(delta)
            self._published[name] = value
        model = (figures.model_name, figures.model_version or "") if figures.model_name else None
        if model != self._model:
            if self._model is not None:
                self.model_info.labels(*self._model).set(0)
            if model is not None:
                self.model_info.labels(*model).set(1)
            self._model = model
        self.model_loaded.set(0 if model is None else 1)

    async def run(self, read: Callable[[], LiveFigures], interval_s: float) -> None:
        """Publish ``read()`` every ``interval_s`` until cancelled."""
        while True:
            self.publish(await asyncio.to_thread(read))
            await asyncio.sleep(interval_s)


class WorkerMetrics:
    """Starts and stops the publishing task of one worker (a no-op in one process)."""

    def __init__(self, read: Callable[[], LiveFigures]) -> None:
        self._read = read
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if multiprocess_enabled() and self._task is None:
            publisher = LiveFigurePublisher()
            publisher.publish(await asyncio.to_thread(self._read))
            self._task = asyncio.create_task(
                publisher.run(self._read, PUBLISH_INTERVAL_S), name="worker-metrics"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
