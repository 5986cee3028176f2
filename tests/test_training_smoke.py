"""Train end to end on a tiny generated data set: CV, export, load with the runtime, classify."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from amulet_ai.model import AmuletClassifier  # noqa: E402
from amulet_ai.training.train import train_main  # noqa: E402

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
    argv += ["--epochs", "1", "--finetune-blocks", "1"]  # the fine-tuning path, one pass
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
