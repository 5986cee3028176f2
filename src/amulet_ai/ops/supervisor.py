"""Run the API and the page together, and stop them together.

:func:`run_all` starts the API as a child process, waits (bounded) until ``/health/ready``
answers 200, then starts the page. It returns when it is told to stop (Ctrl-C or SIGTERM)
or when either child exits, and it always stops the other child first (SIGTERM, then
SIGKILL after a grace period). On Linux the children are also told to stop if this process
is killed outright. The exit status says what happened::

    0  stopped on request (SIGINT, SIGTERM or SIGHUP); both children exited
    3  the API exited on its own (a port in use, a crash, ...)
    4  the page exited on its own
    5  the API did not become ready within the wait

:func:`run_child` runs one command the same way (the ``frontend`` subcommand uses it).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import httpx

from amulet_ai.config import Settings
from amulet_ai.ops.serve import api_command, child_env, frontend_command, local_url

logger = logging.getLogger(__name__)

EXIT_STOPPED = 0
EXIT_API_DIED = 3
EXIT_FRONTEND_DIED = 4
EXIT_API_NOT_READY = 5

POLL_INTERVAL_S = 0.25
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
FRONTEND_GRACE_S = 10.0


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    grace_s: float

    def exited(self) -> bool:
        return self.process.poll() is not None

    def stop(self) -> int:
        """SIGTERM, wait up to the grace period, then SIGKILL; returns the exit status."""
        if self.process.poll() is None:
            logger.info("stopping %s pid=%d", self.name, self.process.pid)
            self.process.terminate()
            try:
                return self.process.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0f s; killing it", self.name, self.grace_s)
                self.process.kill()
        return self.process.wait()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if this supervisor dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start(name: str, command: Sequence[str], env: dict[str, str], grace_s: float) -> _Child:
    # A session of its own: a terminal's Ctrl-C reaches only us, and we stop the children
    # in order (page first, then the API with its grace period).
    process = subprocess.Popen(
        list(command),
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    logger.info("started %s pid=%d", name, process.pid)
    return _Child(name, process, grace_s)


@contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM or SIGHUP (the terminal closed) while the block runs."""
    event = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        event.set()

    signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):
        signals.append(signal.SIGHUP)
    previous = {sig: signal.signal(sig, handle) for sig in signals}
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_until_ready(
    api: _Child, base_url: str, stop: threading.Event, timeout_s: float
) -> int | None:
    """Poll ``/health/ready``; None once it answers 200, else the exit status to return."""
    deadline = time.monotonic() + timeout_s
    url = base_url + "/health/ready"
    while time.monotonic() < deadline:
        if stop.is_set():
            return EXIT_STOPPED
        if api.exited():
            logger.error("the API exited with status %s before it was ready", api.process.poll())
            return EXIT_API_DIED
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        stop.wait(POLL_INTERVAL_S)
    logger.error("the API was not ready at %s within %.0f s", url, timeout_s)
    return EXIT_API_NOT_READY


def page_source_address(api_url: str) -> str:
    """The address the page's requests to a local ``api_url`` come from: its loopback.

    >>> page_source_address("http://127.0.0.1:8000"), page_source_address("http://[::1]:8000")
    ('127.0.0.1', '::1')
    """
    host = httpx.URL(api_url).host
    return "::1" if ":" in host else "127.0.0.1"


def run_all(settings: Settings, *, ready_timeout_s: float = 120.0) -> int:
    """Run the API and the page until a signal or until one of them exits."""
    api_url = local_url(settings.host, settings.port)
    extra_env: dict[str, str] = {}
    if "public_url" not in settings.model_fields_set:
        # The page must find this API even when only AMULET_PORT was changed.
        extra_env["AMULET_PUBLIC_URL"] = api_url
    page_address = page_source_address(api_url)
    if page_address not in settings.forwarded_allow_ips:
        # The page forwards each collector's address; the API must believe it from the page.
        trusted = [*settings.forwarded_allow_ips, page_address]
        extra_env["AMULET_FORWARDED_ALLOW_IPS"] = ",".join(trusted)
    env = child_env(extra_env)
    children: list[_Child] = []
    with _stop_requested() as stop:
        try:
            api = _start("api", api_command(settings), env, settings.shutdown_grace_s + 5.0)
            children.append(api)
            failed = wait_until_ready(api, api_url, stop, ready_timeout_s)
            if failed is not None:
                return failed
            logger.info("API ready at %s", api_url)
            page = _start("page", frontend_command(settings), env, FRONTEND_GRACE_S)
            children.append(page)
            logger.info("page at %s", local_url(settings.frontend_host, settings.frontend_port))
            while not stop.wait(POLL_INTERVAL_S):
                for child, code in ((api, EXIT_API_DIED), (page, EXIT_FRONTEND_DIED)):
                    if child.exited():
                        logger.error(
                            "%s exited with status %s; stopping the rest",
                            child.name,
                            child.process.returncode,
                        )
                        return code
            return EXIT_STOPPED
        finally:
            for child in reversed(children):
                child.stop()


def run_child(name: str, command: Sequence[str], *, grace_s: float = FRONTEND_GRACE_S) -> int:
    """Run one command in the foreground, passing Ctrl-C and SIGTERM on; its exit status."""
    with _stop_requested() as stop:
        child = _start(name, command, child_env(), grace_s)
        try:
            while not stop.wait(POLL_INTERVAL_S):
                if child.exited():
                    return child.process.returncode
            return child.stop()
        finally:
            child.stop()


def run_frontend(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    """Run the Streamlit page in the foreground until it exits or is stopped."""
    return run_child("page", frontend_command(settings, host=host, port=port))
