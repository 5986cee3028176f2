"""locate=auto|off through the real app on the committed models: scenes of development
photos (cut out of their studio backdrop, placed on generated backdrops), an EXIF-turned
photo, a bare backdrop, a photo too small, the cache, the batch route, hostile files, the
grey backdrop of a model-2 metadata, the metrics."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from harness import post_front
from PIL import Image

from amulet_ai.imaging.decode import NEUTRAL_BACKGROUND
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.serving.locating import (
    DRAFT_SIDE,
    FILLS_FRAME,
    FIRST_DETAIL_SIDE,
    MIN_ZOOM,
    detail_side,
    prepare,
)
from amulet_ai.training.cutout import CutOut
from amulet_ai.training.data import load_dataset
from amulet_ai.training.localise import box_iou
from amulet_ai.training.scenes import Scene, make_scene


def _ltrb(box: dict[str, int]) -> tuple[int, int, int, int]:
    return box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]


def _jpeg(image: Image.Image, **save: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92, **save)
    return buf.getvalue()


def test_the_amulet_is_found_and_its_box_is_in_the_photos_pixels(
    client: TestClient, scene: Scene
) -> None:
    body = post_front(client, scene.jpeg, "?locate=auto")
    location = body["images"]["front"]["location"]
    assert location["status"] == "found" and location["method"] == "localiser"
    assert 0.5 < location["confidence"] <= 1.0
    box = location["box"]
    assert (box["image_width"], box["image_height"]) == scene.image.size
    assert box_iou(_ltrb(box), scene.box) >= 0.8
    assert body["status"] == "ok"
    assert body["timing_ms"]["locate"] > 0


def test_an_exif_turned_photo_gets_its_box_in_the_displayed_orientation(
    client: TestClient, scene: Scene
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored a quarter turn off; displayed turned 90 degrees clockwise
    stored = scene.image.transpose(Image.Transpose.ROTATE_90)
    body = post_front(client, _jpeg(stored, exif=exif.tobytes()), "?locate=auto")
    box = body["images"]["front"]["location"]["box"]
    assert (box["image_width"], box["image_height"]) == scene.image.size
    assert box_iou(_ltrb(box), scene.box) >= 0.8
    front = body["images"]["front"]
    assert (front["width"], front["height"]) == scene.image.size


def test_off_classifies_the_whole_photo(client: TestClient, scene: Scene) -> None:
    body = post_front(client, scene.jpeg, "?locate=off")
    width, height = scene.image.size
    assert body["images"]["front"]["location"] == {
        "status": "whole_photo",
        "method": "off",
        "box": {
            "x": 0,
            "y": 0,
            "width": width,
            "height": height,
            "image_width": width,
            "image_height": height,
        },
        "confidence": None,
    }
    assert body["status"] == "ok"
    assert body["timing_ms"]["locate"] == 0.0


def test_a_tight_photo_that_fills_the_frame_is_classified_whole(
    client: TestClient, shared_data: Path
) -> None:
    photos = load_dataset(shared_data).photos[::23]
    filling = 0
    for photo in photos:
        data = photo.path.read_bytes()
        located, whole = (
            post_front(client, data, "?locate=auto"),
            post_front(client, data, "?locate=off"),
        )
        location = located["images"]["front"]["location"]
        assert location["status"] == "found" and location["method"] == "localiser"
        box = location["box"]
        share = min(box["width"] / box["image_width"], box["height"] / box["image_height"])
        if share >= FILLS_FRAME:  # already a tight crop: judged whole, its box still shown
            filling += 1
            assert located["predictions"] == whole["predictions"]
            assert located["unknown"] == whole["unknown"]
    assert filling >= len(photos) // 2, "the studio photos fill their frames"


def test_an_amulet_in_a_scene_is_judged_on_its_crop(client: TestClient, scene: Scene) -> None:
    located, whole = (
        post_front(client, scene.jpeg, "?locate=auto"),
        post_front(client, scene.jpeg, "?locate=off"),
    )
    box = located["images"]["front"]["location"]["box"]
    assert min(box["width"] / box["image_width"], box["height"] / box["image_height"]) < FILLS_FRAME
    assert located["predictions"] != whole["predictions"]


def test_a_bare_backdrop_is_no_amulet_and_names_no_type(client: TestClient) -> None:
    bare = make_scene(None, photo=-1, number=2, family="paper", seed=5, canvas="phone")
    body = post_front(client, bare.jpeg)  # the default: AMULET_LOCATE=auto
    location = body["images"]["front"]["location"]
    assert location["status"] == "no_amulet" and location["box"] is None
    assert body["status"] == "no_amulet"
    assert body["unknown"]["is_unknown"] is True
    assert body["images"]["front"]["unknown"]["is_unknown"] is True
    assert len(body["predictions"]) == 3  # still there, from the whole photo


def test_an_amulet_of_too_few_pixels_is_too_small(client: TestClient, shared_data: Path) -> None:
    photo = next((shared_data / "phra_sivali" / "front").glob("*.jpg"))
    small = Image.open(photo).convert("RGB").resize((100, 100), Image.Resampling.LANCZOS)
    body = post_front(client, _jpeg(small))
    location = body["images"]["front"]["location"]
    assert location["status"] == "too_small"
    assert (
        location["box"] is not None
        and max(location["box"]["width"], location["box"]["height"]) <= 100
    )
    assert body["status"] == "too_small" and body["unknown"]["is_unknown"] is True


def test_a_pair_takes_the_fronts_problem_first_then_the_backs(
    client: TestClient, scene: Scene
) -> None:
    bare = make_scene(None, photo=-1, number=3, family="stone", seed=5).jpeg
    r = client.post("/v1/predict", files={"front": ("f.jpg", scene.jpeg), "back": ("b.jpg", bare)})
    body = r.json()
    assert body["images"]["front"]["location"]["status"] == "found"
    assert body["images"]["back"]["location"]["status"] == "no_amulet"
    assert body["status"] == "no_amulet" and body["unknown"]["is_unknown"] is True


def test_the_cache_keeps_each_mode_apart(
    make_client: Callable[..., TestClient], scene: Scene
) -> None:
    client = make_client(locate="off")  # the setting is the default when the query has none
    first = post_front(client, scene.jpeg)
    assert first["images"]["front"]["location"]["status"] == "whole_photo"
    assert not first["cached"]
    auto = post_front(client, scene.jpeg, "?locate=auto")
    assert not auto["cached"] and auto["images"]["front"]["location"]["status"] == "found"
    again = post_front(client, scene.jpeg, "?locate=auto")
    assert (
        again["cached"]
        and again["images"]["front"]["location"] == (auto["images"]["front"]["location"])
    )
    off = post_front(client, scene.jpeg, "?locate=off")
    assert off["cached"] and off["images"]["front"]["location"]["status"] == "whole_photo"


def test_the_batch_route_locates_each_photo(client: TestClient, scene: Scene) -> None:
    bare = make_scene(None, photo=-1, number=4, family="plain", seed=5).jpeg
    r = client.post(
        "/v1/predict/batch?locate=auto",
        files=[("files", ("a.jpg", scene.jpeg)), ("files", ("b.jpg", bare)),
               ("files", ("c.jpg", b"not a photo"))],
    )  # fmt: skip
    assert r.status_code == 200
    results = r.json()["results"]
    assert results[0]["result"]["images"]["front"]["location"]["status"] == "found"
    assert results[0]["result"]["status"] == "ok"
    assert results[1]["result"]["status"] == "no_amulet"
    assert results[2]["error"]["code"] == "unsupported_media_type"
    assert r.json()["timing_ms"]["locate"] > 0


def test_an_unknown_locate_mode_is_422(client: TestClient, scene: Scene) -> None:
    r = client.post("/v1/predict?locate=maybe", files={"front": ("f.jpg", scene.jpeg)})
    assert r.status_code == 422


def test_hostile_files_are_still_refused_with_locate_on(
    make_client: Callable[..., TestClient], scene: Scene, make_photo: Callable[..., bytes]
) -> None:
    client = make_client(max_image_pixels=1_000_000, decode_memory_limit_mb=8.0)
    cases = {
        "truncated": (make_photo(800, 600)[:9000], 400, "corrupt_image"),
        "not an image": (b"GIF89a" + b"\0" * 64, 415, "unsupported_media_type"),
        "over the pixel ceiling": (scene.jpeg, 413, "image_too_large"),
    }
    for name, (data, status, code) in cases.items():
        r = client.post("/v1/predict?locate=auto", files={"front": ("f.jpg", data)})
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), name
    # Under the pixel ceiling but over the per-decode memory bound: a 16-bit PNG.
    wide = Image.fromarray(np.full((900, 1000), 40000, dtype=np.uint16))
    buf = io.BytesIO()
    wide.save(buf, "PNG")
    r = client.post("/v1/predict?locate=auto", files={"front": ("f.png", buf.getvalue())})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "image_too_large")


def test_locate_time_and_statuses_are_in_the_metrics(client: TestClient, scene: Scene) -> None:
    post_front(client, scene.jpeg, "?locate=auto&top_k=2")
    text = client.get("/metrics").text
    assert "amulet_locate_seconds_count" in text
    assert 'amulet_locations_total{status="found"}' in text


def _model_copy(model_dir: Path, folder: Path, backdrop: str) -> Path:
    """The committed models with a metadata copy whose ``input.backdrop`` is ``backdrop``."""
    for path in model_dir.iterdir():
        if path.suffix in (".onnx", ".json"):
            shutil.copy(path, folder / path.name)
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    metadata["input"]["backdrop"] = backdrop
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def grey_model_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed models with a metadata copy that says ``grey_outside_mask``."""
    return _model_copy(model_dir, tmp_path_factory.mktemp("grey_model"), "grey_outside_mask")


@pytest.fixture(scope="module")
def as_is_model_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed models with a metadata copy that says ``as_is`` (as model 1.2.0)."""
    return _model_copy(model_dir, tmp_path_factory.mktemp("as_is_model"), "as_is")


def test_a_grey_outside_mask_model_sees_only_the_amulet(
    grey_model_dir: Path, as_is_model_dir: Path, scene: Scene
) -> None:
    grey = AmuletClassifier.load(grey_model_dir, with_localiser=True, warmup_runs=0)
    as_is = AmuletClassifier.load(as_is_model_dir, with_localiser=True, warmup_runs=0)
    seen = {
        name: np.asarray(prepare(clf, lambda: scene.jpeg, "auto").picture.image)
        for name, clf in (("grey", grey), ("as_is", as_is))
    }
    assert seen["grey"].shape == seen["as_is"].shape == (224, 224, 3)
    corners = [(0, 0), (0, 223), (223, 0), (223, 223)]
    assert all(tuple(seen["grey"][y, x]) == NEUTRAL_BACKGROUND for y, x in corners)
    assert not any(tuple(seen["as_is"][y, x]) == NEUTRAL_BACKGROUND for y, x in corners)
    centre = seen["grey"][112, 112].astype(int)
    assert np.abs(centre - seen["as_is"][112, 112].astype(int)).max() <= 2  # the amulet stays


def test_the_api_serves_a_grey_outside_mask_model(
    make_client: Callable[..., TestClient], grey_model_dir: Path, scene: Scene
) -> None:
    client = make_client(model_dir=grey_model_dir)
    info = client.get("/v1/model").json()
    assert info["backdrop"] == "grey_outside_mask"
    assert info["localiser"]["name"] == "amulet-localiser-lite0"
    body = post_front(client, scene.jpeg)
    assert body["images"]["front"]["location"]["status"] == "found"
    off = post_front(client, scene.jpeg, "?locate=off")
    assert body["unknown"]["score"] != off["unknown"]["score"]


def test_a_model_folder_without_a_localiser_classifies_whole(
    make_client: Callable[..., TestClient], model_dir: Path, tmp_path: Path, scene: Scene
) -> None:
    for name in ("amulet_classifier.onnx", "metadata.json"):
        shutil.copy(model_dir / name, tmp_path / name)
    client = make_client(model_dir=tmp_path)
    assert client.get("/health").json()["model"]["localiser"] is None
    body = post_front(client, scene.jpeg, "?locate=auto")
    assert body["images"]["front"]["location"]["status"] == "whole_photo"
    assert body["images"]["front"]["location"]["method"] == "off"


def test_a_reload_loads_the_localiser_of_the_folder_anew(
    make_client: Callable[..., TestClient], model_dir: Path, tmp_path: Path
) -> None:
    for path in model_dir.iterdir():
        if path.suffix in (".onnx", ".json"):
            shutil.copy(path, tmp_path / path.name)
    client = make_client(model_dir=tmp_path, admin_key="admin-secret")
    meta = json.loads((tmp_path / "localiser.json").read_text(encoding="utf-8"))
    old, new = meta["version"], meta["version"] + "-reloaded"
    meta["version"] = new
    (tmp_path / "localiser.json").write_text(json.dumps(meta), encoding="utf-8")
    assert client.get("/health").json()["model"]["localiser"]["version"] == old
    r = client.post("/v1/admin/reload", headers={"X-Admin-Key": "admin-secret"})
    assert r.status_code == 200
    assert client.get("/health").json()["model"]["localiser"]["version"] == new
    assert client.get("/v1/model").json()["localiser"]["version"] == new


def _small_in_twelve_megapixels(
    cut: CutOut, tall: int = 700
) -> tuple[bytes, tuple[int, int, int, int]]:
    """A 4000 x 3000 JPEG of a paper backdrop with the cut-out amulet ``tall`` px tall on
    it, and the amulet's box: at 700 px, its crop is under 224 px even at a quarter scale."""
    canvas = make_scene(None, photo=-1, number=9, family="paper", seed=6, canvas="12mp").image
    canvas = canvas.convert("RGB").resize((4000, 3000))
    left, top, right, bottom = cut.box
    amulet = Image.fromarray(cut.image).crop((left, top, right, bottom))
    alpha = Image.fromarray(cut.mask[top:bottom, left:right].astype(np.uint8) * 255)
    scale = tall / amulet.size[1]
    size = (round(amulet.size[0] * scale), tall)
    at = (2300, 2900 - tall)
    canvas.paste(amulet.resize(size), at, alpha.resize(size))
    box = (at[0], at[1], at[0] + size[0], at[1] + size[1])
    return _jpeg(canvas), box


def test_a_small_amulet_in_a_twelve_megapixel_photo_is_cropped_from_a_finer_decode(
    client: TestClient, cuts: list[CutOut], model_dir: Path
) -> None:
    photo, truth = _small_in_twelve_megapixels(cuts[2])
    classifier = AmuletClassifier.load(model_dir, with_localiser=True, warmup_runs=0)
    assert classifier.localiser is not None
    draft, detail = classifier.decode_draft_and_detail(
        photo, draft_side=DRAFT_SIDE, detail_side=FIRST_DETAIL_SIDE
    )
    location = classifier.localiser.locate(draft, min_zoom=MIN_ZOOM)
    need = detail_side(location, detail, classifier.input_size)
    assert need is not None and need < 3000  # a finer decode, never the full 12 MP
    body = post_front(client, photo, "?locate=auto")
    found = body["images"]["front"]["location"]
    assert found["status"] == "found", found
    assert (found["box"]["image_width"], found["box"]["image_height"]) == (4000, 3000)
    assert box_iou(_ltrb(found["box"]), truth) >= 0.8


def test_a_finer_first_decode_holds_a_mid_size_amulets_crop_the_draft_is_short_of(
    client: TestClient, cuts: list[CutOut], model_dir: Path
) -> None:
    photo, truth = _small_in_twelve_megapixels(cuts[2], tall=1200)
    classifier = AmuletClassifier.load(model_dir, with_localiser=True, warmup_runs=0)
    assert classifier.localiser is not None
    draft, detail = classifier.decode_draft_and_detail(
        photo, draft_side=DRAFT_SIDE, detail_side=2 * DRAFT_SIDE
    )
    assert (draft.image.size, detail.image.size) == ((500, 375), (1000, 750))
    location = classifier.localiser.locate(draft, min_zoom=MIN_ZOOM)
    assert detail_side(location, draft, classifier.input_size) is not None  # the draft: short
    assert detail_side(location, detail, classifier.input_size) is None  # the first decode: not
    found = post_front(client, photo, "?locate=auto")["images"]["front"]["location"]
    assert found["status"] == "found", found
    assert box_iou(_ltrb(found["box"]), truth) >= 0.8


def test_a_large_photo_that_fills_the_frame_is_classified_whole_from_its_draft(
    client: TestClient, shared_data: Path
) -> None:
    photos = load_dataset(shared_data).photos[::23]
    for photo in photos:
        tight = Image.open(photo.path).convert("RGB").resize((3000, 3000), Image.Resampling.BICUBIC)
        data = _jpeg(tight)
        located, whole = (
            post_front(client, data, "?locate=auto"),
            post_front(client, data, "?locate=off"),
        )
        location = located["images"]["front"]["location"]
        box = location["box"]
        if min(box["width"], box["height"]) < FILLS_FRAME * 3000:
            continue
        assert location["status"] == "found" and located["status"] == "ok"
        # The draft is the eighth-scale decode off makes too: the very same answer.
        assert located["predictions"] == whole["predictions"]
        assert located["unknown"] == whole["unknown"]
        return
    pytest.fail("no development photo filled its frame")
