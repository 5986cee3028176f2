"""Against a real uvicorn on loopback: which Content-Types a photo may come with.

A raw body of ``POST /v1/predict`` may be declared with the canonical image types, their
common aliases (``image/jpg``, ``image/pjpeg``, ``image/x-png``, ...) or
``application/octet-stream``; the decoder tells the format from the bytes in every case,
as it does for a multipart part, whose own Content-Type is never read. So the two paths
give the same answer for the same bytes, and the same limits hold on both.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from amulet_ai.api.app import create_app
from amulet_ai.api.uploads import RAW_PHOTO_ALIASES, UNTYPED_BODY
from amulet_ai.config import Settings
from amulet_ai.ops.api_process import ApiThread

ALIASES = sorted(RAW_PHOTO_ALIASES)
UPLOAD_CEILING = 262_144  # max_upload_mb=0.25


@pytest.fixture(scope="module")
def http(settings_for: Callable[..., Settings]) -> Iterator[httpx.Client]:
    """A client on a live server with small limits: 256 kB, 1 MP, 8 MB per decode."""
    settings = settings_for(
        max_upload_mb=0.25, max_image_pixels=1_000_000, decode_memory_limit_mb=8.0
    )
    with ApiThread(create_app(settings)) as server:
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            yield client


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos(make_photo: Callable[..., bytes]) -> dict[str, bytes]:
    gif = Image.new("P", (64, 64), 3)
    deep = Image.fromarray(np.full((900, 1000), 40000, dtype=np.uint16))
    return {
        "jpeg": make_photo(300, 260, seed=7300),
        "png": make_photo(240, 240, fmt="PNG", seed=7301),
        "webp": make_photo(240, 240, fmt="WEBP", seed=7302),
        "gif": _encoded(gif, "GIF"),
        "over_pixels": make_photo(1200, 1000, seed=7303),  # 1.2 MP, small as a JPEG
        "over_decode_memory": _encoded(deep, "PNG"),  # 16-bit: under 1 MP, over 8 MB
    }


def _raw(http: httpx.Client, data: bytes, media_type: str) -> httpx.Response:
    return http.post("/v1/predict", content=data, headers={"Content-Type": media_type})


def _multipart(http: httpx.Client, data: bytes, media_type: str) -> httpx.Response:
    return http.post("/v1/predict", files={"front": ("photo", data, media_type)})


def _code(response: httpx.Response) -> tuple[int, str | None]:
    if response.status_code == 200:
        return 200, None
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("media_type", "kind"),
    [
        ("image/jpg", "jpeg"),
        ("image/pjpeg", "jpeg"),
        ("image/x-citrix-jpeg", "jpeg"),
        ("image/x-png", "png"),
        ("image/x-citrix-png", "png"),
        (UNTYPED_BODY, "jpeg"),
        (UNTYPED_BODY, "png"),
        (UNTYPED_BODY, "webp"),
    ],
)
def test_an_alias_or_untyped_raw_body_gets_the_canonical_answer(
    http: httpx.Client, photos: dict[str, bytes], media_type: str, kind: str
) -> None:
    canonical = _raw(http, photos[kind], f"image/{kind}")
    assert canonical.status_code == 200, canonical.text
    r = _raw(http, photos[kind], media_type)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["images"]["front"]["format"] == kind.upper()
    assert body["top1"] == canonical.json()["top1"]


def test_every_alias_is_tested() -> None:
    assert set(ALIASES) == {
        "image/jpg",
        "image/pjpeg",
        "image/x-citrix-jpeg",
        "image/x-png",
        "image/x-citrix-png",
    }


@pytest.mark.parametrize("media_type", [UNTYPED_BODY, "image/jpg", "image/x-png"])
def test_a_body_that_is_no_supported_format_is_415(
    http: httpx.Client, photos: dict[str, bytes], media_type: str
) -> None:
    for data in (photos["gif"], b"%PDF-1.7\n" + b"\0" * 512, b"just some text"):
        r = _raw(http, data, media_type)
        assert _code(r) == (415, "unsupported_media_type"), r.text


@pytest.mark.parametrize("media_type", [*ALIASES, UNTYPED_BODY, "image/jpeg"])
@pytest.mark.parametrize("kind", ["jpeg", "png", "gif", "over_pixels", "over_decode_memory"])
def test_raw_body_and_multipart_part_agree(
    http: httpx.Client, photos: dict[str, bytes], media_type: str, kind: str
) -> None:
    raw, part = _raw(http, photos[kind], media_type), _multipart(http, photos[kind], media_type)
    assert _code(raw) == _code(part)
    expected = {
        "jpeg": (200, None),
        "png": (200, None),
        "gif": (415, "unsupported_media_type"),
        "over_pixels": (413, "image_too_large"),
        "over_decode_memory": (413, "image_too_large"),
    }[kind]
    assert _code(raw) == expected, raw.text


def test_an_untyped_body_over_the_upload_ceiling_is_413(
    http: httpx.Client, photos: dict[str, bytes]
) -> None:
    big = photos["jpeg"] + b"\0" * UPLOAD_CEILING  # still a JPEG by its bytes
    r = _raw(http, big, UNTYPED_BODY)
    assert _code(r) == (413, "payload_too_large")
    # Chunked, so no Content-Length tells the size in advance: counted as it streams.
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
    r = http.post("/v1/predict", content=chunks, headers={"Content-Type": UNTYPED_BODY})
    assert _code(r) == (413, "payload_too_large")


def test_an_empty_untyped_body_is_422(http: httpx.Client) -> None:
    r = _raw(http, b"", UNTYPED_BODY)
    assert _code(r) == (422, "validation_error")
    assert r.json()["error"]["details"] == {"missing": ["front"]}


@pytest.mark.parametrize("media_type", ["image/gif", "image/tiff", "text/plain"])
def test_a_type_naming_another_format_is_still_415(
    http: httpx.Client, photos: dict[str, bytes], media_type: str
) -> None:
    r = _raw(http, photos["jpeg"], media_type)
    assert _code(r) == (415, "unsupported_media_type")


def test_the_batch_route_still_takes_only_multipart(
    http: httpx.Client, photos: dict[str, bytes]
) -> None:
    r = http.post(
        "/v1/predict/batch", content=photos["jpeg"], headers={"Content-Type": UNTYPED_BODY}
    )
    assert _code(r) == (415, "unsupported_media_type")


def test_openapi_says_what_else_the_raw_body_may_be(http: httpx.Client) -> None:
    body = http.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]
    for media_type in [*ALIASES, UNTYPED_BODY]:
        assert media_type in body["description"]
