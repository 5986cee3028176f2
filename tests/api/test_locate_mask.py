"""``mask=true``: each located photo's localiser mask in the answer, through the real app on
the committed models, on generated scenes (a development photo's amulet cut out of its
studio backdrop and placed on a generated one, made at run time): the mask lies on the
amulet, it is absent unless asked and where nothing was located, the cache keeps answers
with and without it apart, the raw body and the batch route take it, the history keeps no
mask, and OpenAPI documents it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from harness import post_front
from PIL import Image

from amulet_ai.api.saving import stored_result
from amulet_ai.imaging.masks import mask_from_data_url, scaled_mask
from amulet_ai.model.results import Classification
from amulet_ai.training.scenes import Scene, make_scene

LOCATION_KEYS = {"status", "method", "box", "confidence"}


@pytest.fixture(scope="module")
def bare() -> bytes:
    """A backdrop with no amulet on it."""
    return make_scene(None, photo=-1, number=2, family="paper", seed=5, canvas="phone").jpeg


def _location(body: dict[str, Any]) -> dict[str, Any]:
    location: dict[str, Any] = body["images"]["front"]["location"]
    return location


def _mask(location: dict[str, Any]) -> np.ndarray:
    shape = location["mask"]
    mask = mask_from_data_url(shape["image"])
    assert mask.shape == (shape["height"], shape["width"])
    return mask


def _verdict(body: dict[str, Any]) -> dict[str, Any]:
    """The answer less what differs between two requests for it."""
    return {k: v for k, v in body.items() if k not in ("request_id", "cached", "timing_ms")}


def test_the_mask_lies_on_the_amulet_inside_its_box(client: TestClient, scene: Scene) -> None:
    location = _location(post_front(client, scene.jpeg, "?locate=auto&mask=true"))
    assert location["status"] == "found"
    shape, box = location["mask"], location["box"]
    assert len(shape["image"]) < 8_000, "a small PNG, a few kB at most"
    # The draft's resolution, covering the whole oriented photo: its aspect is the photo's.
    assert max(shape["width"], shape["height"]) <= 640
    assert shape["width"] / shape["height"] == pytest.approx(
        box["image_width"] / box["image_height"], rel=0.01
    )
    mask = _mask(location)
    sx, sy = shape["width"] / box["image_width"], shape["height"] / box["image_height"]
    left, top = round(box["x"] * sx), round(box["y"] * sy)
    right, bottom = round((box["x"] + box["width"]) * sx), round((box["y"] + box["height"]) * sy)
    assert mask[top:bottom, left:right].mean() > 0.6, "mostly on inside the box"
    # Off far outside the box: beyond a quarter of its size on every side.
    pad_x, pad_y = (right - left) // 4, (bottom - top) // 4
    far = np.ones_like(mask)
    far[max(0, top - pad_y) : bottom + pad_y, max(0, left - pad_x) : right + pad_x] = False
    assert far.any() and not mask[far].any()
    # On the photo it is the amulet's own outline.
    on_photo = scaled_mask(mask, scene.image.size)
    iou = (on_photo & scene.mask).sum() / (on_photo | scene.mask).sum()
    assert iou > 0.85


def test_without_the_option_there_is_no_mask_key_and_the_verdict_is_the_same(
    client: TestClient, scene: Scene
) -> None:
    masked = post_front(client, scene.jpeg, "?locate=auto&mask=true&top_k=2")
    for query in ("?locate=auto&top_k=2", "?locate=auto&mask=false&top_k=2"):
        plain = post_front(client, scene.jpeg, query)
        assert set(_location(plain)) == LOCATION_KEYS
        assert "mask" not in _location(plain)
    # The mask is the only difference.
    del masked["images"]["front"]["location"]["mask"]
    assert _verdict(masked) == _verdict(plain)


def test_no_mask_with_locate_off_or_where_no_amulet_was_found(
    client: TestClient, scene: Scene, bare: bytes
) -> None:
    off = _location(post_front(client, scene.jpeg, "?locate=off&mask=true"))
    assert off["status"] == "whole_photo" and set(off) == LOCATION_KEYS
    nothing = _location(post_front(client, bare, "?locate=auto&mask=true"))
    assert nothing["status"] == "no_amulet" and set(nothing) == LOCATION_KEYS


def test_a_too_small_amulet_has_its_mask_too(client: TestClient, shared_data: Path) -> None:
    photo = next((shared_data / "phra_sivali" / "front").glob("*.jpg"))
    small = Image.open(photo).convert("RGB").resize((100, 100), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=92)
    location = _location(post_front(client, buf.getvalue(), "?mask=true"))
    assert location["status"] == "too_small"
    assert _mask(location).any()


def test_the_cache_keeps_answers_with_and_without_the_mask_apart(
    make_client: Callable[..., TestClient], scene: Scene
) -> None:
    client = make_client(locate="auto")
    steps = [  # query, cached, has a mask
        ("", False, False),
        ("?mask=true", False, True),
        ("?mask=true", True, True),
        ("", True, False),
        ("?mask=false", True, False),
        ("?locate=off", False, False),
        ("?locate=off&mask=true", True, False),  # off: the same answer, the same entry
    ]
    first: dict[str, Any] = {}
    for query, cached, has_mask in steps:
        body = post_front(client, scene.jpeg, query)
        assert body["cached"] is cached, query
        assert ("mask" in _location(body)) is has_mask, query
        if has_mask:
            first.setdefault("mask", _location(body)["mask"])
            assert _location(body)["mask"] == first["mask"], "a hit hands back the same mask"


def test_a_raw_body_takes_the_option(client: TestClient, scene: Scene) -> None:
    r = client.post(
        "/v1/predict?locate=auto&mask=true",
        content=scene.jpeg,
        headers={"Content-Type": "image/jpeg"},
    )
    assert r.status_code == 200, r.text
    assert _mask(_location(r.json())).any()


def test_the_batch_route_takes_the_option(client: TestClient, scene: Scene, bare: bytes) -> None:
    files = [("files", ("a.jpg", scene.jpeg)), ("files", ("b.jpg", bare))]
    r = client.post("/v1/predict/batch?locate=auto&mask=true", files=files)
    assert r.status_code == 200, r.text
    found, nothing = (item["result"]["images"]["front"]["location"] for item in r.json()["results"])
    assert found["status"] == "found" and _mask(found).any()
    assert nothing["status"] == "no_amulet" and "mask" not in nothing
    r = client.post("/v1/predict/batch?locate=auto", files=files)
    for item in r.json()["results"]:
        assert set(item["result"]["images"]["front"]["location"]) == LOCATION_KEYS


def test_the_history_keeps_no_mask(client: TestClient, scene: Scene) -> None:
    body = post_front(client, scene.jpeg, "?locate=auto&mask=true&explain=true")
    kept = stored_result(Classification.model_validate(body))
    assert "heatmap" not in kept
    assert kept["images"]["front"]["location"]["status"] == "found"
    assert "mask" not in kept["images"]["front"]["location"]


def test_openapi_documents_the_option_and_the_masks_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/predict", "/v1/predict/batch"):
        (param,) = (p for p in spec["paths"][path]["post"]["parameters"] if p["name"] == "mask")
        assert param["in"] == "query" and param["schema"]["default"] is False
        assert "locate=off" in param["description"]
    schemas = spec["components"]["schemas"]
    shape = schemas["PhotoMask"]
    assert set(shape["required"]) == {"image", "width", "height"}
    assert "image_width / width" in shape["description"]
    location = next(v for k, v in schemas.items() if k.startswith("PhotoLocation"))
    assert "mask" in location["properties"] and "mask" not in location.get("required", [])
