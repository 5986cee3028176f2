"""Faults: a missing or corrupt model, memory over the ceiling, a reload under load, the API
killed under a client, and SIGTERM under load, each against real server processes."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from hostile_images import jpeg
from live_server import StartApi, answer_problems
from load import percentile, predict_body, run_load
from reliability_report import Check, record

from amulet_ai.client import AmuletClient
from amulet_ai.errors import AmuletError, UpstreamTimeout, UpstreamUnavailable
from amulet_ai.ops.api_process import ApiProcess
from amulet_ai.runtime.circuit import CircuitBreaker, CircuitState

ADMIN_KEY = "reliability-admin-key"
PHOTO = jpeg(224, 224, seed=21)


def _predict(api: ApiProcess, photo: bytes = PHOTO) -> httpx.Response:
    return httpx.post(
        api.url + "/v1/predict", files={"front": ("p.jpg", photo, "image/jpeg")}, timeout=10.0
    )


def _model_copy(model_dir: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for name in ("amulet_classifier.onnx", "metadata.json"):
        shutil.copy2(model_dir / name, into / name)
    return into


def _break_model(kind: str, model_dir: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    if kind == "corrupt_onnx":
        shutil.copy2(model_dir / "metadata.json", into / "metadata.json")
        (into / "amulet_classifier.onnx").write_bytes(b"\x08\x07not an onnx graph" * 64)
    elif kind == "corrupt_metadata":
        shutil.copy2(model_dir / "amulet_classifier.onnx", into / "amulet_classifier.onnx")
        (into / "metadata.json").write_text('{"name": "amulet", "classes": [', encoding="utf-8")
    return into  # "missing": an empty folder


@pytest.mark.parametrize("kind", ["missing", "corrupt_onnx", "corrupt_metadata"])
def test_broken_model_at_start_is_live_not_ready_and_recovers_on_reload(
    kind: str, start_api: StartApi, model_dir: Path, tmp_path: Path
) -> None:
    folder = _break_model(kind, model_dir, tmp_path / "model")
    api = start_api(
        {"AMULET_MODEL_DIR": str(folder), "AMULET_ADMIN_KEY": ADMIN_KEY}, wait="/health/live"
    )
    live = httpx.get(api.url + "/health/live", timeout=5.0)
    ready = httpx.get(api.url + "/health/ready", timeout=5.0)
    oip_ready = httpx.get(api.url + "/v2/health/ready", timeout=5.0)
    health = httpx.get(api.url + "/health", timeout=5.0)
    predict = _predict(api)
    problems = answer_problems(
        predict.status_code,
        predict.headers,
        predict.content,
        expect_status=503,
        expect_code="model_unavailable",
    )
    unavailable_lines = [
        line for line in api.log().splitlines() if "model unavailable" in line.lower()
    ]

    _model_copy(model_dir, folder)
    reload = httpx.post(
        api.url + "/v1/admin/reload", headers={"X-Admin-Key": ADMIN_KEY}, timeout=60.0
    )
    ready_after = httpx.get(api.url + "/health/ready", timeout=5.0)
    predict_after = _predict(api)
    record(
        f"faults:model_{kind}",
        f"Model {kind.replace('_', ' ')} at start",
        [
            Check("/health/live status", live.status_code, "==", 200),
            Check("/health/ready status", ready.status_code, "==", 503),
            Check("predict answered 503 model_unavailable (problems)", len(problems), "==", 0),
            Check("log lines saying why", len(unavailable_lines), "==", 1),
            Check(
                "predict after the model is fixed and reloaded",
                predict_after.status_code,
                "==",
                200,
            ),
        ],
        {
            "health_status": health.json().get("status"),
            "health_model_error": health.json().get("model", {}).get("error"),
            "ready_reasons": ready.json().get("reasons"),
            "reload_status": reload.status_code,
        },
    )
    assert live.status_code == 200
    assert ready.status_code == 503 and oip_ready.status_code == 503
    assert any("model" in reason for reason in ready.json()["reasons"])
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert health.json()["model"]["error"]
    assert problems == []
    assert len(unavailable_lines) == 1, unavailable_lines
    assert reload.status_code == 200, reload.text
    assert ready_after.status_code == 200
    assert predict_after.status_code == 200


def test_memory_over_the_ceiling_refuses_work_but_stays_live(start_api: StartApi) -> None:
    # A ceiling below what the process needs just to run: every new job is refused.
    api = start_api({"AMULET_MEMORY_LIMIT_MB": "64"}, wait="/health/live")
    predict = _predict(api)
    ready = httpx.get(api.url + "/health/ready", timeout=5.0)
    problems = answer_problems(
        predict.status_code,
        predict.headers,
        predict.content,
        expect_status=503,
        expect_code="memory_pressure",
    )
    record(
        "faults:memory_ceiling",
        "RSS above the memory ceiling",
        [
            Check("predict answered 503 memory_pressure (problems)", len(problems), "==", 0),
            Check(
                "/health/live status", httpx.get(api.url + "/health/live").status_code, "==", 200
            ),
            Check("/health/ready status", ready.status_code, "==", 503),
        ],
        {"ready_reasons": ready.json().get("reasons"), "rss_mb": round(api.rss_mb(), 1)},
    )
    assert problems == []
    assert "memory above the ceiling" in ready.json()["reasons"]


def test_reload_under_load_drops_no_request(
    start_api: StartApi, model_dir: Path, tmp_path: Path, unique_jpeg: Callable[[int], bytes]
) -> None:
    folder = _model_copy(model_dir, tmp_path / "model")
    api = start_api(
        {
            "AMULET_MODEL_DIR": str(folder),
            "AMULET_ADMIN_KEY": ADMIN_KEY,
            "AMULET_CACHE_ENABLED": "false",
            "AMULET_LOG_LEVEL": "WARNING",
        }
    )
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    old_version, new_version = metadata["version"], metadata["version"] + "+reloaded"
    reloads: list[tuple[float, float, int, str]] = []
    t0 = time.perf_counter()

    def reloader() -> None:
        time.sleep(1.5)
        # The new model files land the way a deploy writes them: whole, then renamed in.
        staged = folder / "metadata.json.new"
        staged.write_text(json.dumps({**metadata, "version": new_version}), encoding="utf-8")
        staged.replace(folder / "metadata.json")
        for pause in (0.0, 1.5):
            time.sleep(pause)
            began = time.perf_counter() - t0
            answer = httpx.post(
                api.url + "/v1/admin/reload", headers={"X-Admin-Key": ADMIN_KEY}, timeout=60.0
            )
            reloads.append((began, time.perf_counter() - t0, answer.status_code, answer.text))

    thread = threading.Thread(target=reloader)
    thread.start()
    outcomes = asyncio.run(
        run_load(
            api.url,
            clients=8,
            duration_s=6.0,
            next_body=lambda i: predict_body(unique_jpeg(i)),
        )
    )
    thread.join()
    statuses = Counter(o.status for o in outcomes)
    first_done = reloads[0][1] if reloads else float("inf")
    # A request sent once the first reload had answered must have been served by the new model.
    stale = [o for o in outcomes if o.started_s > first_done and o.model_version != new_version]
    versions = Counter(o.model_version for o in outcomes)
    record(
        "faults:reload_under_load",
        "Model reload under load (8 clients, 2 reloads)",
        [
            Check("requests not answered 200", len(outcomes) - statuses[200], "==", 0),
            Check("reloads answered 200", sum(1 for r in reloads if r[2] == 200), "==", 2),
            Check("requests after the reload served by the old model", len(stale), "==", 0),
        ],
        {
            "requests": len(outcomes),
            "by_status": {str(k): v for k, v in statuses.items()},
            "by_model_version": {str(k): v for k, v in versions.items()},
            "reload_ms": [round((end - began) * 1000, 1) for began, end, _, _ in reloads],
            "p99_ms": round(percentile([o.latency_s for o in outcomes], 0.99) * 1000, 1),
        },
    )
    assert statuses[200] == len(outcomes), dict(statuses)
    assert [r[2] for r in reloads] == [200, 200], reloads
    assert versions[old_version] > 0 and versions[new_version] > 0
    assert stale == []


def test_api_killed_under_a_client_opens_the_circuit_which_closes_after_restart(
    start_api: StartApi,
) -> None:
    api = start_api({"AMULET_LOG_LEVEL": "WARNING"})
    port = api.port
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=1.0, name="reliability")
    client = AmuletClient(api.url, retries=0, timeout_s=5.0, breaker=breaker)
    # (call started, call ended, outcome, breaker state after the call), seconds since t0
    seen: list[tuple[float, float, str, CircuitState]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def calls() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            started = time.monotonic() - t0
            try:
                client.predict(PHOTO + i.to_bytes(8, "big"))
                outcome = "ok"
            except AmuletError as exc:
                outcome = type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - an untyped error is what this test hunts
                outcome = f"UNTYPED {type(exc).__name__}"
            seen.append((started, time.monotonic() - t0, outcome, breaker.state))
            time.sleep(0.02)

    worker = threading.Thread(target=calls)
    worker.start()
    try:
        time.sleep(1.0)
        assert api.process is not None
        api.process.kill()
        killed_at = time.monotonic() - t0
        opened_at = _wait_for(lambda: breaker.state is CircuitState.OPEN, 10.0) - t0
        restart_began = time.monotonic() - t0
        start_api({"AMULET_LOG_LEVEL": "WARNING"}, port=port)
        ready_at = time.monotonic() - t0
        closed_at = (
            _wait_for(
                lambda: bool(seen) and seen[-1][2] == "ok" and breaker.state is CircuitState.CLOSED,
                10.0,
            )
            - t0
        )
    finally:
        stop.set()
        worker.join()
        client.close()
    outcomes = Counter(outcome for _, _, outcome, _ in seen)
    # Calls that began after the kill and ended before the replacement was spawned: no server
    # could have answered them. (A call ending just after the kill, or one the new server
    # answers while start_api is still confirming readiness, is rightly "ok".)
    while_down = [o for began, ended, o, _ in seen if began >= killed_at and ended < restart_began]
    # Calls made while the replacement was starting: the open circuit should refuse them locally.
    while_restarting = [o for began, _, o, _ in seen if killed_at <= began < ready_at]
    untyped = [o for o in outcomes if o.startswith("UNTYPED")]
    record(
        "faults:api_killed",
        "API killed (SIGKILL) under a client, then restarted",
        [
            Check("untyped errors raised by the client", len(untyped), "==", 0),
            Check("circuit open after the kill", round(opened_at - killed_at, 2), "<=", 10.0, "s"),
            Check(
                "circuit closed after the restart was ready",
                round(closed_at - ready_at, 2),
                "<=",
                10.0,
                "s",
            ),
        ],
        {
            "outcomes": dict(outcomes),
            "calls_while_down": len(while_down),
            "calls_while_restarting": dict(Counter(while_restarting)),
            "restart_to_ready_s": round(ready_at - restart_began, 2),
        },
    )
    assert untyped == []
    assert set(while_down) <= {
        UpstreamUnavailable.__name__,
        UpstreamTimeout.__name__,
        "CircuitOpen",
    }, Counter(while_down)
    assert "CircuitOpen" in while_restarting, Counter(while_restarting)
    assert closed_at - ready_at <= 10.0


def _wait_for(condition: Callable[[], bool], bound_s: float) -> float:
    """When ``condition`` became true (monotonic clock); AssertionError after ``bound_s``."""
    started = time.monotonic()
    while time.monotonic() - started < bound_s:
        if condition():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {bound_s} s")


async def _slow_body(body: bytes, pieces: int, pause_s: float) -> AsyncIterator[bytes]:
    step = -(-len(body) // pieces)
    for start in range(0, len(body), step):
        yield body[start : start + step]
        await asyncio.sleep(pause_s)


def test_sigterm_under_load_finishes_in_flight_refuses_new_and_exits_in_grace(
    start_api: StartApi,
) -> None:
    grace_s = 10.0
    api = start_api({"AMULET_SHUTDOWN_GRACE_S": str(grace_s), "AMULET_CACHE_ENABLED": "false"})
    assert api.process is not None
    process = api.process
    body = predict_body(jpeg(640, 480, seed=22))
    headers = {"Content-Type": "multipart/form-data; boundary=amulet-hostile-7f3a"}
    signal_at = 1.0

    async def scenario() -> tuple[list[int | str], list[int | str], float]:
        async def slow_upload(client: httpx.AsyncClient) -> int | str:
            # 2 s of upload: still in flight when SIGTERM arrives at 1 s.
            try:
                response = await client.post(
                    "/v1/predict", content=_slow_body(body, 20, 0.1), headers=headers
                )
            except httpx.HTTPError as exc:
                return type(exc).__name__
            return response.status_code

        async def newcomer() -> int | str:
            try:
                async with httpx.AsyncClient(base_url=api.url, timeout=5.0) as fresh:
                    response = await fresh.post("/v1/predict", content=body, headers=headers)
            except httpx.HTTPError as exc:
                return type(exc).__name__
            return response.status_code

        async with httpx.AsyncClient(base_url=api.url, timeout=30.0) as client:
            uploads = [asyncio.create_task(slow_upload(client)) for _ in range(8)]
            await asyncio.sleep(signal_at)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            exited = asyncio.create_task(asyncio.to_thread(_wait_exit, process, grace_s + 5))
            await asyncio.sleep(0.2)
            late: list[int | str] = []
            while not exited.done():
                late.append(await newcomer())
                await asyncio.sleep(0.1)
            in_flight = list(await asyncio.gather(*uploads))
            exit_s = await exited - signalled
        return in_flight, late, exit_s

    in_flight, late, exit_s = asyncio.run(scenario())
    # uvicorn re-raises the signal it caught once it has shut down, so the status is -15.
    stopped_cleanly = process.returncode in (0, -signal.SIGTERM) and "api stopped" in api.log()
    late_counts = Counter(str(x) for x in late)
    accepted_late = sum(1 for x in late if x == 200)
    record(
        "faults:sigterm",
        "SIGTERM under load (8 uploads in flight)",
        [
            Check("in-flight uploads answered 200", sum(1 for s in in_flight if s == 200), "==", 8),
            Check("new requests served after SIGTERM", accepted_late, "==", 0),
            Check("exit after SIGTERM", round(exit_s, 2), "<=", grace_s, "s"),
            Check("clean shutdown logged (lifespan ended)", int(stopped_cleanly), "==", 1),
        ],
        {
            "in_flight": [str(s) for s in in_flight],
            "new_requests_after_signal": dict(late_counts),
            "exit_status": process.returncode,
        },
    )
    assert in_flight == [200] * 8, in_flight
    assert late and accepted_late == 0, late_counts
    assert set(late_counts) <= {"ConnectError", "503"}, late_counts
    assert exit_s <= grace_s and stopped_cleanly, (process.returncode, api.log()[-2000:])


def _wait_exit(process: subprocess.Popen[bytes], bound_s: float) -> float:
    """When ``process`` exited (monotonic clock); infinity if not within ``bound_s``."""
    try:
        process.wait(timeout=bound_s)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.monotonic()
