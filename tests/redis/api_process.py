"""Real API servers on free loopback ports, started as ``production_runner.py api``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from redis_process import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class ApiProcess:
    """``production_runner.py api --workers N`` with ``AMULET_*`` settings from ``env``;
    its log goes to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = log_path
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")])
            ),
            "AMULET_MODEL_DIR": str(REPO_ROOT / "models"),
            "AMULET_LOG_LEVEL": "INFO",
            "AMULET_INFERENCE_WORKERS": "1",
            "AMULET_WARMUP_RUNS": "1",
            **env,
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiProcess:
        command = [sys.executable, str(REPO_ROOT / "production_runner.py"), "api"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout_s: float = 90.0, streak: int = 1) -> None:
        """Until ``/health/ready`` answers 200 ``streak`` times in a row."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        seen = 0
        with httpx.Client(timeout=2.0) as client:
            while seen < streak:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"API on {self.port} not ready:\n{self.log_tail()}")
                try:
                    ok = client.get(f"{self.url}/health/ready").status_code == 200
                except httpx.TransportError:
                    ok = False
                seen = seen + 1 if ok else 0
                time.sleep(0.02 if ok else 0.2)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 30 s; the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode
