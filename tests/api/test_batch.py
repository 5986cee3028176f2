"""POST /v1/predict/batch: one result per file, in order; a bad file fails only itself."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from harness import REQUEST_ID

from amulet_ai.api.schemas import BatchResponse

HEADERS = {"X-Request-ID": REQUEST_ID}


def test_bad_file_among_good_ones_gets_its_own_error(
    client: TestClient, make_photo: Callable[..., bytes], served_model: dict[str, str]
) -> None:
    good_a, good_b = make_photo(224, 224, seed=21), make_photo(300, 200, seed=22)
    files = [
        ("files", ("a.jpg", good_a)),
        ("files", ("notes.txt", b"not an image")),
        ("files", ("b.jpg", good_b)),
        ("files", ("cut.jpg", good_a[:200])),
    ]
    r = client.post("/v1/predict/batch?top_k=2", files=files, headers=HEADERS)
    assert r.status_code == 200
    body = r.json()
    BatchResponse.model_validate(body)
    assert body["request_id"] == REQUEST_ID
    assert body["model"] == served_model
    results = body["results"]
    assert [item["index"] for item in results] == [0, 1, 2, 3]
    assert [item["filename"] for item in results] == ["a.jpg", "notes.txt", "b.jpg", "cut.jpg"]
    assert results[0]["error"] is None and len(results[0]["result"]["predictions"]) == 2
    assert results[2]["result"]["images"]["front"]["width"] == 300
    assert results[1]["result"] is None
    assert results[1]["error"] == {
        "code": "unsupported_media_type",
        "message": "Not an image in a supported format (JPEG, PNG, WebP, HEIC).",
        "request_id": None,
        "details": None,
    }
    assert results[3]["error"]["code"] == "corrupt_image"


def test_batch_results_match_single_predictions_and_use_the_cache(
    make_client: Callable[..., TestClient], make_photo: Callable[..., bytes]
) -> None:
    client = make_client()
    image = make_photo(256, 256, seed=23)
    single = client.post("/v1/predict", files={"front": ("x.jpg", image)}).json()
    batch = client.post(
        "/v1/predict/batch",
        files=[("files", ("x.jpg", image)), ("files", ("y.jpg", make_photo(seed=24)))],
    ).json()
    first = batch["results"][0]
    assert first["cached"] is True  # same bytes, model and options as the single call
    assert first["result"]["predictions"] == single["predictions"]
    assert batch["results"][1]["cached"] is False


def test_no_files_is_422(client: TestClient) -> None:
    r = client.post(
        "/v1/predict/batch",
        content=b"--B--\r\n",
        headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "files: field required."


def test_more_files_than_allowed_is_422(
    make_client: Callable[..., TestClient], photo: bytes
) -> None:
    client = make_client(max_batch_files=2)
    files = [("files", (f"{i}.jpg", photo)) for i in range(3)]
    r = client.post("/v1/predict/batch", files=files, headers=HEADERS)
    assert r.status_code == 422
    assert r.json() == {
        "error": {
            "code": "validation_error",
            "message": "files: at most 2 files per request.",
            "request_id": REQUEST_ID,
            "details": {"field": "files", "max_files": 2},
        }
    }


def test_an_oversized_file_gets_its_own_413_entry_and_the_rest_are_classified(
    make_client: Callable[..., TestClient], make_photo: Callable[..., bytes]
) -> None:
    client = make_client(max_upload_mb=0.25, max_batch_files=4)
    good = make_photo(224, 224, seed=31)
    huge = good + b"\0" * (300 * 1024)  # a JPEG with 300 KB of trailing bytes: over 256 KB
    files = [
        ("files", ("good.jpg", good)),
        ("files", ("huge.jpg", huge)),
        ("files", ("also_good.jpg", make_photo(200, 200, seed=32))),
    ]
    r = client.post("/v1/predict/batch", files=files, headers=HEADERS)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [item["filename"] for item in results] == ["good.jpg", "huge.jpg", "also_good.jpg"]
    assert results[0]["result"] and results[2]["result"]
    assert results[1]["result"] is None
    assert results[1]["error"] == {
        "code": "payload_too_large",
        "message": "The upload is larger than 256 KB.",
        "request_id": None,
        "details": {"max_bytes": 262_144},
    }


def test_the_batch_body_cap_still_refuses_the_whole_request(
    make_client: Callable[..., TestClient], make_photo: Callable[..., bytes]
) -> None:
    client = make_client(max_upload_mb=0.25, max_batch_files=2)
    huge = b"\xff\xd8" + b"\0" * (300 * 1024)
    files = [("files", (f"huge{i}.jpg", huge)) for i in range(2)]  # past 2 x 256 KB + framing
    r = client.post("/v1/predict/batch", files=files, headers=HEADERS)
    assert r.status_code == 413
    assert r.json()["error"]["message"] == "The request body is larger than 576 KB."


def test_a_batch_of_only_oversized_files_answers_each_with_its_error(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(max_upload_mb=0.25, max_batch_files=2)
    files = [("files", ("huge.jpg", b"\xff\xd8" + b"\0" * (260 * 1024)))]
    r = client.post("/v1/predict/batch", files=files, headers=HEADERS)
    assert r.status_code == 200, r.text
    (item,) = r.json()["results"]
    assert item["error"]["code"] == "payload_too_large" and item["result"] is None
