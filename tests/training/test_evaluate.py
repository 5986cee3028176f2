"""The evaluate command judges each photo as the API does: located phone photos, other
types and unreadable files included."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from amulet_ai.config import Settings
from amulet_ai.model import AmuletClassifier
from amulet_ai.serving.predictor import Predictor
from amulet_ai.training.evaluate import answer_all, evaluate, evaluate_main, labelled_photos
from bench.photos import scene_jpeg


@pytest.fixture(scope="module")
def located_model(model_dir: Path) -> AmuletClassifier:
    return AmuletClassifier.load(model_dir, with_localiser=True)


def _first(shared_data: Path, class_id: str) -> Path:
    return sorted((shared_data / class_id / "front").iterdir())[0]


def _phone_scene(photo: Path, size: tuple[int, int] = (2000, 1500)) -> bytes:
    """``photo`` at half the short side of a photo-like backdrop, off centre."""
    backdrop = Image.open(io.BytesIO(scene_jpeg(*size, seed=3))).convert("RGB")
    side = size[1] // 2
    with Image.open(photo) as amulet:
        backdrop.paste(amulet.convert("RGB").resize((side, side)), (size[0] // 5, size[1] // 4))
    buf = io.BytesIO()
    backdrop.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def photo_folder(tmp_path: Path, shared_data: Path, make_photo: Callable[..., bytes]) -> Path:
    data = tmp_path / "data"
    waek_man = data / "waek_man" / "front"
    waek_man.mkdir(parents=True)
    (waek_man / "scene.jpg").write_bytes(_phone_scene(_first(shared_data, "waek_man")))
    (waek_man / "tight.jpg").write_bytes(_first(shared_data, "waek_man").read_bytes())
    (waek_man / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all")
    sivali = data / "phra_sivali"  # a photo directly in its class folder: side unknown
    sivali.mkdir()
    (sivali / "tight.jpg").write_bytes(_first(shared_data, "phra_sivali").read_bytes())
    other = data / "somdej_other_temple" / "front"  # a type the model does not know
    other.mkdir(parents=True)
    (other / "picture.jpg").write_bytes(make_photo(640, 480, seed=5))
    return data


def test_photos_are_listed_by_class_folder_with_or_without_sides(photo_folder: Path) -> None:
    photos = labelled_photos(photo_folder)
    assert [(p.class_id, p.side, p.path.name) for p in photos] == [
        ("phra_sivali", "any", "tight.jpg"),
        ("somdej_other_temple", "front", "picture.jpg"),
        ("waek_man", "front", "broken.jpg"),
        ("waek_man", "front", "scene.jpg"),
        ("waek_man", "front", "tight.jpg"),
    ]


def test_a_phone_scene_is_found_and_cropped_as_the_api_would(
    photo_folder: Path, located_model: AmuletClassifier
) -> None:
    scene = photo_folder / "waek_man" / "front" / "scene.jpg"
    (auto,) = answer_all(located_model, [scene], "auto")
    (whole,) = answer_all(located_model, [scene], "off")
    assert auto is not None and whole is not None
    assert auto.status == "found" and whole.status == "whole_photo"
    waek_man = [c.id for c in located_model.metadata.classes].index("waek_man")
    assert auto.probabilities.argmax() == waek_man and not auto.flagged
    assert auto.probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_a_phone_scene_is_scored_with_the_apis_crop_turns(
    photo_folder: Path, located_model: AmuletClassifier
) -> None:
    # The command's default is the API's AMULET_CROP_TURNS: a cropped 2000 x 1500 scene is
    # answered by the mean of its crop's four quarter turns, as the app would answer it.
    path = photo_folder / "waek_man" / "front" / "scene.jpg"
    (turned,) = answer_all(located_model, [path], "auto", 4)
    (upright,) = answer_all(located_model, [path], "auto")
    assert turned is not None and upright is not None
    expected = Predictor(4).predict(
        located_model, path.read_bytes(), None, top_k=6, explain=False, locate="auto"
    )
    by_class = {p.class_id: p.probability for p in expected.classification.predictions}
    ids = [c.id for c in located_model.metadata.classes]
    assert turned.probabilities == pytest.approx([by_class[i] for i in ids], abs=1e-6)
    assert turned.score != pytest.approx(upright.score)
    assert Settings().crop_turns == 4
    assert evaluate(located_model, photo_folder, [])["crop_turns"] == 1  # evaluate()'s own
    assert evaluate(located_model, photo_folder, [], turns=4)["crop_turns"] == 4


def test_evaluate_counts_known_other_and_unreadable_photos(
    photo_folder: Path,
    tmp_path: Path,
    located_model: AmuletClassifier,
    make_photo: Callable[..., bytes],
) -> None:
    not_amulets = tmp_path / "not_amulets"
    not_amulets.mkdir()
    for seed in (1, 2):
        (not_amulets / f"{seed}.png").write_bytes(make_photo(500, 400, fmt="PNG", seed=seed))
    result = evaluate(located_model, photo_folder, [not_amulets])
    assert result["locate"] == "auto"
    assert result["photos"] == 3 and result["unreadable"] == 1
    assert result["top1"] == 1.0 and result["right_and_kept"] == 1.0
    assert result["top1_front"] == 1.0 and result["top1_back"] is None
    assert sum(result["statuses"].values()) == 3
    other = result["other_types"]["somdej_other_temple"]
    assert other["photos"] == 1 and other["flagged_rate"] == 1.0 and other["auroc"] == 1.0
    assert other["answered_as"] == {}
    folder = result["unknown"][str(not_amulets)]
    assert folder["photos"] == 2 and folder["flagged_rate"] == 1.0
    json.dumps(result)  # JSON-ready as written by --json


def test_a_model_without_its_localiser_judges_photos_whole(
    photo_folder: Path, model_dir: Path
) -> None:
    plain = AmuletClassifier.load(model_dir)
    result = evaluate(plain, photo_folder, [])
    assert result["locate"] == "off" and result["statuses"] == {"whole_photo": 3}


def test_the_command_writes_json_and_takes_locate_off(
    photo_folder: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.json"
    argv = ["--data", str(photo_folder), "--model-dir", str(model_dir), "--no-report"]
    assert evaluate_main([*argv, "--locate", "off", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "locate=off" in printed and "type somdej_other_temple: 1 photos" in printed
    figures = json.loads(out.read_text())
    assert figures["locate"] == "off" and figures["photos"] == 3


def test_a_folder_of_other_types_alone_is_scored_for_flags_only(
    tmp_path: Path, model_dir: Path, make_photo: Callable[..., bytes]
) -> None:
    data = tmp_path / "others"
    (data / "phra_khun_paen").mkdir(parents=True)
    (data / "phra_khun_paen" / "a.jpg").write_bytes(make_photo(320, 240, seed=8))
    report = tmp_path / "report"
    argv = ["--data", str(data), "--model-dir", str(model_dir), "--report", str(report)]
    assert evaluate_main(argv) == 0
    assert (report / "index.html").is_file()
    model = AmuletClassifier.load(model_dir, with_localiser=True)
    result = evaluate(model, data, [])
    assert result["photos"] == 0 and result["top1"] is None and result["reliability"] == []
    other = result["other_types"]["phra_khun_paen"]
    assert other["photos"] == 1 and other["auroc"] is None and other["flagged_rate"] == 1.0
