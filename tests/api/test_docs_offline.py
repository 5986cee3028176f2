"""``/docs``, ``/redoc`` and the favicon need no internet: every file they load is served
by the API itself, from the ``fastapi-offline`` package and ``amulet_ai/static``."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_load_only_what_the_api_serves(
    client: TestClient, page: str
) -> None:
    html = client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    loaded = [a or b for a, b in ASSET.findall(html.text)]
    assert loaded, "the page names the files it loads"
    assert [url for url in loaded if not url.startswith("/")] == [], "nothing from a CDN"
    for url in loaded:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert len(answer.content) > 1000 or url.endswith(".json"), url
    scripts = [url for url in loaded if url.endswith(".js")]
    assert scripts and all(
        "javascript" in client.get(url).headers["content-type"] for url in scripts
    )


def test_the_favicon_is_a_png_of_its_own(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_documentation_routes_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc", "/favicon.ico", "/docs/oauth2-redirect"} & set(paths)
