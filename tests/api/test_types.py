"""Enrolled types through the real app on SQLite and PostgreSQL: enrol, predict, list,
publish, delete, owner isolation, the result cache, refused photos, and bad inputs as 4xx.

The "new type" is real amulet photos from ../shared turned on their side: amulet-like but
unlike every training photo (unknown score 1.0-1.2x the threshold), so the model names
them as one of its six until the type is enrolled. Photos a prediction could not judge are
made here: a plain grey picture, a development photo shrunk to 100 px, and one blurred on
a plain backdrop.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter
from saved_harness import Saved

TYPE = "Sideways Sivali"


@pytest.fixture(scope="module")
def sideways(shared_data: Path) -> list[bytes]:
    """Six phra_sivali fronts rotated by 90 degrees, as JPEG."""
    paths = sorted((shared_data / "phra_sivali" / "front").glob("*.jpg"))[:6]
    if len(paths) < 6:
        pytest.skip("needs the development photos in ../shared")
    out = []
    for path in paths:
        buf = io.BytesIO()
        Image.open(path).convert("RGB").rotate(90, expand=True).save(buf, "JPEG", quality=92)
        out.append(buf.getvalue())
    return out


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture(scope="module")
def unjudged(shared_data: Path) -> dict[str, bytes]:
    """A photo for each location status a prediction gives no verdict on."""
    photo = Image.open(next((shared_data / "phra_sivali" / "front").glob("*.jpg"))).convert("RGB")
    blurred = Image.new("RGB", (1600, 1200), (200, 200, 195))
    amulet = photo.resize((700, 700 * photo.height // photo.width))
    blurred.paste(amulet.filter(ImageFilter.GaussianBlur(16)), (450, 200))
    return {
        "no_amulet": _jpeg(Image.new("RGB", (640, 480), (128, 128, 128))),
        "too_small": _jpeg(photo.resize((100, 100), Image.Resampling.LANCZOS)),
        "too_blurred": _jpeg(blurred),
    }


def _files(photos: list[bytes], **text: str | bytes) -> list[tuple[str, Any]]:
    files: list[tuple[str, Any]] = [
        ("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)
    ]
    for name, value in text.items():
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        files.append((name, (None, raw, "text/plain")))
    return files


def enrol(saved: Saved, headers: dict[str, str], photos: list[bytes], **text: str | bytes) -> Any:
    text.setdefault("name_en", TYPE)
    return saved.client.post("/v1/types", files=_files(photos, **text), headers=headers)


def predict(saved: Saved, photo: bytes, headers: dict[str, str]) -> dict[str, Any]:
    r = saved.client.post(
        "/v1/predict", files={"front": ("f.jpg", photo, "image/jpeg")}, headers=headers
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_enrol_predict_list_delete(saved: Saved, sideways: list[bytes]) -> None:
    ann = saved.key("ann")
    probe = sideways[0]
    before = predict(saved, probe, ann)
    assert before["top1"]["source"] == "model"
    assert before["top1"]["class_id"] == "phra_sivali"
    assert predict(saved, probe, ann)["cached"] is True

    r = enrol(saved, ann, sideways[:5], name_th="สีวลีตะแคง", description="On its side.")
    assert r.status_code == 201, r.text
    made = r.json()
    type_id = made["type_id"]
    assert type_id.startswith("enrolled_")
    assert (made["name_en"], made["name_th"], made["photos"], made["rejected"]) == (
        TYPE,
        "สีวลีตะแคง",
        5,
        [],
    )
    assert made["source"] == "enrolled" and made["mine"] and not made["published"]

    # The same photo, the same owner: the cache does not answer with the old verdict.
    after = predict(saved, probe, ann)
    assert after["cached"] is False
    assert after["top1"] == {
        "class_id": type_id,
        "name_en": TYPE,
        "name_th": "สีวลีตะแคง",
        "probability": after["top1"]["probability"],
        "source": "enrolled",
    }
    assert after["top1"]["probability"] > 0.5
    assert {p["source"] for p in after["predictions"]} == {"enrolled", "model"}
    assert after["images"]["front"]["predictions"][0]["class_id"] == type_id
    batch = saved.client.post(
        "/v1/predict/batch",
        files=[("files", ("a.jpg", probe, "image/jpeg")), ("files", ("b.jpg", b"nope", "x/y"))],
        headers=ann,
    ).json()["results"]
    assert batch[0]["result"]["top1"]["class_id"] == type_id and batch[1]["error"]
    # An enrolled photo is known: its distance to the type is 0.
    assert after["unknown"]["is_unknown"] is False and after["unknown"]["score"] == 0.0
    # A piece made of the same photo gets the answer a prediction gets.
    piece = saved.client.post(
        "/v1/pieces", files={"front": ("f.jpg", probe, "image/jpeg")}, headers=ann
    )
    assert piece.status_code == 201, piece.text
    assert piece.json()["top1"]["class_id"] == type_id
    assert piece.json()["result"]["top1"]["source"] == "enrolled"

    listed = saved.client.get("/v1/types", headers=ann).json()["items"]
    assert [t["source"] for t in listed] == ["model"] * 6 + ["enrolled"]
    assert listed[0]["photos"] == 16  # training photos of phra_sivali
    assert listed[-1]["type_id"] == type_id and len(listed[-1]["photo_urls"]) == 5
    thumb = saved.client.get(listed[-1]["thumbnail_url"], headers=ann)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size[0] <= 256
    assert saved.client.get(f"/v1/types/{type_id}", headers=ann).json()["photos"] == 5

    r = saved.client.post(f"/v1/types/{type_id}/photos", files=_files(sideways[5:6]), headers=ann)
    assert r.status_code == 200, r.text
    assert r.json()["photos"] == 6
    assert predict(saved, sideways[5], ann)["top1"]["class_id"] == type_id

    assert saved.client.delete(f"/v1/types/{type_id}", headers=ann).status_code == 204
    gone = predict(saved, probe, ann)
    assert gone["top1"]["source"] == "model" and gone["cached"] is False
    assert all(p["source"] == "model" for p in gone["predictions"])
    assert saved.client.get(f"/v1/types/{type_id}", headers=ann).status_code == 404
    assert saved.client.get(listed[-1]["thumbnail_url"], headers=ann).status_code == 404
    assert len(saved.client.get("/v1/types", headers=ann).json()["items"]) == 6


def test_a_type_enrolled_through_another_worker_reaches_predictions_within_the_recheck_time(
    app_for: Callable[..., Saved], sideways: list[bytes]
) -> None:
    recheck_s = 1.5
    one, other = (app_for(database_recheck_s=recheck_s) for _ in range(2))  # two API workers
    ann = one.key("ann")
    probe = sideways[0]
    assert predict(other, probe, ann)["top1"]["source"] == "model"  # its reading starts now
    r = enrol(one, ann, sideways[:5])
    assert r.status_code == 201, r.text
    enrolled_at, type_id = time.monotonic(), r.json()["type_id"]
    assert predict(one, probe, ann)["top1"]["class_id"] == type_id  # the worker that enrolled
    while (top := predict(other, probe, ann)["top1"])["source"] == "model":
        assert time.monotonic() - enrolled_at < recheck_s + 1.0, "stale past the bound"
        time.sleep(0.05)
    assert top["class_id"] == type_id


def test_owners_never_see_each_others_types(saved: Saved, sideways: list[bytes]) -> None:
    ann, bob = saved.key("ann"), saved.key("bob")
    made = enrol(saved, ann, sideways[:4]).json()
    type_id = made["type_id"]
    assert predict(saved, sideways[0], ann)["top1"]["class_id"] == type_id
    # Bob sends the very same photo: the cache must not hand him Ann's verdict.
    theirs = predict(saved, sideways[0], bob)
    assert theirs["top1"]["source"] == "model"
    assert len(saved.client.get("/v1/types", headers=bob).json()["items"]) == 6
    for method, path in (
        ("GET", f"/v1/types/{type_id}"),
        ("DELETE", f"/v1/types/{type_id}"),
        ("GET", made["photo_urls"][0]),
    ):
        assert saved.client.request(method, path, headers=bob).status_code == 404
    r = saved.client.post(f"/v1/types/{type_id}/photos", files=_files(sideways[4:5]), headers=bob)
    assert r.status_code == 404
    # Bob may use the same name for a type of his own.
    assert enrol(saved, bob, sideways[2:5]).status_code == 201


def test_an_admin_publishes_a_type_to_every_owner(
    app_for: Callable[..., Saved], sideways: list[bytes]
) -> None:
    saved = app_for(admin_key="admin-secret-for-tests")
    ann, bob = saved.key("ann"), saved.key("bob")
    type_id = enrol(saved, ann, sideways[:4]).json()["type_id"]
    path = f"/v1/types/{type_id}/published"
    assert saved.client.put(path, json={"published": True}, headers=ann).status_code in (401, 403)
    r = saved.client.put(
        path, json={"published": True}, headers={"X-Admin-Key": "admin-secret-for-tests"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["published"] is True
    seen = saved.client.get("/v1/types", headers=bob).json()["items"][-1]
    assert (seen["type_id"], seen["mine"], seen["published"]) == (type_id, False, True)
    assert predict(saved, sideways[0], bob)["top1"]["class_id"] == type_id
    # Published, still Ann's: Bob cannot delete it.
    assert saved.client.delete(f"/v1/types/{type_id}", headers=bob).status_code == 404
    saved.client.put(
        path, json={"published": False}, headers={"X-Admin-Key": "admin-secret-for-tests"}
    )
    assert predict(saved, sideways[0], bob)["top1"]["source"] == "model"


def test_rejected_photos_are_listed_with_their_reason(
    saved: Saved,
    sideways: list[bytes],
    unjudged: dict[str, bytes],
    make_photo: Callable[..., bytes],
) -> None:
    ann = saved.key("ann")
    noise = make_photo(224, 224, seed=7)  # a generated picture, no amulet
    photos = [*sideways[:3], b"not an image at all", noise, sideways[0], *unjudged.values()]
    r = enrol(saved, ann, photos)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["photos"] == 3
    assert [(x["index"], x["reason"]) for x in body["rejected"]] == [
        (3, "unreadable"),
        (4, "no_amulet"),
        (5, "duplicate"),
        (6, "no_amulet"),
        (7, "too_small"),
        (8, "too_blurred"),
    ]
    assert body["rejected"][0]["filename"] == "p3.jpg" and body["rejected"][0]["message"]
    said = {x["reason"]: x["message"] for x in body["rejected"][3:]}
    assert said["no_amulet"].startswith("No amulet found in this photo. Put the whole amulet")
    assert "Move closer" in said["too_small"] and "Hold the phone still" in said["too_blurred"]
    # Each is a photo a prediction names no type for, with the same status.
    for status, photo in unjudged.items():
        assert predict(saved, photo, ann)["status"] == status


def test_with_locate_off_photos_are_refused_by_their_distance_alone(
    app_for: Callable[..., Saved],
    sideways: list[bytes],
    unjudged: dict[str, bytes],
    make_photo: Callable[..., bytes],
) -> None:
    saved = app_for(locate="off")
    ann = saved.key("ann")
    noise = make_photo(224, 224, seed=7)
    r = enrol(saved, ann, [*sideways[:3], noise, unjudged["no_amulet"]])
    assert r.status_code == 201, r.text
    body = r.json()
    assert [(x["index"], x["reason"]) for x in body["rejected"]] == [(3, "not_an_amulet")]
    assert body["rejected"][0]["message"].startswith("Far from every known amulet photo")
    # The grey picture is within the distance limit: only its location refuses it.
    assert body["photos"] == 4


def test_photos_that_cannot_be_judged_make_no_type_and_are_not_added(
    saved: Saved, sideways: list[bytes], unjudged: dict[str, bytes]
) -> None:
    ann = saved.key("ann")
    r = enrol(saved, ann, list(unjudged.values()))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and error["details"]["field"] == "photos"
    assert [x["reason"] for x in error["details"]["rejected"]] == list(unjudged)
    assert len(saved.client.get("/v1/types", headers=ann).json()["items"]) == 6

    type_id = enrol(saved, ann, sideways[:3]).json()["type_id"]
    more = _files([unjudged["too_small"]])
    r = saved.client.post(f"/v1/types/{type_id}/photos", files=more, headers=ann)
    assert r.status_code == 422, r.text
    assert [x["reason"] for x in r.json()["error"]["details"]["rejected"]] == ["too_small"]
    assert saved.client.get(f"/v1/types/{type_id}", headers=ann).json()["photos"] == 3


def test_bad_inputs_are_4xx_and_nothing_is_kept(
    saved: Saved, sideways: list[bytes], make_photo: Callable[..., bytes]
) -> None:
    ann = saved.key("ann")
    small = make_photo(64, 64, seed=3)

    def status(photos: list[bytes], **text: str | bytes) -> tuple[int, str]:
        r = enrol(saved, ann, photos, **text)
        return r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else ""

    assert status(sideways[:2]) == (422, "validation_error")
    assert status([small] * 51) == (422, "validation_error")
    three_bad = status([b"text", b"more text", b"GIF89a broken"])
    assert three_bad == (422, "validation_error")
    r = enrol(saved, ann, [b"text", b"more", b"GIF89a"])
    assert [x["reason"] for x in r.json()["error"]["details"]["rejected"]] == ["unreadable"] * 3
    assert status(sideways[:3], name_en="x" * 201) == (422, "validation_error")
    assert status(sideways[:3], name_en="   ") == (422, "validation_error")
    assert status(sideways[:3], name_en=b"\xff\xfe") == (422, "validation_error")
    assert status(sideways[:3], description="d" * 2001) == (422, "validation_error")
    assert status(sideways[:3], name_en="Phra Sivali") == (409, "duplicate_name")
    r = saved.client.post("/v1/types", files=_files(sideways[:3]), headers=ann)
    assert r.status_code == 422  # no name
    assert len(saved.client.get("/v1/types", headers=ann).json()["items"]) == 6

    assert status(sideways[:3]) == (201, "")
    assert status(sideways[3:6], name_en="  sideways   SIVALI ") == (409, "duplicate_name")
    assert saved.client.get("/v1/types/enrolled_0", headers=ann).status_code == 422
    assert saved.client.get("/v1/types/999999", headers=ann).status_code == 404


def test_similar_finds_the_owners_own_photos(
    saved: Saved, sideways: list[bytes], unjudged: dict[str, bytes]
) -> None:
    ann, bob = saved.key("ann"), saved.key("bob")
    piece = saved.client.post(
        "/v1/pieces",
        files={"front": ("f.jpg", sideways[0], "image/jpeg")},
        headers=ann,
    ).json()
    saved.predict(sideways[1], ann)  # a history item with its photo
    type_id = enrol(saved, ann, sideways[2:5]).json()["type_id"]

    r = saved.client.post(
        "/v1/similar",
        files={"front": ("q.jpg", sideways[0], "image/jpeg"), "limit": (None, b"5")},
        headers=ann,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["searched"] == 5
    assert body["status"] == "ok"
    assert [loc["status"] for loc in body["locations"]] == ["found"]
    hits = body["results"]
    assert len(hits) == 5
    first = hits[0]
    assert (first["kind"], first["id"], first["side"]) == ("piece", str(piece["id"]), "front")
    # The same photo, embedded from its kept JPEG (re-encoded): close, not 0.
    assert first["distance"] < 0.25 < hits[1]["distance"]
    assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits)
    assert {h["kind"] for h in hits} == {"piece", "history", "type"}
    assert {h["id"] for h in hits if h["kind"] == "type"} == {type_id}
    for hit in hits:
        thumb = saved.client.get(hit["thumbnail_url"], headers=ann)
        assert thumb.status_code == 200, hit

    other = saved.client.post(
        "/v1/similar", files={"front": ("q.jpg", sideways[0], "image/jpeg")}, headers=bob
    ).json()
    assert (other["results"], other["searched"]) == ([], 0)

    # Deleting the piece takes its photo out of the search at once.
    saved.client.delete(f"/v1/pieces/{piece['id']}", headers=ann)
    again = saved.client.post(
        "/v1/similar",
        files={"front": ("q.jpg", sideways[0], "image/jpeg"), "back": ("b.jpg", sideways[2])},
        headers=ann,
    ).json()
    assert again["searched"] == 4
    assert again["results"][0]["kind"] == "type" and again["results"][0]["distance"] < 0.1
    assert again["status"] == "ok" and len(again["locations"]) == 2
    # A photo a prediction could not judge is searched all the same, and the answer says so.
    for status, photo in unjudged.items():
        pair = {"front": ("q.jpg", sideways[0], "image/jpeg"), "back": ("b.jpg", photo)}
        lost = saved.client.post("/v1/similar", files=pair, headers=ann).json()
        assert (lost["status"], len(lost["results"])) == (status, 4)
        assert [loc["status"] for loc in lost["locations"]] == ["found", status]
    bad = saved.client.post(
        "/v1/similar",
        files={"front": ("q.jpg", sideways[0], "image/jpeg"), "limit": (None, b"0")},
        headers=ann,
    )
    assert bad.status_code == 422
    assert np.isfinite(first["distance"])
