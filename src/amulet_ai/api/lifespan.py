"""Startup and shutdown of one app: model, workers and GC manager up, then down.

On SIGTERM or SIGINT the server (uvicorn) stops accepting connections and waits up to its
``timeout_graceful_shutdown`` (the runner passes ``AMULET_SHUTDOWN_GRACE_S``) for requests
in flight; only then does the lifespan end. So that a request which still reaches the app
meanwhile (a kept-alive connection) is refused with 503 ``shutting_down`` rather than
started, the signal handler the server installed is wrapped to mark the app draining first.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI

from amulet_ai.api.state import ServingState

logger = logging.getLogger(__name__)

_DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _drain_on_signal(state: ServingState) -> Callable[[], None]:
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
            state.begin_drain()
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
    """Start the app's :class:`ServingState`; on the way out, drain and stop it."""
    state: ServingState = app.state.serving
    await state.start()
    restore_signals = _drain_on_signal(state)
    logger.info(
        "api started: model=%s workers=%d queue=%d batch=%d",
        state.model.current.version if state.model.current else "unavailable",
        state.pool.workers,
        state.settings.queue_size,
        state.settings.batch_max_size,
    )
    try:
        yield
    finally:
        restore_signals()
        state.begin_drain()
        await state.stop()
        logger.info("api stopped")
