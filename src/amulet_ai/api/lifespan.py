"""Startup and shutdown of one app: model, workers and GC manager up, then down.

On SIGTERM or SIGINT the server (uvicorn) stops accepting connections and waits up to its
``timeout_graceful_shutdown`` (the runner passes ``AMULET_SHUTDOWN_GRACE_S``) for requests
in flight; only then does the lifespan end. So that a request which still reaches the app
meanwhile (a kept-alive connection) is refused with 503 ``shutting_down`` rather than
started, the signal handler the server installed is wrapped to mark the app draining first.

While the app runs, the process's interpreter switch interval is
``AMULET_GIL_SWITCH_INTERVAL_MS`` (restored afterwards): an inference worker back from
onnxruntime, which ran without the interpreter lock, takes the lock back within that time
while the event loop is busy, instead of within Python's default 5 ms, during which its core
may stand idle (measured in ``bench/``, the batching section). glibc's mmap threshold is
pinned (:func:`~amulet_ai.runtime.memory.return_large_allocations`), so that a large
decode's memory goes back to the system once it is done.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI

from amulet_ai.api.services import Services
from amulet_ai.api.traffic import Traffic
from amulet_ai.runtime.memory import return_large_allocations

logger = logging.getLogger(__name__)

_DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _drain_on_signal(traffic: Traffic) -> Callable[[], None]:
    """Wrap the server's handlers of SIGTERM/SIGINT; return a function that unwraps them."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    Handler = Callable[[int, FrameType | None], object]
    installed: dict[int, tuple[Handler, Handler]] = {}
    for sig in _DRAIN_SIGNALS:
        previous = signal.getsignal(sig)
        # Only a server's own handler is wrapped, never the interpreter's defaults.
        if not callable(previous) or previous is signal.default_int_handler:
            continue

        def handler(
            signum: int,
            frame: FrameType | None,
            previous: Callable[[int, FrameType | None], object] = previous,
        ) -> None:
            traffic.begin_drain()
            previous(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def restore() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)

    return restore


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the app's :class:`Services`; on the way out, drain and stop them."""
    services: Services = app.state.services
    # Decoded pictures are large and short-lived: give their memory back when freed.
    return_large_allocations()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(services.settings.gil_switch_interval_ms / 1000)
    try:
        await services.start()
        restore_signals = _drain_on_signal(services.traffic)
        logger.info(
            "api started: model=%s workers=%d queue=%d",
            services.model.current.version if services.model.current else "unavailable",
            services.prediction.pool.workers,
            services.settings.queue_size,
        )
        try:
            yield
        finally:
            restore_signals()
            services.traffic.begin_drain()
            await services.stop()
            logger.info("api stopped")
    finally:
        sys.setswitchinterval(switch_interval)
