"""Against a real uvicorn on loopback: the key is checked before the body is read.

A caller without the right key learns nothing about what the body should be: every admin
route, and every route that takes a JSON body, answers 401 or 403 to a bad body sent
without the key, the same answer it gives a good one. With the key the body is validated
as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from amulet_ai.api.app import create_app
from amulet_ai.config import Settings
from amulet_ai.ops.api_process import ApiThread

ADMIN = {"X-Admin-Key": "admin-secret"}
USER = {"X-API-Key": "user-key"}
JSON = {"Content-Type": "application/json"}
BAD_BODIES = {
    "malformed": b"{not json",
    "ill_typed": b'{"published": "maybe", "correct": "maybe", "name": 5}',
    "deep": b"[" * 50_000 + b"]" * 50_000,
    "not_utf8": b'{"name": "\xff\xfe"}',
    "over_the_json_cap": b'{"notes": "' + b"x" * (1024 * 1024 + 1) + b'"}',
}
ADMIN_ROUTES = [("PUT", "/v1/types/1/published"), ("POST", "/v1/admin/reload")]
KEYED_ROUTES = [("POST", "/v1/history/1/feedback"), ("PATCH", "/v1/pieces/1")]


@pytest.fixture(scope="module")
def http(
    settings_for: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    settings = settings_for(
        api_keys="user-key",
        admin_key="admin-secret",
        data_dir=tmp_path_factory.mktemp("auth-first"),
        history="photos",
    )
    with ApiThread(create_app(settings)) as server:
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            yield client


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _refused_without_the_key(
    http: httpx.Client, method: str, path: str, content: bytes, key_header: str
) -> None:
    """No key is 401 and a wrong one 403, whatever the body."""
    assert _code(http.request(method, path, content=content, headers=JSON)) == (
        401,
        "unauthorized",
    )
    wrong = {**JSON, key_header: "not-it"}
    assert _code(http.request(method, path, content=content, headers=wrong)) == (403, "forbidden")


@pytest.mark.parametrize("body", BAD_BODIES, ids=list(BAD_BODIES))
@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_an_admin_route_answers_a_bad_body_without_the_key_with_the_auth_error(
    http: httpx.Client, method: str, path: str, body: str
) -> None:
    content = BAD_BODIES[body]
    _refused_without_the_key(http, method, path, content, "X-Admin-Key")
    # A user key without the admin scope is refused for the scope, not for the body.
    user = {**JSON, **USER}
    r = http.request(method, path, content=content, headers=user)
    assert _code(r) == (403, "forbidden")
    assert r.json()["error"]["details"] == {"scope": "admin"}


@pytest.mark.parametrize("body", BAD_BODIES, ids=list(BAD_BODIES))
@pytest.mark.parametrize(("method", "path"), KEYED_ROUTES)
def test_a_keyed_json_route_answers_a_bad_body_without_the_key_with_the_auth_error(
    http: httpx.Client, method: str, path: str, body: str
) -> None:
    _refused_without_the_key(http, method, path, BAD_BODIES[body], "X-API-Key")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("malformed", (422, "validation_error")),
        ("ill_typed", (422, "validation_error")),
        ("deep", (400, "invalid_input")),
        ("not_utf8", (400, "invalid_input")),
        ("over_the_json_cap", (413, "payload_too_large")),
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("PUT", "/v1/types/1/published", ADMIN),
        ("POST", "/v1/history/1/feedback", USER),
        ("PATCH", "/v1/pieces/1", USER),
    ],
)
def test_with_the_key_the_body_is_still_validated(
    http: httpx.Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str,
    expected: tuple[int, str],
) -> None:
    r = http.request(method, path, content=BAD_BODIES[body], headers={**JSON, **headers})
    assert _code(r) == expected, r.text


def test_with_the_admin_key_a_good_body_reaches_the_route(http: httpx.Client) -> None:
    r = http.put("/v1/types/1/published", json={"published": True}, headers=ADMIN)
    assert _code(r) == (404, "not_found")  # no type 1 on this fresh database
    assert http.put("/v1/types/1/published", json={"published": True}).status_code == 401


def test_a_bad_body_field_is_named_as_before(http: httpx.Client) -> None:
    r = http.put("/v1/types/1/published", json={"published": "maybe"}, headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == (
        "body.published: Input should be a valid boolean, unable to interpret input"
    )
    r = http.put("/v1/types/1/published", content=b"", headers={**ADMIN, **JSON})
    assert r.json()["error"]["message"] == "body: Field required"


def test_openapi_still_documents_the_json_bodies(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path, method, field in (
        ("/v1/types/{type_id}/published", "put", "published"),
        ("/v1/history/{item_id}/feedback", "post", "correct"),
        ("/v1/pieces/{piece_id}", "patch", "notes"),
    ):
        body = paths[path][method]["requestBody"]
        assert body["required"] is True
        assert field in body["content"]["application/json"]["schema"]["properties"]
