"""The servers under test, each in its own process on a free loopback port.

:func:`amulet_service` is the real API (``amulet-ai api``) with benchmark settings: no rate
limit, no keys, no Redis, and the result cache off unless asked. :func:`naive_service` is
``bench/naive_service.py`` under plain uvicorn. Both start through
:class:`~amulet_ai.ops.api_process.ApiProcess`, logging to a temporary file whose end a
failed start reports. :class:`RssSampler` watches a server's
resident memory from outside, with psutil.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from amulet_ai.ops.api_process import ApiProcess, ServiceStartError, free_port
from amulet_ai.ops.serve import child_env
from bench.load import PREDICT_PATH
from bench.naive_service import RAW_PATH as NAIVE_RAW_PATH

REPO_ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024

BENCH_SETTINGS = {
    "AMULET_RATE_LIMIT": "",
    "AMULET_API_KEYS": "",
    "AMULET_ADMIN_KEY": "",
    "AMULET_REDIS_URL": "",
    "AMULET_LOG_LEVEL": "WARNING",
    "AMULET_CACHE_ENABLED": "false",
    # The comparisons with the naive app and bare session.run classify the whole photo, as
    # they do; what locate=auto adds is measured on its own (bench/bench_locate.py).
    "AMULET_LOCATE": "off",
}


@dataclass(frozen=True)
class Server:
    """A running server: where to reach it, which process serves it, and its predict paths.

    ``raw_path`` is where it takes the photo as the raw body (the real API: the same route
    as the form; the naive service: a route of its own).
    """

    name: str
    url: str
    pid: int
    raw_path: str = PREDICT_PATH

    def path(self, form: str) -> str:
        """The predict route for a request ``form`` ("multipart" or "raw")."""
        return self.raw_path if form == "raw" else PREDICT_PATH


@contextmanager
def amulet_service(name: str = "amulet", *, workers: int = 1, **settings: str) -> Iterator[Server]:
    """The real API (``workers`` processes) with the benchmark settings plus ``settings``
    (``AMULET_*`` names, or ``PYTHONPATH`` to serve another source tree).

    Example::

        >>> with amulet_service(AMULET_CACHE_ENABLED="true") as server:  # doctest: +SKIP
        ...     httpx.get(server.url + "/health").status_code
        200
    """
    env = {**BENCH_SETTINGS, **settings}
    with _started(name, env=env, workers=workers) as api:
        yield Server(name, api.url, api.pid)


@contextmanager
def naive_service() -> Iterator[Server]:
    """``bench.naive_service`` under uvicorn, one process, access log off."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.naive_service:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    command += ["--log-level", "warning"]
    with _started("naive", port=port, command=command, env=bench_env()) as api:
        yield Server("naive", api.url, api.pid, raw_path=NAIVE_RAW_PATH)


@contextmanager
def _started(
    name: str, *, port: int | None = None, workers: int = 1, **options: Any
) -> Iterator[ApiProcess]:
    """A server process, ready, logging to a temporary file; stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="amulet-bench-") as folder:
        api = ApiProcess(
            port or free_port(),
            log_path=Path(folder) / f"{name}.log",
            workers=workers,
            cwd=REPO_ROOT,
            **options,
        )
        try:
            # With several workers, a streak of answers: every worker has loaded its model.
            api.start().wait_ready(streak=1 if workers == 1 else 10)
        except ServiceStartError as exc:
            api.stop()
            raise ServiceStartError(f"{name}: {exc}") from exc
        try:
            yield api
        finally:
            api.stop(grace_s=20.0)


def bench_env() -> dict[str, str]:
    """The environment of a child that imports ``bench`` and this checkout's ``amulet_ai``."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env["PYTHONPATH"]])
    return env


# Histograms of the API's /metrics: where a request's time went, as the server saw it.
_TIMINGS = {
    "amulet_queue_wait_seconds": "queue_wait",
    "amulet_decode_seconds": "decode",
    "amulet_locate_seconds": "locate",
    "amulet_inference_seconds": "inference",
    "amulet_request_duration_seconds": "request",
}


async def server_timing(url: str) -> dict[str, list[float]]:
    """The API's timing histograms of the predict route: name -> [sum of seconds, count]."""
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        text = (await client.get("/metrics")).text
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        # The parser may drop a histogram's unit suffix from the family name.
        name = _TIMINGS.get(family.name, _TIMINGS.get(family.name + "_seconds"))
        if name is None:
            continue
        for sample in family.samples:
            if sample.labels.get("route", PREDICT_PATH) != PREDICT_PATH:
                continue
            slot = totals.setdefault(name, [0.0, 0.0])
            if sample.name.endswith("_sum"):
                slot[0] += sample.value
            elif sample.name.endswith("_count"):
                slot[1] += sample.value
    return totals


class RssSampler:
    """Samples a process's RSS every ``interval_s`` on a thread: start, peak, latest.

    Example::

        >>> with RssSampler(server.pid) as rss:                        # doctest: +SKIP
        ...     run_uploads()
        >>> rss.peak_mb - rss.start_mb                                 # doctest: +SKIP
    """

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self.start_mb = self.peak_mb = self.latest_mb = 0.0

    def rss_mb(self) -> float:
        return float(self._process.memory_info().rss) / MB

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.latest_mb = self.rss_mb()
            self.peak_mb = max(self.peak_mb, self.latest_mb)

    def __enter__(self) -> RssSampler:
        self.start_mb = self.peak_mb = self.latest_mb = self.rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.latest_mb = self.rss_mb()
        self.peak_mb = max(self.peak_mb, self.latest_mb)
