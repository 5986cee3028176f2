"""The collection: /v1/pieces create, list, read, update, delete and photos, on both
databases; text limits and bad input answer 4xx, never 500."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image
from saved_harness import Saved


def create(
    saved: Saved, headers: dict[str, str], front: bytes, back: bytes | None = None, **text: Any
) -> Any:
    files: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("front", ("front.jpg", front, "image/jpeg"))
    ]
    if back is not None:
        files.append(("back", ("back.jpg", back, "image/jpeg")))
    for name, value in text.items():
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        files.append((name, (None, raw, "text/plain")))
    return saved.client.post("/v1/pieces", files=files, headers=headers)


def test_a_piece_keeps_its_photos_answer_and_notes(
    saved: Saved, make_photo: Callable[..., bytes]
) -> None:
    ann = saved.key("ann")
    front, back = make_photo(1200, 1600, seed=51), make_photo(800, 800, seed=52)
    r = create(saved, ann, front, back, name="Grandfather's", notes="ได้มาจากตลาดพระ\nปี 2530")
    assert r.status_code == 201, r.text
    piece = r.json()
    assert (piece["name"], piece["notes"]) == ("Grandfather's", "ได้มาจากตลาดพระ\nปี 2530")
    assert piece["photos"] == ["front", "back"] and piece["confirmed_class_id"] is None
    answer = saved.client.post(
        "/v1/predict", files={"front": ("f.jpg", front), "back": ("b.jpg", back)}, headers=ann
    ).json()
    assert piece["top1"] == answer["top1"]
    assert piece["result"]["predictions"] == answer["predictions"]

    assert saved.client.get("/v1/pieces", headers=ann).json()["items"] == [piece]
    assert saved.client.get(f"/v1/pieces/{piece['id']}", headers=ann).json() == piece
    thumb = saved.client.get(piece["thumbnail_url"], headers=ann)
    assert Image.open(io.BytesIO(thumb.content)).size == (192, 256)
    full = saved.client.get(f"/v1/pieces/{piece['id']}/photo/back?size=full", headers=ann)
    assert full.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(full.content)).size == (800, 800)


def test_a_piece_without_a_name_is_named_after_its_answer(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    piece = create(saved, ann, photo).json()
    assert piece["name"] == piece["top1"]["name_en"] and piece["notes"] == ""
    r = saved.client.get(f"/v1/pieces/{piece['id']}/photo/back", headers=ann)
    assert r.status_code == 404


def test_patch_changes_only_what_is_sent(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    piece = create(saved, ann, photo, name="p1", notes="n1").json()
    url = f"/v1/pieces/{piece['id']}"
    r = saved.client.patch(url, json={"confirmed_class_id": "waek_man"}, headers=ann)
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["notes"], r.json()["confirmed_class_id"]) == (
        "p1",
        "n1",
        "waek_man",
    )
    r = saved.client.patch(url, json={"notes": "", "name": " p2 "}, headers=ann)
    assert (r.json()["name"], r.json()["notes"], r.json()["confirmed_class_id"]) == (
        "p2",
        "",
        "waek_man",
    )
    assert r.json()["updated_at"] > piece["updated_at"]
    r = saved.client.patch(url, json={"confirmed_class_id": None}, headers=ann)
    assert r.json()["confirmed_class_id"] is None
    for body, code in (
        ({"confirmed_class_id": "no_such_type"}, "unknown_class"),
        ({"name": None}, "validation_error"),
        ({"name": ""}, "validation_error"),
        ({"name": "x" * 201}, "validation_error"),
        ({"notes": "x" * 4001}, "validation_error"),
        ({"notes": "bell\x07"}, "validation_error"),
        ({"owner": "bob"}, "validation_error"),
    ):
        bad = saved.client.patch(url, json=body, headers=ann)
        assert bad.status_code == 422, body
        assert bad.json()["error"]["code"] == code, body
    assert saved.client.get(url, headers=ann).json()["name"] == "p2"


def test_bad_text_parts_are_refused_and_nothing_is_saved(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    cases = [
        {"name": "x" * 201},
        {"notes": "y" * 4001},
        {"name": b"\xff\xfe\xfd"},
        {"notes": "nul\x00inside"},
        {"name": "   "},
        {"confirmed_class_id": "nope"},
    ]
    for text in cases:
        r = create(saved, ann, photo, **text)
        assert r.status_code == 422, (text, r.text)
        assert r.json()["error"]["code"] in ("validation_error", "unknown_class")
    r = saved.client.post(
        "/v1/pieces", files={"name": (None, b"no photo", "text/plain")}, headers=ann
    )
    assert r.status_code == 422
    r = create(saved, ann, b"not an image at all")
    assert r.status_code == 415
    assert saved.client.get("/v1/pieces", headers=ann).json()["items"] == []


def test_sql_looking_text_is_kept_as_text(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    name = "Robert'); DROP TABLE pieces;--"
    piece = create(saved, ann, photo, name=name, notes="1 OR 1=1; --").json()
    assert saved.client.get(f"/v1/pieces/{piece['id']}", headers=ann).json()["name"] == name


def test_delete_a_piece(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    piece = create(saved, ann, photo).json()
    assert saved.client.delete(f"/v1/pieces/{piece['id']}", headers=ann).status_code == 204
    assert saved.client.get(f"/v1/pieces/{piece['id']}", headers=ann).status_code == 404
    assert saved.client.get(piece["thumbnail_url"], headers=ann).status_code == 404
    assert saved.client.get("/v1/pieces", headers=ann).json()["items"] == []
