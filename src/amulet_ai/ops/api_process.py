"""An API server on a free loopback port: the one way examples, tests and benchmarks start one.

* :class:`ApiProcess`: ``amulet-ai api`` (or another server command) in a child process,
  stopped with SIGTERM then SIGKILL; its log can go to a file and its memory is read from
  outside, the way an orchestrator sees it;
* :class:`ApiThread`: an app served by uvicorn in a thread of this process (a test that
  needs a real socket and the app object itself).

Both are context managers that start, wait until ready, and stop.

Example::

    >>> limited = ApiProcess(free_port(), env={"AMULET_RATE_LIMIT": "5/minute"})
    >>> with limited as api:                                      # doctest: +SKIP
    ...     httpx.get(api.url + "/health").json()["status"]
    'ok'
    >>> with ApiThread(create_app(settings)) as server:            # doctest: +SKIP
    ...     httpx.get(server.url + "/health/live").status_code
    200
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import psutil
import uvicorn

from amulet_ai.ops.serve import child_env, local_url

_MB = 1024 * 1024


class ServiceStartError(RuntimeError):
    """The child server exited or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    """``amulet-ai api`` on ``host:port`` (``workers`` processes) in a child, stopped on exit.

    ``env`` adds settings (``AMULET_*``, ``PYTHONPATH``) for the child only. Its logs go to
    ``log_path`` (appended; :meth:`log` reads them back), else to ``output`` (default:
    this process's stderr). ``command`` serves something else on the same terms (the
    benchmark's naive service): it must listen on ``port``.
    """

    def __init__(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        output: IO[bytes] | IO[str] | int | None = None,
        log_path: Path | None = None,
        ready_timeout_s: float = 120.0,
        workers: int = 1,
        command: Sequence[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.url = local_url(host, port)
        self.env = dict(env or {})
        self.log_path = log_path
        self._log_file: IO[bytes] | None = None
        self.output = output
        self.ready_timeout_s = ready_timeout_s
        self.workers = workers
        self.command = list(command) if command is not None else None
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, for a raw socket."""
        return (self.host, self.port)

    @property
    def pid(self) -> int:
        """The child's process id (the supervisor's, with several workers)."""
        if self.process is None:
            raise ServiceStartError("the API process was not started")
        return self.process.pid

    def start(self) -> ApiProcess:
        """Start the child; returns at once (see :meth:`wait_ready`)."""
        command = self.command
        if command is None:
            command = [sys.executable, "-m", "amulet_ai.cli", "api", "--host", self.host]
            command += ["--port", str(self.port), "--workers", str(self.workers)]
        env = child_env({"AMULET_HOST": self.host, "AMULET_PORT": str(self.port), **self.env})
        output = self.output
        if self.log_path is not None:
            self._log_file = output = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, env=env, cwd=self.cwd, stdout=output, stderr=output, start_new_session=True
        )
        return self

    def wait_ready(self, path: str = "/health/ready", *, streak: int = 1) -> str:
        """Block until ``path`` answers 200 ``streak`` times in a row; returns the base URL.

        ``/health/live`` instead waits only for the server, not for the model. With several
        workers, a streak shows that every worker on the port has loaded its model.

        Raises:
            ServiceStartError: the child exited or was not ready in time (with the end of
                its log when it logs to a file).
        """
        if self.process is None:
            raise ServiceStartError("the API process was not started")
        deadline = time.monotonic() + self.ready_timeout_s
        seen = 0
        with httpx.Client(timeout=2.0) as client:
            while seen < streak:
                if self.process.poll() is not None:
                    self._fail(f"the API exited with status {self.process.returncode}")
                if time.monotonic() > deadline:
                    self._fail(f"the API at {self.url} was not ready in {self.ready_timeout_s} s")
                try:
                    ok = client.get(self.url + path).status_code == 200
                except httpx.HTTPError:
                    ok = False
                seen = seen + 1 if ok else 0
                time.sleep(0.02 if ok else 0.2)
        return self.url

    def _fail(self, reason: str) -> None:
        tail = self.log_tail() if self.log_path is not None else ""
        raise ServiceStartError(f"{reason}; its log ends:\n{tail}" if tail else reason)

    def log(self) -> str:
        """Everything the child logged to ``log_path`` so far ("" without one)."""
        if self.log_path is None:
            return ""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]

    def rss_mb(self) -> float:
        """The child's resident memory now, MB."""
        return float(psutil.Process(self.pid).memory_info().rss) / _MB

    def peak_rss_mb(self) -> float:
        """The child's lifetime peak resident memory (Linux ``VmHWM``), MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("VmHWM not reported")

    def stop(self, grace_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; returns the exit status."""
        try:
            if self.process is None:
                return None
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
            return self.process.wait()
        finally:
            if self._log_file is not None:
                self._log_file.close()

    def __enter__(self) -> ApiProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ApiThread:
    """An ASGI app served by uvicorn in a thread of this process, on a free loopback port.

    The app's lifespan runs in that thread; :meth:`stop` lets requests in flight finish
    for up to ``grace_s``.
    """

    def __init__(self, app: Any, *, grace_s: float = 5.0, start_timeout_s: float = 60.0) -> None:
        self.app = app
        self.port = free_port()
        self.url = local_url("127.0.0.1", self.port)
        self.start_timeout_s = start_timeout_s
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=int(grace_s),
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api-thread", daemon=True)

    def start(self) -> ApiThread:
        """Start serving; returns once the server listens (the lifespan has run)."""
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ServiceStartError(f"the API thread on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30.0)

    def __enter__(self) -> ApiThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
