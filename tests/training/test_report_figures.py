"""The evaluation report: figures drawn from synthetic records, the HTML page, and the
evaluate command writing it for the committed model."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amulet_ai.training.calibration import expected_calibration_error
from amulet_ai.training.evaluate import evaluate_main
from amulet_ai.training.figures import (
    OUTSIDE,
    PREDICTED_COLOUR,
    RIGHT_COLOUR,
    TRUE_COLOUR,
    WRONG_COLOUR,
    SceneTile,
    calibration_error,
    confusion_image,
    contact_sheet,
    reliability_bins,
    reliability_image,
    scene_view,
)
from amulet_ai.training.html_report import (
    CONFUSION_PNG,
    RELIABILITY_PNG,
    SCENES_PNG,
    ClassNames,
    per_class_figures,
    write_report,
)
from amulet_ai.training.scene_report import (
    SceneResult,
    located_scenes,
    scene_figures,
    sheet_tiles,
    write_scene_report,
)

CLASSES = [
    ClassNames("phra_sivali", "Phra Sivali", "พระสีวลี"),
    ClassNames("waek_man", "Waek Man", "แหวกม่าน"),
    ClassNames("somdej", "Somdej", "สมเด็จ"),
]


def _tile(right: bool, seed: int = 0) -> SceneTile:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (160, 160, 3), dtype=np.uint8)  # dark: boxes stand out
    return SceneTile(
        image=image,
        true_box=(40, 40, 120, 120),
        predicted_box=(30, 50, 110, 130) if right else None,
        true_name="Somdej",
        predicted_name="Somdej" if right else "no amulet",
        right=right,
        note="stone, IoU 0.64",
    )


def test_reliability_bins_give_the_calibration_modules_ece() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4) * 0.5, 300)
    labels = rng.integers(0, 4, 300)
    bins = reliability_bins(probs.max(1), probs.argmax(1) == labels)
    assert sum(b.count for b in bins) == 300
    assert calibration_error(bins) == pytest.approx(expected_calibration_error(probs, labels))
    assert calibration_error(reliability_bins(np.array([]), np.array([]))) == 0.0


def test_confusion_image_grows_with_the_classes_and_refuses_a_wrong_shape() -> None:
    two = confusion_image([[3, 1], [0, 4]], ["a", "b"])
    three = confusion_image(np.eye(3, dtype=int) * 5, ["a", "b", "c"])
    assert three.size[0] - two.size[0] == three.size[1] - two.size[1] == 56
    with pytest.raises(ValueError, match="expected"):
        confusion_image([[1, 2]], ["a", "b"])


def test_contact_sheet_draws_boxes_and_frames_in_their_colours() -> None:
    sheet = contact_sheet([_tile(True), _tile(False, 1), _tile(True, 2)], columns=2, tile=160)
    cell_w, cell_h, pad, legend = 160 + 12, 160 + 12 + 34, 6, 24
    assert sheet.size == (2 * cell_w, legend + 2 * cell_h)
    px = sheet.load()
    assert px is not None
    assert px[1, legend + 50] == RIGHT_COLOUR  # first tile's frame
    assert px[cell_w + 1, legend + 50] == WRONG_COLOUR  # second tile's frame
    assert px[pad + 80, legend + pad + 40] == TRUE_COLOUR  # true box's top edge
    assert px[pad + 30, legend + pad + 90] == PREDICTED_COLOUR  # predicted box's left edge
    # The wrong tile has no predicted box: nothing orange inside it.
    inner = np.asarray(sheet)[legend + pad : legend + pad + 160, cell_w + pad : cell_w + pad + 160]
    assert not (inner == PREDICTED_COLOUR).all(-1).any()
    with pytest.raises(ValueError):
        contact_sheet([])


def test_scene_view_keeps_both_boxes_inside_and_in_proportion() -> None:
    scene = Image.new("RGB", (2000, 1500), (90, 90, 90))
    view, true_box, predicted = scene_view(scene, (800, 600, 1200, 1000), (850, 600, 1250, 1000))
    assert view.shape == (200, 200, 3)
    assert predicted is not None
    for box in (true_box, predicted):
        assert 0 <= box[0] < box[2] <= 200 and 0 <= box[1] < box[3] <= 200
    # 400 px boxes in a 1.4 x 450 px square scaled to 200 px: 127 px each.
    assert true_box[2] - true_box[0] == pytest.approx(127, abs=1)
    assert predicted[0] - true_box[0] == pytest.approx(16, abs=1)


def test_report_page_names_every_class_and_its_pngs_open(tmp_path: Path) -> None:
    confusion = np.array([[5, 1, 0], [0, 3, 2], [1, 0, 4]])
    rng = np.random.default_rng(2)
    bins = reliability_bins(rng.uniform(0.3, 1, 16), rng.random(16) < 0.7)
    tiles = [_tile(True), _tile(False, 1), _tile(False, 2)]
    page = write_report(
        tmp_path / "out",
        title="test report",
        classes=CLASSES,
        confusion=confusion,
        reliability=bins,
        figures={"top1": 0.75, "scenes": 3},
        tiles=tiles,
    )
    text = page.read_text(encoding="utf-8")
    for c in CLASSES:
        assert c.id in text and c.name_en in text and c.name_th in text
    for png in (CONFUSION_PNG, RELIABILITY_PNG, SCENES_PNG):
        assert f'src="{png}"' in text
        with Image.open(page.parent / png) as img:
            img.verify()
    with Image.open(page.parent / SCENES_PNG) as img:
        assert img.size == contact_sheet(tiles).size
    with Image.open(page.parent / RELIABILITY_PNG) as img:
        assert img.size == reliability_image(bins, 0.0).size
    assert "3 scenes shown, 2 wrong and 1 right" in text
    assert f"over {sum(b.count for b in bins)} answers" in text
    # Per-class rows: recall of phra_sivali 5/6, six photos, six answered as it.
    row = re.search(r"<tr><td>0</td>.*?</tr>", text)
    assert row is not None
    assert "0.8333" in row.group(0) and row.group(0).count("<td>6</td>") == 2
    assert per_class_figures(confusion, CLASSES)["waek_man"]["precision"] == pytest.approx(0.75)
    with pytest.raises(ValueError):
        write_report(tmp_path, title="x", classes=CLASSES, confusion=[[1]], reliability=bins)


def test_a_report_without_scenes_has_no_contact_sheet(tmp_path: Path) -> None:
    bins = reliability_bins(np.array([0.9]), np.array([True]))
    page = write_report(
        tmp_path, title="t", classes=CLASSES[:2], confusion=[[1, 0], [0, 0]], reliability=bins
    )
    assert not (tmp_path / SCENES_PNG).exists()
    assert "Scene crops" not in page.read_text(encoding="utf-8")


def test_evaluate_writes_the_report_for_the_committed_model(
    tmp_path: Path,
    model_dir: Path,
    make_photo: Callable[..., bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    ids = ["phra_sivali", "waek_man", "somdej_pratanporn_buddhagavak"]
    for k, class_id in enumerate(ids):
        folder = data / class_id / "front"
        folder.mkdir(parents=True)
        for j in range(2):
            (folder / f"{j}.jpg").write_bytes(make_photo(240, 260, seed=10 * k + j))
    report = tmp_path / "report"
    assert (
        evaluate_main(["--data", str(data), "--model-dir", str(model_dir), "--report", str(report)])
        == 0
    )
    assert f"report: {report / 'index.html'}" in capsys.readouterr().out
    text = (report / "index.html").read_text(encoding="utf-8")
    for class_id in ids:
        assert class_id in text
    assert "พระสีวลี" in text  # Thai names from the model's metadata
    assert "over 6 answers" in text
    for png in (CONFUSION_PNG, RELIABILITY_PNG):
        with Image.open(report / png) as img:
            img.verify()
    assert not (report / SCENES_PNG).exists()


@pytest.mark.slow  # three 2000 x 1500 scenes generated, located and classified
def test_located_scenes_through_the_shipped_models_make_a_scene_report(
    tmp_path: Path, shared_data: Path, model_dir: Path
) -> None:
    classes, results = located_scenes(shared_data, model_dir=model_dir, limit=3)
    assert len(results) == 3
    assert [c.id for c in classes] == sorted(p.name for p in shared_data.iterdir() if p.is_dir())
    for r in results:
        assert 0.0 <= r.iou <= 1.0 and 0.0 < r.confidence <= 1.0
        assert r.tile.image.shape == (200, 200, 3)
        assert r.right == (r.status == "found" and r.answered_class == r.true_class and r.kept)
    assert len({r.true_class for r in results}) > 1, "scenes spread over the classes"
    page = write_scene_report(tmp_path, classes, results)
    text = page.read_text(encoding="utf-8")
    assert "3 scenes shown" in text and "over 3 answers" in text
    with Image.open(tmp_path / SCENES_PNG) as img:
        assert img.size == contact_sheet([r.tile for r in results]).size


def _result(
    true_class: int, answered: int, status: str = "found", kept: bool = True
) -> SceneResult:
    right = status == "found" and answered == true_class and kept
    tile = replace(_tile(right), right=right)
    return SceneResult(
        tile, true_class, answered, 0.8, status, 0.9 if status == "found" else 0.0, kept
    )


def test_scene_figures_and_the_sheet_put_wrong_answers_first() -> None:
    results = [_result(0, 0)] * 5 + [
        _result(1, 2),
        _result(2, 2, kept=False),
        _result(1, 1, "no_amulet"),
    ]
    figures = scene_figures(results)
    assert figures["scenes"] == 8
    assert figures["right and kept"] == pytest.approx(5 / 8)
    assert figures["status no_amulet"] == pytest.approx(1 / 8)
    assert figures["top-1 (found scenes)"] == pytest.approx(6 / 7)
    assert figures["kept (found, not flagged)"] == pytest.approx(6 / 8)
    tiles = sheet_tiles(results, count=4)
    assert [t.right for t in tiles] == [False, False, True, True]
    assert [t.right for t in sheet_tiles(results, count=8)].count(False) == 3


def test_scene_view_beyond_the_scenes_edge_is_light_grey() -> None:
    scene = Image.new("RGB", (400, 300), (10, 10, 10))
    view, true_box, _ = scene_view(scene, (0, 0, 100, 100), None, size=140)
    assert tuple(view[2, 2]) == OUTSIDE  # the square starts 20 px left of and above the scene
    assert tuple(view[true_box[1] + 5, true_box[0] + 5]) == (10, 10, 10)
