"""``POST /v1/similar`` says what each hit is and how alike it is, over real HTTP on
loopback (uvicorn in a thread), the committed model and a database of each kind.

The collection: a piece confirmed as another class than it was classified as, a piece of
a grey picture (answered "not a known type", nothing confirmed), a check
answered as a known type, a check corrected by its feedback, a check of a grey picture
(answered "not a known type"), and an enrolled type; every photo is a development photo
from ../shared (the grey picture is made here).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from amulet_ai.ops.api_process import ApiThread
from amulet_ai.store import Database, Store, upgrade

TYPE = "Sideways Sivali"


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> dict[str, list[bytes]]:
    """Fronts of three types, three phra_sivali fronts on their side, and a grey picture."""
    found = {
        kind: [p.read_bytes() for p in sorted((shared_data / kind / "front").glob("*.jpg"))[:2]]
        for kind in ("phra_sivali", "prok_bodhi_9_leaves", "portrait_back")
    }
    if any(len(v) < 2 for v in found.values()):
        pytest.skip("needs the development photos in ../shared")
    sivali = sorted((shared_data / "phra_sivali" / "front").glob("*.jpg"))[2:5]
    found["sideways"] = [
        _jpeg(Image.open(p).convert("RGB").rotate(90, expand=True)) for p in sivali
    ]
    found["grey"] = [_jpeg(Image.new("RGB", (640, 480), (128, 128, 128)))]
    return found


@pytest.fixture
def api(
    database_url: str, live_server: Callable[..., ApiThread]
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """An HTTP client on a live server over a migrated database, and a key's headers."""
    store = Store(Database(database_url))
    upgrade(store.db)
    try:
        key = store.keys.create("ann", ("predict", "collection")).key
        server = live_server(database_url=database_url, history="photos")
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield client, {"X-API-Key": key}
    finally:
        store.close()


def _front(photo: bytes, **fields: str) -> list[tuple[str, Any]]:
    parts: list[tuple[str, Any]] = [("front", ("f.jpg", photo, "image/jpeg"))]
    parts += [(name, (None, value.encode(), "text/plain")) for name, value in fields.items()]
    return parts


def _ok(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_each_hit_names_its_class_and_says_whether_it_is_alike(
    api: tuple[httpx.Client, dict[str, str]],
    photos: dict[str, list[bytes]],
    model_dir: Path,
) -> None:
    client, ann = api
    metadata = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    names = {c["id"]: (c["name_en"], c["name_th"]) for c in metadata["classes"]}
    threshold = metadata["unknown"]["threshold"]

    def check(photo: bytes) -> Any:
        return _ok(client.post("/v1/predict?save=true", files=_front(photo), headers=ann))

    piece = _ok(
        client.post(
            "/v1/pieces",
            files=_front(photos["prok_bodhi_9_leaves"][0], confirmed_class_id="waek_man"),
            headers=ann,
        )
    )
    assert piece["top1"]["class_id"] != "waek_man"  # confirmed: wins over the answer
    unjudged = _ok(client.post("/v1/pieces", files=_front(photos["grey"][0]), headers=ann))
    assert unjudged["result"]["unknown"]["is_unknown"]  # and nothing confirmed: no class
    known = check(photos["phra_sivali"][0])
    assert not known["unknown"]["is_unknown"]
    corrected = check(photos["portrait_back"][0])
    feedback = {"correct": False, "class_id": "wat_nong_e_duk"}
    _ok(client.post(f"/v1/history/{corrected['history_id']}/feedback", json=feedback, headers=ann))
    grey = check(photos["grey"][0])
    assert grey["unknown"]["is_unknown"]
    enrol: list[tuple[str, Any]] = [
        ("photos", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos["sideways"])
    ]
    enrol.append(("name_en", (None, TYPE.encode(), "text/plain")))
    type_id = _ok(client.post("/v1/types", files=enrol, headers=ann))["type_id"]

    query = _front(photos["phra_sivali"][0], limit="100")
    body = _ok(client.post("/v1/similar", files=query, headers=ann))
    assert body["alike_distance"] == round(threshold, 4)
    hits = body["results"]
    assert len(hits) == body["searched"] == 8
    expected = {
        ("piece", str(piece["id"])): "waek_man",
        ("piece", str(unjudged["id"])): None,
        ("history", str(known["history_id"])): known["top1"]["class_id"],
        ("history", str(corrected["history_id"])): "wat_nong_e_duk",
        ("history", str(grey["history_id"])): None,
        ("type", type_id): type_id,
    }
    for hit in hits:
        assert hit["class_id"] == expected[(hit["kind"], hit["id"])], hit
        assert hit["alike"] is (hit["distance"] <= body["alike_distance"]), hit
        if hit["kind"] == "type":
            assert (hit["name_en"], hit["name_th"]) == (TYPE, TYPE)  # no Thai name given
        elif hit["class_id"] is None:
            assert (hit["name_en"], hit["name_th"]) == (None, None)
        else:
            assert (hit["name_en"], hit["name_th"]) == names[hit["class_id"]]
    # The check of this very photo is the closest and alike; the grey picture is far.
    assert (hits[0]["kind"], hits[0]["id"], hits[0]["alike"]) == (
        "history",
        str(known["history_id"]),
        True,
    )
    grey_hit = next(h for h in hits if h["id"] == str(grey["history_id"]))
    assert not grey_hit["alike"]

    # max_distance leaves out the far ones, by form field or query; the rest are unchanged.
    alike = [h for h in hits if h["alike"]]
    assert 0 < len(alike) < len(hits)
    cut = str(body["alike_distance"])
    by_form = _ok(
        client.post(
            "/v1/similar",
            files=_front(photos["phra_sivali"][0], limit="100", max_distance=cut),
            headers=ann,
        )
    )
    by_query = _ok(
        client.post(
            "/v1/similar",
            params={"max_distance": cut, "limit": 100},
            files=_front(photos["phra_sivali"][0]),
            headers=ann,
        )
    )
    for answer in (by_form, by_query):
        assert answer["results"] == alike
        assert answer["searched"] == 8  # every photo compared; only the answer is cut
    # Without it, nothing is left out: the limit alone decides, as before.
    three = _ok(
        client.post("/v1/similar", files=_front(photos["phra_sivali"][0], limit="3"), headers=ann)
    )
    assert three["results"] == hits[:3]


def test_a_bad_max_distance_is_a_422(
    api: tuple[httpx.Client, dict[str, str]], photos: dict[str, list[bytes]]
) -> None:
    client, ann = api
    photo = photos["phra_sivali"][0]
    for value in ("0", "-1", "nan", "inf", "far"):
        r = client.post("/v1/similar", files=_front(photo, max_distance=value), headers=ann)
        assert r.status_code == 422, (value, r.text)
        error = r.json()["error"]
        assert (error["code"], error["details"]) == ("validation_error", {"field": "max_distance"})
        r = client.post(
            "/v1/similar", params={"max_distance": value}, files=_front(photo), headers=ann
        )
        assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), value
