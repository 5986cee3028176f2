"""POST /v1/predict with the photo as the raw request body: same answer, same limits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from harness import REQUEST_ID, error_body

HEADERS = {"X-Request-ID": REQUEST_ID}


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_raw_body_gets_the_multipart_answer(
    client: TestClient, make_photo: Callable[..., bytes], fmt: str, media_type: str
) -> None:
    photo = make_photo(300, 260, fmt=fmt, seed=7100)
    multipart = client.post("/v1/predict?top_k=6", files={"front": ("f", photo)}).json()
    raw = client.post("/v1/predict?top_k=6", content=photo, headers={"Content-Type": media_type})
    assert raw.status_code == 200
    body = raw.json()
    assert body["cached"] is True, "the same bytes hit the verdict cached from multipart"
    for key in ("top1", "predictions", "unknown", "images"):
        assert body[key] == multipart[key]
    assert body["images"]["front"]["format"] == fmt
    assert body["images"]["back"] is None


def test_raw_body_with_charset_parameter_is_accepted(
    client: TestClient, make_photo: Callable[..., bytes]
) -> None:
    photo = make_photo(224, 224, seed=7101)
    r = client.post(
        "/v1/predict", content=photo, headers={"Content-Type": "Image/JPEG; name=x.jpg"}
    )
    assert r.status_code == 200
    assert r.json()["cached"] is False


def test_raw_body_over_the_upload_ceiling_is_413(
    make_client: Callable[..., TestClient], make_photo: Callable[..., bytes]
) -> None:
    client = make_client(max_upload_mb=0.01)  # 10 kB
    photo = make_photo(640, 480, seed=7102)
    assert len(photo) > 10 * 1024
    r = client.post("/v1/predict", content=photo, headers={**HEADERS, "Content-Type": "image/jpeg"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_empty_raw_body_is_422(client: TestClient) -> None:
    r = client.post("/v1/predict", content=b"", headers={**HEADERS, "Content-Type": "image/png"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error.pop("details") == {"missing": ["front"]}
    assert {"error": error} == error_body("validation_error", "front: the request body is empty.")


def test_raw_body_that_is_not_an_image_is_415(client: TestClient) -> None:
    r = client.post(
        "/v1/predict", content=b"GIF89a" + b"\0" * 64, headers={"Content-Type": "image/jpeg"}
    )
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"


def test_openapi_documents_the_raw_body(client: TestClient) -> None:
    content = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"][
        "content"
    ]
    assert set(content) == {
        "multipart/form-data",
        "image/heic",
        "image/heif",
        "image/jpeg",
        "image/png",
        "image/webp",
    }
