"""Metrics, the access log and the OpenAPI document."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from amulet_ai.api.app import create_app
from amulet_ai.config import Settings
from amulet_ai.logging_setup import JsonFormatter


def _samples(client: TestClient) -> dict[str, float]:
    out = {}
    for line in client.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_cover_requests_latency_cache_rejections_memory_and_model(
    make_client: Callable[..., TestClient],
    make_photo: Callable[..., bytes],
    served_model: dict[str, str],
) -> None:
    client = make_client(cache_max_mb=0.004)  # about two results: the third evicts
    photos = [make_photo(224, 224, seed=500 + i) for i in range(3)]
    for image in photos:
        client.post("/v1/predict", files={"front": ("a.jpg", image)})
    client.post("/v1/predict", files={"front": ("a.jpg", photos[2])})  # a hit
    client.post("/v1/predict", files={"front": ("a.txt", b"nope")})
    samples = _samples(client)
    route = 'method="POST",route="/v1/predict"'
    assert samples[f'amulet_requests_total{{{route},status="200"}}'] == 4.0
    assert samples[f'amulet_requests_total{{{route},status="415"}}'] == 1.0
    assert samples["amulet_queue_wait_seconds_count"] == 4.0  # the bad file was a job too
    assert samples["amulet_decode_seconds_count"] == 3.0
    assert samples["amulet_inference_seconds_count"] == 3.0
    assert samples['amulet_request_duration_seconds_count{route="/v1/predict"}'] == 5.0
    assert samples["amulet_cache_hits_total"] == 1.0
    assert samples["amulet_cache_misses_total"] == 4.0
    assert samples["amulet_cache_evictions_total"] >= 1.0
    assert 0 < samples["amulet_cache_bytes"] <= 0.004 * 1024 * 1024
    assert samples["amulet_requests_in_flight"] == 1.0  # the scrape itself
    assert samples["amulet_process_rss_bytes"] > 10_000_000
    info = 'amulet_model_info{{name="{name}",version="{version}"}}'.format(**served_model)
    assert samples[info] == 1.0
    assert samples["amulet_model_loaded"] == 1.0
    assert all(name.startswith("amulet_") for name in samples)


def test_each_app_has_its_own_registry(settings_for: Callable[..., Settings]) -> None:
    first, second = create_app(settings_for()), create_app(settings_for())
    assert first.state.services.metrics.registry is not second.state.services.metrics.registry


def test_one_access_log_line_per_request(
    client: TestClient, photo: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    client.post("/v1/predict", files={"front": ("a.jpg", photo)})  # make the next one a hit
    with caplog.at_level(logging.INFO, logger="amulet_ai.api.access"):
        client.post(
            "/v1/predict", files={"front": ("a.jpg", photo)}, headers={"X-Request-ID": "log-1"}
        )
    lines = [r for r in caplog.records if r.name == "amulet_ai.api.access"]
    assert len(lines) == 1
    record = lines[0]
    text = record.getMessage()
    assert text.startswith("POST /v1/predict 200 ")
    assert text.endswith("ms request_id=log-1 cached=true")
    as_json = json.loads(JsonFormatter().format(record))
    assert {k: as_json[k] for k in ("method", "path", "status", "request_id", "cached")} == {
        "method": "POST",
        "path": "/v1/predict",
        "status": 200,
        "request_id": "log-1",
        "cached": True,
    }
    assert as_json["duration_ms"] > 0


def test_openapi_documents_every_response_with_an_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/v1/predict"]["post"]
    assert set(predict["responses"]) >= {"200", "400", "401", "403", "413", "415", "422", "429"}
    for status, response in predict["responses"].items():
        if status.startswith(("4", "5")):
            example = response["content"]["application/json"]["example"]
            assert set(example["error"]) == {"code", "message", "request_id"}, status
    body = predict["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["front"]
    assert body["properties"]["front"]["format"] == "binary"
    assert "batch" in spec["paths"]["/v1/predict/batch"]["post"]["operationId"]
    assert client.get("/docs").status_code == 200
