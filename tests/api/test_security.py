"""API keys, the admin key, rate limits, CORS, and what an error body may never show."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from harness import REQUEST_ID, error_body

HEADERS = {"X-Request-ID": REQUEST_ID}


@pytest.fixture
def keyed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_keys="key-one,key-two", admin_key="admin-secret")


def test_keys_required_when_configured(keyed: TestClient, photo: bytes) -> None:
    r = keyed.get("/v1/classes", headers=HEADERS)
    assert r.status_code == 401
    assert r.json() == error_body("unauthorized", "An API key is required in the X-API-Key header.")
    r = keyed.get("/v1/classes", headers={**HEADERS, "X-API-Key": "key-three"})
    assert r.status_code == 403
    assert r.json() == error_body("forbidden", "The API key is not valid.")
    for key in ("key-one", "key-two"):
        assert keyed.get("/v1/classes", headers={"X-API-Key": key}).status_code == 200
    ok = keyed.post(
        "/v1/predict", files={"front": ("a.jpg", photo)}, headers={"X-API-Key": "key-two"}
    )
    assert ok.status_code == 200
    refused = keyed.post("/v1/predict", files={"front": ("a.jpg", photo)})
    assert refused.status_code == 401


def test_probes_and_metrics_need_no_key(keyed: TestClient) -> None:
    for path in ("/health", "/health/live", "/health/ready", "/v2/health/ready", "/metrics"):
        assert keyed.get(path).status_code == 200, path


def test_admin_routes_need_the_admin_key(keyed: TestClient, served_model: dict[str, str]) -> None:
    r = keyed.post("/v1/admin/reload", headers=HEADERS)
    assert r.status_code == 401
    assert r.json() == error_body(
        "unauthorized", "An admin key is required in the X-Admin-Key header."
    )
    r = keyed.post("/v1/admin/reload", headers={**HEADERS, "X-Admin-Key": "key-one"})
    assert r.status_code == 403
    assert r.json() == error_body("forbidden", "The admin key is not valid.")
    r = keyed.post("/v1/admin/reload", headers={"X-Admin-Key": "admin-secret"})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == served_model
    assert body["previous"] == body["model"]
    assert body["duration_ms"] > 0


def test_admin_routes_are_off_without_an_admin_key(client: TestClient) -> None:
    r = client.post("/v1/admin/reload", headers={**HEADERS, "X-Admin-Key": "anything"})
    assert r.status_code == 403
    assert r.json() == error_body(
        "forbidden", "Admin routes are disabled: no admin key is configured."
    )


def test_rate_limit_per_key_with_headers(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys="alpha,beta", rate_limit="3/minute")
    alpha = {"X-API-Key": "alpha", **HEADERS}
    remaining = []
    for _ in range(3):
        r = client.get("/v1/classes", headers=alpha)
        assert r.status_code == 200
        assert r.headers["RateLimit-Limit"] == "3"
        remaining.append(r.headers["RateLimit-Remaining"])
        assert 0 < int(r.headers["RateLimit-Reset"]) <= 60
    assert remaining == ["2", "1", "0"]
    r = client.get("/v1/classes", headers=alpha)
    assert r.status_code == 429
    assert r.json() == error_body(
        "rate_limited",
        f"Rate limit of 3 requests exceeded; retry in {r.headers['RateLimit-Reset']} s.",
    )
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["RateLimit-Remaining"] == "0"
    # Another key has its own budget; probes are never limited.
    assert client.get("/v1/classes", headers={"X-API-Key": "beta"}).status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert 'amulet_rejections_total{reason="rate_limit"} 1.0' in client.get("/metrics").text


def test_rate_limit_per_client_ip_when_anonymous(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit="2/minute")
    assert [client.get("/v1/model").status_code for _ in range(3)] == [200, 200, 429]


def test_cors_follows_the_settings(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins="https://shop.example")
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key",
    }
    r = client.options("/v1/predict", headers=preflight)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    r = client.get("/v1/classes", headers={"Origin": "https://shop.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "X-Request-ID" in r.headers["Access-Control-Expose-Headers"]
    r = client.options(
        "/v1/predict", headers={**preflight, **HEADERS, "Origin": "https://evil.example"}
    )
    assert r.status_code == 400
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.headers["X-Request-ID"] == REQUEST_ID
    assert r.json() == {
        "error": {
            "code": "cors_rejected",
            "message": "The CORS preflight was refused: origin not allowed.",
            "request_id": REQUEST_ID,
            "details": {"refused": ["origin"]},
        }
    }
    r = client.options(
        "/v1/predict",
        headers={**preflight, "Access-Control-Request-Method": "PUT", "Origin": "https://x.y"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"refused": ["origin", "method"]}


def test_no_cors_headers_when_no_origin_is_configured(client: TestClient) -> None:
    r = client.get("/v1/classes", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_an_unexpected_error_is_500_with_no_details(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()

    def explode() -> None:
        raise RuntimeError("secret detail at /srv/amulet/internal.py")

    client.app.add_api_route("/boom", explode)  # type: ignore[attr-defined]
    with caplog.at_level("ERROR", logger="amulet_ai.api.middleware"):
        r = client.get("/boom", headers=HEADERS)
    assert r.status_code == 500
    assert r.json() == error_body("internal_error", "Internal error.")
    assert "secret" not in r.text and "Traceback" not in r.text
    assert r.headers["X-Request-ID"] == REQUEST_ID
    logged = [rec for rec in caplog.records if rec.name == "amulet_ai.api.middleware"]
    assert logged and logged[0].exc_info is not None
    assert REQUEST_ID in logged[0].getMessage()


def test_error_bodies_never_show_paths_or_traces(client: TestClient, photo: bytes) -> None:
    bodies = [
        client.post("/v1/predict", files={"front": ("a.jpg", photo[:300])}).text,
        client.post("/v1/predict", files={"front": ("a.jpg", b"GIF89a" + b"\x00" * 50)}).text,
        client.post("/v1/predict", content=b"x", headers={"Content-Type": "text/plain"}).text,
        client.get("/v2/models/../../etc/passwd").text,
    ]
    for body in bodies:
        assert "Traceback" not in body
        assert "/work" not in body and ".py" not in body and "site-packages" not in body
