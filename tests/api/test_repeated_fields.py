"""Against a real uvicorn on loopback: a multipart text field sent twice is named as repeated.

Every route whose form takes text (a new piece, a new enrolled type, a similarity search)
answers 422 ``validation_error`` naming the field and saying it was repeated, with
``details.field`` and ``details.repeated``; a file field sent too often keeps its "at most
N files" answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from amulet_ai.api.app import create_app
from amulet_ai.config import Settings
from amulet_ai.ops.api_process import ApiThread

REQUEST_ID = "repeated-1"
TEXT_FIELDS = [
    ("/v1/pieces", "front", "name"),
    ("/v1/pieces", "front", "notes"),
    ("/v1/pieces", "front", "confirmed_class_id"),
    ("/v1/types", "photos", "name_en"),
    ("/v1/types", "photos", "name_th"),
    ("/v1/types", "photos", "description"),
    ("/v1/similar", "front", "limit"),
]


@pytest.fixture(scope="module")
def http(
    settings_for: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    data_dir = tmp_path_factory.mktemp("repeated")
    settings = settings_for(data_dir=data_dir, history="photos")
    with ApiThread(create_app(settings)) as server:
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            yield client


def _post(http: httpx.Client, path: str, parts: list[tuple[str, Any]]) -> httpx.Response:
    return http.post(path, files=parts, headers={"X-Request-ID": REQUEST_ID})


@pytest.mark.parametrize(("path", "file_field", "field"), TEXT_FIELDS)
def test_a_text_field_sent_twice_is_named_as_repeated(
    http: httpx.Client, photo: bytes, path: str, file_field: str, field: str
) -> None:
    parts: list[tuple[str, Any]] = [
        (file_field, ("a.jpg", photo, "image/jpeg")),
        (field, (None, b"3", "text/plain")),
        (field, (None, b"4", "text/plain")),
    ]
    r = _post(http, path, parts)
    assert r.status_code == 422, r.text
    assert r.json() == {
        "error": {
            "code": "validation_error",
            "message": f"{field}: the field is repeated; send it once.",
            "request_id": REQUEST_ID,
            "details": {"field": field, "repeated": True},
        }
    }


def test_a_text_field_repeated_before_any_file_is_refused_too(
    http: httpx.Client, photo: bytes
) -> None:
    parts: list[tuple[str, Any]] = [
        ("name_en", (None, b"One", "text/plain")),
        ("name_en", (None, b"Two", "text/plain")),
        *[("photos", (f"{i}.jpg", photo, "image/jpeg")) for i in range(3)],
    ]
    r = _post(http, "/v1/types", parts)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "name_en: the field is repeated; send it once."


def test_a_file_field_sent_too_often_still_counts_files(http: httpx.Client, photo: bytes) -> None:
    parts = [("front", ("a.jpg", photo, "image/jpeg")), ("front", ("b.jpg", photo, "image/jpeg"))]
    for path in ("/v1/predict", "/v1/pieces", "/v1/similar"):
        r = _post(http, path, parts)
        assert r.status_code == 422
        assert r.json()["error"]["message"] == "front: at most 1 file per request."
        assert r.json()["error"]["details"] == {"field": "front", "max_files": 1}


def test_predict_takes_its_options_in_the_query_not_the_form(
    http: httpx.Client, photo: bytes
) -> None:
    parts = [("front", ("a.jpg", photo, "image/jpeg")), ("top_k", (None, b"2", "text/plain"))]
    r = _post(http, "/v1/predict", parts)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "Unexpected form field; this route takes: back, front."
