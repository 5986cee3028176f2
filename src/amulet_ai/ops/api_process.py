"""An API server in a child process on a loopback port, for examples, tests and benchmarks.

Example::

    >>> limited = ApiProcess(free_port(), env={"AMULET_RATE_LIMIT": "5/minute"})
    >>> with limited as api:                                      # doctest: +SKIP
    ...     httpx.get(api.url + "/health").json()["status"]
    'ok'
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from types import TracebackType
from typing import IO

import httpx

from amulet_ai.ops.serve import child_env, local_url


class ServiceStartError(RuntimeError):
    """The child server exited or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    """``amulet-ai api`` on ``host:port`` (``workers`` processes) in a child, stopped on exit.

    ``env`` adds ``AMULET_*`` settings for the child only; ``output`` receives its logs
    (default: this process's stderr).
    """

    def __init__(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        output: IO[bytes] | IO[str] | int | None = None,
        ready_timeout_s: float = 120.0,
        workers: int = 1,
    ) -> None:
        self.host = host
        self.port = port
        self.url = local_url(host, port)
        self.env = dict(env or {})
        self.output = output
        self.ready_timeout_s = ready_timeout_s
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiProcess:
        """Start the child; returns at once (see :meth:`wait_ready`)."""
        command = [sys.executable, "-m", "amulet_ai.cli", "api"]
        command += ["--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        env = child_env({"AMULET_HOST": self.host, "AMULET_PORT": str(self.port), **self.env})
        self.process = subprocess.Popen(
            command, env=env, stdout=self.output, stderr=self.output, start_new_session=True
        )
        return self

    def wait_ready(self, path: str = "/health/ready", *, streak: int = 1) -> str:
        """Block until ``path`` answers 200 ``streak`` times in a row; returns the base URL.

        ``/health/live`` instead waits only for the server, not for the model. With several
        workers, a streak shows that every worker on the port has loaded its model.
        """
        if self.process is None:
            raise ServiceStartError("the API process was not started")
        deadline = time.monotonic() + self.ready_timeout_s
        seen = 0
        with httpx.Client(timeout=2.0) as client:
            while seen < streak:
                if self.process.poll() is not None:
                    raise ServiceStartError(f"the API exited with status {self.process.returncode}")
                if time.monotonic() > deadline:
                    raise ServiceStartError(
                        f"the API at {self.url} was not ready in {self.ready_timeout_s} s"
                    )
                try:
                    ok = client.get(self.url + path).status_code == 200
                except httpx.HTTPError:
                    ok = False
                seen = seen + 1 if ok else 0
                time.sleep(0.02 if ok else 0.2)
        return self.url

    def stop(self, grace_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

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
