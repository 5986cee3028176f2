"""SIGTERM in the middle of saves: every save the API acknowledged is there after restart.

The real API runs as its own process (``amulet-ai api``) on a SQLite file or a PostgreSQL
database; eight clients keep saving while it is told to stop; then a new process on the
same database lists every owner's history.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from amulet_ai.ops.api_process import ApiProcess, free_port
from amulet_ai.store import Database, upgrade

KEY = "sigterm-test-key"
CLIENTS = 8


def _settings(database_url: str) -> dict[str, str]:
    return {
        "AMULET_DATABASE_URL": database_url,
        "AMULET_API_KEYS": KEY,
        "AMULET_HISTORY": "photos",
        "AMULET_RATE_LIMIT": "",
        "AMULET_SHUTDOWN_GRACE_S": "5",
        "AMULET_WARMUP_RUNS": "0",
        "AMULET_LOG_LEVEL": "WARNING",
    }


def test_every_acknowledged_save_survives_a_sigterm(
    database_url: str, photo: bytes, tmp_path: Path
) -> None:
    upgrade(Database(database_url))
    acknowledged: list[int] = []
    refused: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    api = ApiProcess(free_port(), env=_settings(database_url), log_path=tmp_path / "log")

    def client() -> None:
        with httpx.Client(base_url=api.url, timeout=10.0, headers={"X-API-Key": KEY}) as http:
            while not stop.is_set():
                try:
                    r = http.post(
                        "/v1/predict?save=true", files={"front": ("a.jpg", photo, "image/jpeg")}
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        refused.append(type(exc).__name__)
                    time.sleep(0.01)
                    continue
                with lock:
                    if r.status_code == 200 and r.json()["history_id"] is not None:
                        acknowledged.append(r.json()["history_id"])
                    else:
                        refused.append(str(r.status_code))

    api.start().wait_ready()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    before_signal = len(acknowledged)
    status = api.stop(grace_s=30)  # SIGTERM while the clients keep saving
    stop.set()
    for thread in threads:
        thread.join(15)
    assert status in (0, -15)  # uvicorn re-raises SIGTERM once it has shut down cleanly
    assert before_signal >= 40 and refused, "the signal came in the middle of the saves"

    with ApiProcess(free_port(), env=_settings(database_url)) as again:
        listed: list[int] = []
        before = None
        with httpx.Client(base_url=again.url, headers={"X-API-Key": KEY}) as http:
            while True:
                params = {"limit": 100, **({"before": before} if before else {})}
                page = http.get("/v1/history", params=params).json()
                listed += [item["id"] for item in page["items"]]
                before = page["next_before"]
                if before is None:
                    break
            last = acknowledged[-1]
            assert http.get(f"/v1/history/{last}/photo").status_code == 200
    assert len(listed) == len(set(listed))
    assert set(acknowledged) <= set(listed)
    assert len(acknowledged) == len(set(acknowledged))
