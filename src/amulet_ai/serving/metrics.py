"""Prometheus metrics of one app, in a registry of its own.

Each app owns its :class:`~prometheus_client.CollectorRegistry`, so several apps (tests,
benchmarks) live in one process without clashing. Counters and histograms are updated as
requests go; gauges that describe the process (RSS, cache size, model) are read when
``/metrics`` is scraped.

Example::

    >>> metrics = ServiceMetrics()
    >>> metrics.rejections.labels(reason="overload").inc()
    >>> b"amulet_rejections_total" in metrics.render()
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# Seconds; the fine end covers cache hits and 224 px photos, the coarse end phone photos.
_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """What the scrape-time collector reads: process and cache state, model identity."""

    rss_bytes: int
    cache_hits: int
    cache_misses: int
    cache_evictions: int
    cache_bytes: int
    cache_entries: int
    model_name: str | None
    model_version: str | None


class _LiveCollector(Collector):
    def __init__(self, read: Callable[[], LiveFigures]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        figures = self._read()
        yield GaugeMetricFamily(
            "amulet_process_rss_bytes", "Resident memory of the process.", figures.rss_bytes
        )
        yield CounterMetricFamily(
            "amulet_cache_hits", "Result cache hits.", value=figures.cache_hits
        )
        yield CounterMetricFamily(
            "amulet_cache_misses", "Result cache misses.", value=figures.cache_misses
        )
        yield CounterMetricFamily(
            "amulet_cache_evictions",
            "Result cache entries evicted by the byte budget.",
            value=figures.cache_evictions,
        )
        yield GaugeMetricFamily(
            "amulet_cache_bytes", "Bytes held by the result cache.", figures.cache_bytes
        )
        yield GaugeMetricFamily(
            "amulet_cache_entries", "Entries in the result cache.", figures.cache_entries
        )
        info = GaugeMetricFamily(
            "amulet_model_info", "The model being served (value 1).", labels=["name", "version"]
        )
        if figures.model_name is not None:
            info.add_metric([figures.model_name, figures.model_version or ""], 1.0)
        yield info
        loaded = 0.0 if figures.model_name is None else 1.0
        yield GaugeMetricFamily("amulet_model_loaded", "1 when a model is loaded.", loaded)


class ServiceMetrics:
    """The app's metrics; names are prefixed ``amulet_``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "amulet_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "amulet_request_duration_seconds",
            "Time from request start to response end, by route template.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait_seconds = Histogram(
            "amulet_queue_wait_seconds",
            "Time a job waited for an inference worker.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decode_seconds = Histogram(
            "amulet_decode_seconds",
            "Time to decode one request's photos.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.locate_seconds = Histogram(
            "amulet_locate_seconds",
            "Time to find the amulet on one request's photos and crop it (0 with locate=off).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.locations = Counter(
            "amulet_locations",
            "Photos classified, by location status (found, no_amulet, too_small, "
            "too_blurred, whole_photo).",
            ["status"],
            registry=r,
        )
        self.inference_seconds = Histogram(
            "amulet_inference_seconds",
            "Time to run the model and assemble one request's verdict.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "amulet_requests_in_flight",
            "HTTP requests being served.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rejections = Counter(
            "amulet_rejections",
            "Requests refused, by reason (rate_limit, overload, memory, too_large, ...).",
            ["reason"],
            registry=r,
        )
        self.model_reloads = Counter(
            "amulet_model_reloads", "Model reloads, by outcome.", ["outcome"], registry=r
        )

    def watch(self, read: Callable[[], LiveFigures]) -> None:
        """Report ``read()``'s figures at every scrape."""
        self.registry.register(_LiveCollector(read))

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)
