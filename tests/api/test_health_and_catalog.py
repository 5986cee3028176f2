"""Catalog, health and Open Inference Protocol routes, and readiness as things go wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from harness import REQUEST_ID, error_body

HEADERS = {"X-Request-ID": REQUEST_ID}


def test_classes_list_the_six_types_in_both_languages(
    client: TestClient, served_model: dict[str, str]
) -> None:
    r = client.get("/v1/classes")
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == served_model
    assert len(body["classes"]) == 6
    for entry in body["classes"]:
        assert {"id", "name_en", "name_th", "description", "description_th"} <= set(entry)
        assert entry["name_th"] and entry["name_en"]


def test_model_reports_metadata_and_measured_metrics(
    client: TestClient, served_model: dict[str, str]
) -> None:
    body = client.get("/v1/model").json()
    assert body["name"] == served_model["name"]
    assert body["input_size"] == 224
    assert body["unknown"]["threshold"] > 0
    assert body["onnx_sha256"] and len(body["onnx_sha256"]) == 64
    assert body["metrics"], "the metadata's measured metrics are passed through"
    assert len(body["classes"]) == 6
    assert body["onnx_file"] == "amulet_classifier.onnx"


def test_model_tells_the_servers_upload_limits(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_upload_mb=7.5, max_batch_files=4, max_image_pixels=1_000_000)
    assert client.get("/v1/model").json()["limits"] == {
        "max_upload_mb": 7.5,
        "max_batch_files": 4,
        "max_image_pixels": 1_000_000,
    }


def test_health_report_when_all_is_well(client: TestClient, served_model: dict[str, str]) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["reasons"] == []
    assert body["model"]["loaded"] is True
    assert body["model"]["version"] == served_model["version"]
    assert body["model"]["error"] is None
    assert body["memory"]["under_limit"] is True
    assert 0 < body["memory"]["rss_mb"] < body["memory"]["limit_mb"]
    assert body["cache"]["enabled"] is True and body["cache"]["max_bytes"] > 0
    assert body["work"]["requests_in_flight"] == 1  # this request
    assert body["work"]["inference_workers"] == 2
    assert body["work"]["inference_capacity"] == 18
    assert body["uptime_s"] > 0
    assert client.get("/health/live").json() == {"status": "ok", "reasons": []}
    assert client.get("/health/ready").json() == {"status": "ok", "reasons": []}


def test_open_inference_protocol_routes(client: TestClient, served_model: dict[str, str]) -> None:
    name = served_model["name"]
    assert client.get("/v2").json()["name"] == "amulet-ai"
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get(f"/v2/models/{name}").json()
    assert meta["versions"] == [served_model["version"]]
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert [o["name"] for o in meta["outputs"]] == ["logits", "unknown_score", "cam"]
    ready = client.get(f"/v2/models/{name}/ready")
    assert (ready.status_code, ready.json()) == (
        200,
        {"name": name, "ready": True},
    )
    r = client.get("/v2/models/other", headers=HEADERS)
    assert r.status_code == 404
    assert r.json() == error_body("not_found", "No model named 'other' is served here.")


def _assert_unavailable(client: TestClient, photo: bytes, reason: str) -> None:
    assert client.get("/health/live").status_code == 200
    assert client.get("/v2/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reasons": [f"model not loaded: {reason}"]}
    assert client.get("/v2/health/ready").json() == {"ready": False}
    report = client.get("/health")
    assert report.status_code == 503
    assert report.json()["status"] == "unavailable"
    assert report.json()["model"] == {
        "loaded": False,
        "name": None,
        "version": None,
        "loaded_at": None,
        "error": reason,
        "localiser": None,
    }
    r = client.post("/v1/predict", files={"front": ("a.jpg", photo)}, headers=HEADERS)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert r.json() == error_body("model_unavailable", reason)
    assert client.get("/v1/classes").status_code == 503


def test_missing_model_leaves_the_app_live_but_not_ready(
    make_client: Callable[..., TestClient], photo: bytes, tmp_path: Path
) -> None:
    client = make_client(model_dir=tmp_path)
    _assert_unavailable(client, photo, "Model metadata metadata.json is missing.")


@pytest.mark.parametrize(
    ("checksum_in_metadata", "reason"),
    [
        (True, "Model file amulet_classifier.onnx does not match its metadata."),
        (False, "Model file amulet_classifier.onnx could not be loaded."),
    ],
)
def test_corrupt_model_leaves_the_app_live_but_not_ready(
    make_client: Callable[..., TestClient],
    photo: bytes,
    tmp_path: Path,
    model_dir: Path,
    checksum_in_metadata: bool,
    reason: str,
) -> None:
    metadata = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    if not checksum_in_metadata:
        metadata["onnx_sha256"] = None
    (tmp_path / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    (tmp_path / "amulet_classifier.onnx").write_bytes(b"\x08\x07" + b"\x00" * 1000)
    client = make_client(model_dir=tmp_path)
    _assert_unavailable(client, photo, reason)


def test_memory_guard_refuses_work_and_readiness_says_so(
    make_client: Callable[..., TestClient], photo: bytes
) -> None:
    client = make_client(memory_limit_mb=1.0)
    r = client.post("/v1/predict", files={"front": ("a.jpg", photo)}, headers=HEADERS)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2"
    assert r.json() == error_body(
        "memory_pressure", "The server is above its memory ceiling of 1 MB."
    )
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["reasons"] == ["memory above the ceiling"]
    report = client.get("/health").json()
    assert report["status"] == "degraded"
    assert report["memory"]["under_limit"] is False
    assert client.get("/health/live").status_code == 200
    assert 'amulet_rejections_total{reason="memory"} 1.0' in client.get("/metrics").text


def test_draining_refuses_new_work_but_probes_answer(
    make_client: Callable[..., TestClient], photo: bytes
) -> None:
    client = make_client()
    client.app.state.services.traffic.begin_drain()  # type: ignore[attr-defined]
    r = client.post("/v1/predict", files={"front": ("a.jpg", photo)}, headers=HEADERS)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1"
    assert r.headers["Connection"] == "close"
    assert r.json() == error_body(
        "shutting_down", "The server is shutting down; try another instance or again shortly."
    )
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert (ready.status_code, ready.json()["reasons"]) == (503, ["shutting down"])


def test_not_found_and_method_not_allowed_use_the_envelope(client: TestClient) -> None:
    r = client.get("/v1/nothing-here", headers=HEADERS)
    assert r.status_code == 404
    assert r.json() == error_body("not_found", "No such resource.")
    r = client.get("/v1/predict", headers=HEADERS)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert r.json() == error_body(
        "method_not_allowed", "This method is not allowed on this resource."
    )
