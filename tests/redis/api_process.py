"""Real API servers on free loopback ports (``amulet-ai api --workers N``), logging to a file."""

from __future__ import annotations

from pathlib import Path

from amulet_ai.ops.api_process import ApiProcess as BaseApiProcess
from amulet_ai.ops.api_process import ServiceStartError, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class ApiProcess(BaseApiProcess):
    """:class:`amulet_ai.ops.api_process.ApiProcess` with ``AMULET_*`` settings from ``env``;
    its log goes to ``log_path``, and readiness can be asked to hold for a streak."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 1) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        settings = {
            "AMULET_MODEL_DIR": str(REPO_ROOT / "models"),
            "AMULET_LOG_LEVEL": "INFO",
            "AMULET_INFERENCE_WORKERS": "1",
            "AMULET_WARMUP_RUNS": "1",
            **env,
        }
        super().__init__(free_port(), env=settings, output=self._log, workers=workers)

    def wait_ready(self, timeout_s: float = 90.0, streak: int = 1) -> None:  # type: ignore[override]
        """Until ``/health/ready`` answers 200 ``streak`` times in a row."""
        self.ready_timeout_s = timeout_s
        try:
            super().wait_ready(streak=streak)
        except ServiceStartError as exc:
            raise AssertionError(f"API on {self.port}: {exc}:\n{self.log_tail()}") from exc

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, grace_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; the exit status."""
        try:
            return super().stop(grace_s)
        finally:
            self._log.close()
