"""POST /v1/predict: the contract, the cache, and every way a client can get it wrong."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from harness import REQUEST_ID, error_body
from PIL import Image

from amulet_ai.api.schemas import PredictResponse

HEADERS = {"X-Request-ID": REQUEST_ID}
CLASS_FIELDS = {"class_id", "name_en", "name_th", "probability", "source"}


def test_prediction_has_every_contract_field(
    client: TestClient, make_photo: Callable[..., bytes], served_model: dict[str, str]
) -> None:
    photo = make_photo(224, 224, seed=9001)  # seen by no other test: not cached
    r = client.post("/v1/predict", files={"front": ("front.jpg", photo)}, headers=HEADERS)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {
        "request_id",
        "model",
        "status",
        "top1",
        "predictions",
        "unknown",
        "images",
        "heatmap",
        "cached",
        "timing_ms",
        "history_id",
    }
    assert body["history_id"] is None  # not saved without save=true
    assert body["request_id"] == REQUEST_ID
    assert body["model"] == served_model
    assert set(body["top1"]) == CLASS_FIELDS
    assert len(body["predictions"]) == 3
    assert body["predictions"][0] == body["top1"]
    assert {p["source"] for p in body["predictions"]} == {"model"}  # no enrolled types
    probabilities = [p["probability"] for p in body["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    unknown = body["unknown"]
    assert set(unknown) == {"is_unknown", "score", "threshold"}
    front = body["images"]["front"]
    assert (front["width"], front["height"], front["format"]) == (224, 224, "JPEG")
    assert set(front) == {"predictions", "unknown", "width", "height", "format", "location"}
    # A smooth pattern with no amulet on it: answered, but judged as no type.
    assert front["location"] == {
        "status": "no_amulet",
        "method": "localiser",
        "box": None,
        "confidence": front["location"]["confidence"],
    }
    assert body["status"] == "no_amulet"
    assert body["unknown"]["is_unknown"] is True
    assert body["images"]["back"] is None
    assert body["heatmap"] is None
    assert body["cached"] is False
    assert set(body["timing_ms"]) == {"decode", "locate", "inference", "total"}
    assert body["timing_ms"]["locate"] > 0
    assert body["timing_ms"]["total"] >= body["timing_ms"]["inference"] > 0
    PredictResponse.model_validate(body)  # the client library's own parse


def test_top_k_and_a_pair_with_heatmaps(
    client: TestClient, photo: bytes, other_photo: bytes
) -> None:
    r = client.post(
        "/v1/predict?top_k=6&explain=true",
        files={"front": ("f.jpg", photo), "back": ("b.jpg", other_photo)},
    )
    assert r.status_code == 200
    body = r.json()
    assert len(body["predictions"]) == 6
    assert abs(sum(p["probability"] for p in body["predictions"]) - 1.0) < 1e-3
    back = body["images"]["back"]
    assert (back["width"], back["height"]) == (320, 240)
    assert set(body["heatmap"]) == {"front", "back"}
    prefix = "data:image/png;base64,"
    assert body["heatmap"]["front"].startswith(prefix)
    png = base64.b64decode(body["heatmap"]["front"][len(prefix) :])
    assert Image.open(io.BytesIO(png)).format == "PNG"


def test_second_identical_request_is_a_cache_hit_that_decodes_nothing(
    make_client: Callable[..., TestClient], make_photo: Callable[..., bytes]
) -> None:
    client = make_client()
    image = make_photo(400, 300, seed=11)
    first = client.post("/v1/predict", files={"front": ("a.jpg", image)})
    decodes = _metric(client, "amulet_decode_seconds_count")
    second = client.post("/v1/predict", files={"front": ("renamed.jpg", image)})
    assert first.json()["cached"] is False
    assert second.json()["cached"] is True
    assert second.json()["timing_ms"]["decode"] == 0.0
    assert second.json()["timing_ms"]["inference"] == 0.0
    assert _metric(client, "amulet_decode_seconds_count") == decodes
    assert _strip_volatile(first.json()) == _strip_volatile(second.json())
    # Other options are another entry.
    third = client.post("/v1/predict?top_k=1", files={"front": ("a.jpg", image)})
    assert third.json()["cached"] is False
    assert _metric(client, "amulet_cache_hits_total") == 1.0


def _strip_volatile(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k not in ("request_id", "cached", "timing_ms")}


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def test_request_id_echoed_when_sane_and_replaced_when_not(client: TestClient) -> None:
    sane = client.get("/health/live", headers={"X-Request-ID": "abc-123.x:y_z"})
    assert sane.headers["X-Request-ID"] == "abc-123.x:y_z"
    for bad in ("x" * 129, "has space", "<script>"):
        r = client.get("/health/live", headers={"X-Request-ID": bad})
        assert r.headers["X-Request-ID"] != bad
        assert len(r.headers["X-Request-ID"]) == 16
    generated = client.get("/health/live").headers["X-Request-ID"]
    assert len(generated) == 16


def test_security_headers_on_every_response(client: TestClient, photo: bytes) -> None:
    for r in (
        client.post("/v1/predict", files={"front": ("a.jpg", photo)}),
        client.post("/v1/predict", files={"front": ("a.txt", b"text")}),
        client.get("/no/such/route"),
    ):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "no-store"
        assert "X-Request-ID" in r.headers


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "status", "code", "message"),
    [
        (
            b"plain text, not a picture",
            415,
            "unsupported_media_type",
            "Not an image in a supported format (JPEG, PNG, WebP, HEIC).",
        ),
        (b"", 415, "unsupported_media_type", "The file is empty."),
        (
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
            415,
            "unsupported_media_type",
            "Not an image in a supported format (JPEG, PNG, WebP, HEIC).",
        ),
    ],
)
def test_content_decides_the_type(
    client: TestClient, data: bytes, status: int, code: str, message: str
) -> None:
    r = client.post("/v1/predict", files={"front": ("a.jpg", data)}, headers=HEADERS)
    assert r.status_code == status
    assert r.json() == error_body(code, message)


def test_truncated_jpeg_is_400_corrupt_image(client: TestClient, photo: bytes) -> None:
    r = client.post("/v1/predict", files={"front": ("a.jpg", photo[: len(photo) // 2])})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "corrupt_image"


def test_too_many_pixels_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_image_pixels=100_000)
    r = client.post("/v1/predict", files={"front": ("a.png", _png(400, 400))}, headers=HEADERS)
    assert r.status_code == 413
    assert r.json() == {
        "error": {
            "code": "image_too_large",
            "message": "The image is 400x400 pixels; the limit is 100,000 pixels.",
            "request_id": REQUEST_ID,
            "details": {"width": 400, "height": 400, "max_pixels": 100000},
        }
    }


def test_missing_front_is_422(client: TestClient, photo: bytes) -> None:
    r = client.post("/v1/predict", files={"back": ("b.jpg", photo)}, headers=HEADERS)
    assert r.status_code == 422
    assert r.json() == {
        "error": {
            "code": "validation_error",
            "message": "front: field required.",
            "request_id": REQUEST_ID,
            "details": {"missing": ["front"]},
        }
    }


def test_wrong_field_name_is_422(client: TestClient, photo: bytes) -> None:
    r = client.post("/v1/predict", files={"image": ("a.jpg", photo)}, headers=HEADERS)
    assert r.status_code == 422
    assert r.json() == error_body(
        "validation_error", "Unexpected form field; this route takes: back, front."
    )


def test_front_twice_is_422(client: TestClient, photo: bytes) -> None:
    files = [("front", ("a.jpg", photo)), ("front", ("b.jpg", photo))]
    r = client.post("/v1/predict", files=files, headers=HEADERS)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "front: at most 1 file per request."


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("top_k=0", "query.top_k: Input should be greater than or equal to 1"),
        ("top_k=7", "query.top_k: Input should be less than or equal to 6"),
        (
            "top_k=three",
            "query.top_k: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "explain=maybe",
            "query.explain: Input should be a valid boolean, unable to interpret input",
        ),
    ],
)
def test_bad_query_parameters_are_422(
    client: TestClient, photo: bytes, query: str, message: str
) -> None:
    r = client.post(f"/v1/predict?{query}", files={"front": ("a.jpg", photo)}, headers=HEADERS)
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["message"], error["request_id"]) == (
        "validation_error",
        message,
        REQUEST_ID,
    )


def test_not_multipart_is_415(client: TestClient) -> None:
    r = client.post("/v1/predict", json={"front": "abc"}, headers=HEADERS)
    assert r.status_code == 415
    assert r.json() == error_body(
        "unsupported_media_type",
        "Send the photos as multipart/form-data, or one photo as the request body with "
        "Content-Type image/jpeg, image/png, image/webp, image/heic or image/heif.",
    )


def test_batch_not_multipart_is_415(client: TestClient) -> None:
    r = client.post("/v1/predict/batch", json={"files": "abc"}, headers=HEADERS)
    assert r.status_code == 415
    assert r.json() == error_body(
        "unsupported_media_type", "Send the photos as multipart/form-data."
    )


def test_multipart_without_boundary_is_400(client: TestClient) -> None:
    r = client.post(
        "/v1/predict",
        content=b"--x\r\n",
        headers={**HEADERS, "Content-Type": "multipart/form-data"},
    )
    assert r.status_code == 400
    assert r.json() == error_body("invalid_input", "The multipart/form-data body has no boundary.")


def test_body_cut_before_the_closing_boundary_is_400(client: TestClient, photo: bytes) -> None:
    body = (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="front"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + photo
    )
    r = client.post(
        "/v1/predict",
        content=body,
        headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=BOUNDARY"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_input"


def test_garbage_part_headers_are_400(client: TestClient) -> None:
    body = b"--B\r\n" + b"X" * 10_000 + b"\r\n\r\ndata\r\n--B--\r\n"
    r = client.post(
        "/v1/predict", content=body, headers={"Content-Type": "multipart/form-data; boundary=B"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_input"


def test_ten_thousand_tiny_parts_are_refused_quickly(client: TestClient) -> None:
    part = b'--B\r\nContent-Disposition: form-data; name="files"; filename="x"\r\n\r\nx\r\n'
    body = part * 10_000 + b"--B--\r\n"
    started = time.perf_counter()
    r = client.post(
        "/v1/predict/batch",
        content=body,
        headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert time.perf_counter() - started < 5.0
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "files: at most 16 files per request."
