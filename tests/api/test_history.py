"""Saving answers and reading them back: /v1/predict?save=true and /v1/history, on both
databases, over the real app and the committed model."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image
from saved_harness import Saved

from amulet_ai.training.scenes import make_scene


def test_a_saved_check_comes_back_in_the_history_with_its_photos(
    saved: Saved, make_photo: Callable[..., bytes]
) -> None:
    ann = saved.key("ann")
    front, back = make_photo(1600, 1200, seed=31), make_photo(900, 1200, seed=32)
    r = saved.client.post(
        "/v1/predict?save=true",
        files={"front": ("mine.jpg", front, "image/jpeg"), "back": ("b.jpg", back, "image/jpeg")},
        headers=ann,
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    item_id = answer["history_id"]
    assert isinstance(item_id, int)

    page = saved.client.get("/v1/history", headers=ann).json()
    assert page["next_before"] is None
    (entry,) = page["items"]
    assert entry["id"] == item_id
    assert entry["top1"] == answer["top1"]
    assert entry["model"] == answer["model"]
    assert entry["is_unknown"] == answer["unknown"]["is_unknown"]
    assert (entry["filename"], entry["has_back"], entry["photos"]) == (
        "mine.jpg",
        True,
        ["front", "back"],
    )
    assert entry["thumbnail_url"] == f"/v1/history/{item_id}/photo?size=thumb"
    assert entry["feedback"] is None

    detail = saved.client.get(f"/v1/history/{item_id}", headers=ann).json()
    assert detail["result"]["predictions"] == answer["predictions"]
    assert detail["result"]["images"] == answer["images"]

    thumb = saved.client.get(entry["thumbnail_url"], headers=ann)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert "private" in thumb.headers["cache-control"]
    assert Image.open(io.BytesIO(thumb.content)).size == (256, 192)
    full = saved.client.get(
        f"/v1/history/{item_id}/photo", params={"size": "full", "side": "back"}, headers=ann
    )
    kept = Image.open(io.BytesIO(full.content))
    assert kept.size == (768, 1024) and kept.format == "JPEG" and len(kept.getexif()) == 0


def test_without_save_nothing_is_kept(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    r = saved.client.post("/v1/predict", files={"front": ("a.jpg", photo)}, headers=ann)
    assert r.status_code == 200 and r.json()["history_id"] is None
    assert saved.client.get("/v1/history", headers=ann).json() == {"items": [], "next_before": None}


def test_results_only_keeps_no_photo_and_says_so(
    app_for: Callable[..., Saved], photo: bytes
) -> None:
    saved = app_for(history="results")
    ann = saved.key("ann")
    item_id = saved.predict(photo, ann)["history_id"]
    entry = saved.client.get(f"/v1/history/{item_id}", headers=ann).json()
    assert entry["photos"] == [] and entry["thumbnail_url"] is None
    r = saved.client.get(f"/v1/history/{item_id}/photo", headers=ann)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "No photo is kept for this item."
    assert saved.client.get("/health").json()["storage"]["history"] == "results"


def test_history_off_refuses_save_before_reading_the_upload(
    app_for: Callable[..., Saved], photo: bytes
) -> None:
    saved = app_for(history="off")
    ann = saved.key("ann")
    r = saved.client.post("/v1/predict?save=true", files={"front": ("a.jpg", photo)}, headers=ann)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "history_disabled"
    plain = saved.client.post("/v1/predict", files={"front": ("a.jpg", photo)}, headers=ann)
    assert plain.status_code == 200


def test_history_pages_newest_first(saved: Saved, make_photo: Callable[..., bytes]) -> None:
    ann = saved.key("ann")
    ids = [saved.predict(make_photo(96, 96, seed=40 + i), ann)["history_id"] for i in range(5)]
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": 2} if before is None else {"limit": 2, "before": before}
        page = saved.client.get("/v1/history", params=params, headers=ann).json()
        seen += [item["id"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == ids[::-1]
    for bad in ({"limit": 0}, {"limit": 101}, {"before": "1 OR 1=1"}, {"before": -1}):
        r = saved.client.get("/v1/history", params=bad, headers=ann)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_delete_forgets_the_check_and_its_photos(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    item_id = saved.predict(photo, ann)["history_id"]
    assert saved.client.delete(f"/v1/history/{item_id}", headers=ann).status_code == 204
    for path in (f"/v1/history/{item_id}", f"/v1/history/{item_id}/photo"):
        assert saved.client.get(path, headers=ann).status_code == 404
    again = saved.client.delete(f"/v1/history/{item_id}", headers=ann)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


def test_feedback_is_one_per_check_and_replaced(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    item_id = saved.predict(photo, ann)["history_id"]
    url = f"/v1/history/{item_id}/feedback"
    first = saved.client.post(url, json={"correct": True}, headers=ann)
    assert first.status_code == 200 and first.json()["correct"] is True
    second = saved.client.post(
        url, json={"correct": False, "type_name": "  Somdej Wat Rakhang  "}, headers=ann
    )
    assert second.json()["type_name"] == "Somdej Wat Rakhang"
    third = saved.client.post(url, json={"correct": False, "class_id": "phra_sivali"}, headers=ann)
    assert third.status_code == 200
    feedback = saved.client.get(f"/v1/history/{item_id}", headers=ann).json()["feedback"]
    assert (feedback["correct"], feedback["class_id"], feedback["type_name"]) == (
        False,
        "phra_sivali",
        None,
    )


def test_bad_feedback_is_a_4xx_with_a_stable_code(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    item_id = saved.predict(photo, ann)["history_id"]
    url = f"/v1/history/{item_id}/feedback"
    cases = [
        ({"correct": False, "class_id": "not_a_type"}, "unknown_class"),
        ({"correct": False, "class_id": "x'; DROP TABLE history; --"}, "unknown_class"),
        ({"correct": False}, "validation_error"),
        ({"correct": True, "class_id": "phra_sivali"}, "validation_error"),
        ({"correct": False, "class_id": "phra_sivali", "type_name": "x"}, "validation_error"),
        ({"correct": False, "type_name": "x" * 201}, "validation_error"),
        ({"correct": False, "type_name": "   "}, "validation_error"),
        ({"correct": False, "type_name": "a\x00b"}, "validation_error"),
        ({"correct": "yes"}, "validation_error"),
        ({"correct": True, "extra": 1}, "validation_error"),
    ]
    for body, code in cases:
        r = saved.client.post(url, json=body, headers=ann)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, body
    for raw in (b"\xff\xfe not utf-8", b"{not json", b""):
        r = saved.client.post(url, content=raw, headers={**ann, "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert saved.client.get(f"/v1/history/{item_id}", headers=ann).json()["feedback"] is None


def test_batch_saves_each_good_file(saved: Saved, photo: bytes, other_photo: bytes) -> None:
    ann = saved.key("ann")
    files = [
        ("files", ("a.jpg", photo, "image/jpeg")),
        ("files", ("broken.jpg", b"\xff\xd8 not really", "image/jpeg")),
        ("files", ("b.jpg", other_photo, "image/jpeg")),
    ]
    r = saved.client.post("/v1/predict/batch?save=true", files=files, headers=ann)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    ids = [item["history_id"] for item in results]
    assert ids[1] is None and results[1]["error"] is not None
    assert isinstance(ids[0], int) and isinstance(ids[2], int)
    listed = saved.client.get("/v1/history", headers=ann).json()["items"]
    assert [(i["id"], i["filename"]) for i in listed] == [(ids[2], "b.jpg"), (ids[0], "a.jpg")]


def test_a_saved_check_whose_photo_was_not_judged_keeps_its_status(saved: Saved) -> None:
    """A bare backdrop saved through the API (the page does not offer to save it): the
    history and the piece made from it say ``no_amulet``, not a verdict."""
    bare = make_scene(None, photo=-1, number=2, family="paper", seed=5, canvas="phone")
    ann = saved.key("ann")
    answer = saved.predict(bare.jpeg, ann, locate="auto")
    assert answer["status"] == "no_amulet"
    (entry,) = saved.client.get("/v1/history", headers=ann).json()["items"]
    assert (entry["status"], entry["is_unknown"]) == ("no_amulet", True)
    item = saved.client.get(f"/v1/history/{entry['id']}", headers=ann).json()
    assert item["status"] == item["result"]["status"] == "no_amulet"
    r = saved.client.post(
        "/v1/pieces",
        data={"name": "a bare cloth"},
        files={"front": ("front.jpg", bare.jpeg, "image/jpeg")},
        headers=ann,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "no_amulet"


def test_a_judged_check_has_status_ok(saved: Saved, photo: bytes) -> None:
    ann = saved.key("ann")
    saved.predict(photo, ann, locate="off")
    (entry,) = saved.client.get("/v1/history", headers=ann).json()["items"]
    assert entry["status"] == "ok"
