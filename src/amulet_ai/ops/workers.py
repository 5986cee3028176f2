"""Several API worker processes on one port, with one ``/metrics`` for all of them.

:func:`run_workers` runs ``config.workers`` uvicorn processes that share one listening
socket (uvicorn's own supervisor, which restarts a worker that dies). Before any worker
starts it points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary folder, so each worker's
prometheus-client writes its samples there and the ``/metrics`` route of whichever worker
answers adds up every worker's (``MultiProcessCollector``, see
:mod:`amulet_ai.api.worker_metrics`).
When a worker exits, its live gauges are removed (``mark_process_dead``); the folder goes
when the supervisor stops.

Shared state between the workers (result cache, rate limits) needs ``AMULET_REDIS_URL``:
without it each worker keeps its own cache and counts its own limit.

Example::

    >>> config = uvicorn.Config("amulet_ai.api.app:create_app", factory=True, workers=2)
    >>> run_workers(config)      # doctest: +SKIP  (blocks until SIGINT/SIGTERM)
    0
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.supervisors.multiprocess import Multiprocess

from amulet_ai.api.worker_metrics import MULTIPROC_ENV

logger = logging.getLogger(__name__)


@contextmanager
def multiprocess_metrics_dir() -> Iterator[str]:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` to a fresh folder for the block; remove it after.

    Workers started inside the block inherit the variable, so it must be set before they
    import prometheus-client. The previous value, if any, is restored.
    """
    previous = os.environ.get(MULTIPROC_ENV)
    path = tempfile.mkdtemp(prefix="amulet-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


class _MetricsAwareSupervisor(Multiprocess):
    """uvicorn's supervisor, plus ``mark_process_dead`` for each worker that exits."""

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def join_all(self) -> None:
        super().join_all()
        for process in self.processes:
            if process.pid is not None:
                mark_process_dead(process.pid)  # type: ignore[no-untyped-call]


def run_workers(config: uvicorn.Config) -> int:
    """Serve ``config.app`` (an import string) from ``config.workers`` processes until
    SIGINT or SIGTERM; returns the exit status."""
    if config.workers < 2 or not isinstance(config.app, str):
        raise ValueError("run_workers needs workers >= 2 and the app as an import string")
    with multiprocess_metrics_dir() as path:
        logger.info("starting %d API workers, metrics aggregated in %s", config.workers, path)
        sock = config.bind_socket()
        try:
            _MetricsAwareSupervisor(config, sockets=[sock]).run()
        finally:
            sock.close()
    return 0
