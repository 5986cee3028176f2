"""Train end to end on a tiny generated data set: CV, export, load with the runtime, classify."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("torch")

from amulet_ai.model import AmuletClassifier  # noqa: E402
from amulet_ai.training.embedding_output import embedding_references  # noqa: E402
from amulet_ai.training.train import DEFAULT_LABEL_SMOOTHING, train_main  # noqa: E402

pytestmark = pytest.mark.train

CLASSES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, make_photo: Callable[..., bytes]) -> Path:
    root = tmp_path_factory.mktemp("tiny_amulets")
    for c, name in enumerate(CLASSES):
        for side, count in (("front", 2), ("back", 1)):
            folder = root / name / side
            folder.mkdir(parents=True)
            for j in range(count):
                photo = make_photo(256, 240, seed=100 * c + 10 * j + len(side))
                (folder / f"{name}_{side}_{j:03d}.jpg").write_bytes(photo)
    return root


@pytest.fixture(scope="module")
def trained(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    argv = ["--data", str(tiny_data), "--out", str(out), "--views", "2", "--folds", "2"]
    # The recipe of model 1.2.0 with the fine-tuning path, one pass.
    argv += ["--backdrop", "as_is", "--epochs", "1", "--finetune-blocks", "1"]
    assert train_main([*argv, "--no-cache"]) == 0
    return out


def test_train_writes_contract_metadata(trained: Path) -> None:
    meta = json.loads((trained / "metadata.json").read_text())
    assert [c["id"] for c in meta["classes"]] == sorted(CLASSES)
    assert meta["input"]["name"] == "image" and meta["input"]["size"] == 224
    assert meta["data"]["photos"] == 18
    assert meta["temperature"] > 0
    assert meta["unknown"]["threshold"] > 0
    assert meta["metrics"]["cv"]["folds"] == 2
    assert meta["metrics"]["parity_max_abs_logit_diff"] <= 1e-4
    assert meta["training"]["epochs"] == 1 and meta["training"]["finetune"]["train_blocks"] == 1
    assert 0.0 <= meta["metrics"]["cv"]["unknown_auroc_unseen_type"] <= 1.0
    assert meta["version"] == "1.2.0" and meta["input"]["backdrop"] == "as_is"
    assert meta["training"]["label_smoothing"] == 0.0  # 1.2.0's head, as it was fitted


@pytest.fixture(scope="module")
def cloth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six types of a pale plaque on red studio cloth, told apart by the marks on it."""
    root = tmp_path_factory.mktemp("cloth_amulets")
    for c, name in enumerate(CLASSES):
        for side, count in (("front", 2), ("back", 1)):
            folder = root / name / side
            folder.mkdir(parents=True)
            for j in range(count):
                rng = np.random.default_rng([c, j, len(side)])
                image = Image.new("RGB", (224, 224), (190, 20, 30))
                draw = ImageDraw.Draw(image)
                left, top = (int(v) for v in rng.integers(25, 45, 2))
                draw.rounded_rectangle((left, top, left + 150, top + 170), 25, (200, 180, 140))
                for k in range(c + 1):  # the type's marks
                    x, y = 60 + 18 * k, 70 + (c % 3) * 30
                    draw.ellipse((x, y, x + 12, y + 40), fill=(60 + 30 * c, 50, 40))
                buf = io.BytesIO()
                image.save(buf, "JPEG", quality=92)
                (folder / f"{name}_{side}_{j:03d}.jpg").write_bytes(buf.getvalue())
    return root


@pytest.fixture(scope="module")
def trained_grey(
    cloth_data: Path, tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Path:
    out = tmp_path_factory.mktemp("model2")
    argv = ["--data", str(cloth_data), "--out", str(out), "--localiser-dir", str(model_dir)]
    argv += ["--views", "3", "--composites", "1", "--raw-views", "1", "--folds", "2"]
    assert train_main([*argv, "--no-cache"]) == 0
    return out


def test_the_default_recipe_trains_model_2_on_located_greyed_views(
    trained_grey: Path, cloth_data: Path
) -> None:
    meta = json.loads((trained_grey / "metadata.json").read_text())
    assert meta["version"] == "2.4.0"
    assert meta["input"]["backdrop"] == "grey_outside_mask"
    assert meta["training"]["composites_per_photo"] == 1
    assert meta["metrics"]["parity_max_abs_logit_diff"] <= 1e-4
    served = meta["metrics"]["cv"]["served"]
    assert set(served) == {
        "photo with locate=auto as served (frame-filling photos whole)",
        "photo whole (locate=off)",
        "composite crops",
    }
    assert all(0.0 <= f["top1"] <= 1.0 and 0.0 <= f["kept"] <= 1.0 for f in served.values())
    assert all(0.0 < f["ece"] < 1.0 for f in served.values())
    # Model 2's head is fitted with label smoothing by default (model card, "Calibration").
    assert meta["training"]["label_smoothing"] == DEFAULT_LABEL_SMOOTHING > 0
    assert f"label smoothing {DEFAULT_LABEL_SMOOTHING:g}" in meta["training"]["method"]
    # References: each photo's located crop and its mirror, its one composite, the photo
    # as it is (one plain view asked for).
    refs = embedding_references(trained_grey / "amulet_classifier.onnx")
    assert refs.shape[0] == 18 * 4
    model = AmuletClassifier.load(trained_grey)
    assert model.metadata.outputs.embedding == "embedding"


def test_exported_model_classifies_through_the_runtime(
    trained: Path, tiny_data: Path, make_photo: Callable[..., bytes]
) -> None:
    model = AmuletClassifier.load(trained)
    photos = sorted(tiny_data.glob("*/front/*.jpg"))
    scores = model.score([p.read_bytes() for p in photos])
    assert len(scores) == len(photos)
    for s in scores:
        assert s.probabilities.shape == (6,)
        assert np.isclose(s.probabilities.sum(), 1.0, atol=1e-5)
        assert np.isfinite(s.unknown_score)
        assert s.cam.shape == (6, 7, 7)
    # A fitted linear head recovers most of its own training photos.
    names = sorted(CLASSES)
    hits = [
        names[int(s.probabilities.argmax())] == p.parent.parent.name
        for s, p in zip(scores, photos, strict=True)
    ]
    assert sum(hits) >= len(hits) - 2
