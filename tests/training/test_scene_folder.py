"""Phone-style scenes written as files: the scenes command's own scenes, judged by evaluate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from amulet_ai.training.cutout import cut_out_all
from amulet_ai.training.data import load_dataset
from amulet_ai.training.evaluate import evaluate_main
from amulet_ai.training.scene_folder import INDEX, main, write_scene_folder


@pytest.fixture
def two_photos(tmp_path: Path, shared_data: Path) -> Path:
    """The first front of two types, in the development photos' layout (outside the repo)."""
    data = tmp_path / "photos"
    for class_id in ("phra_sivali", "waek_man"):
        source = sorted((shared_data / class_id / "front").iterdir())[0]
        (data / class_id / "front").mkdir(parents=True)
        shutil.copy(source, data / class_id / "front" / source.name)
    return data


def test_the_files_are_the_scenes_commands_test_scenes(two_photos: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")  # the scenes command's module (command C) needs it
    from amulet_ai.training.served_scenes import phone_scene

    out = tmp_path / "scenes"
    index = write_scene_folder(two_photos, out, per_photo=2)
    assert len(index) == 4
    listing = json.loads((out / INDEX).read_text())
    assert listing["scenes"] == index and listing["rejected"] == []
    dataset = load_dataset(two_photos)
    cuts, _ = cut_out_all(dataset.photos)
    for entry in index:
        photo = next(i for i, p in enumerate(dataset.photos) if p.path.stem in entry["file"])
        number = int(entry["file"].rsplit("-", 2)[1])
        scene = phone_scene(cuts[photo], photo, number, entry["family"], seed=0)
        assert (out / entry["file"]).read_bytes() == scene.jpeg
        assert entry["box"] == list(scene.box) and entry["size"] == list(scene.image.size)
        assert sorted(entry["size"]) == [1500, 2000]  # the phone canvas, either way up
        assert entry["file"].startswith(f"{entry['class_id']}/front/")


def test_the_command_writes_a_folder_evaluate_reads(
    two_photos: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scenes"
    argv = ["--data", str(two_photos), "--out", str(out), "--per-photo", "1"]
    assert main([*argv, "--families", "wood", "--canvas", "small"]) == 0
    assert "2 scenes written" in capsys.readouterr().out
    figures = tmp_path / "figures.json"
    args = ["--data", str(out), "--model-dir", str(model_dir), "--no-report"]
    assert evaluate_main([*args, "--json", str(figures)]) == 0
    result = json.loads(figures.read_text())
    assert result["photos"] == 2 and result["locate"] == "auto"


def test_an_unknown_family_is_refused(two_photos: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(two_photos), "--out", str(tmp_path / "x"), "--families", "lava"])
