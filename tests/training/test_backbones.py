"""The recipe's backbone choice: Lite0, Lite2 and both, their features, graph and serving size."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from amulet_ai.model import AmuletClassifier  # noqa: E402
from amulet_ai.model.localiser import Localiser  # noqa: E402
from amulet_ai.training.export import _to_cam_grid  # noqa: E402
from amulet_ai.training.features import (  # noqa: E402
    FEATURE_DIM,
    feature_columns,
    load_backbone,
    pool_levels,
    spec,
)
from amulet_ai.training.located import located_crop  # noqa: E402
from amulet_ai.training.train import train_main  # noqa: E402
from bench.bench_backbones import bench_backbones  # noqa: E402

pytestmark = pytest.mark.train


def test_each_backbone_says_its_input_size_levels_and_which_columns_it_shares() -> None:
    lite0, lite2, both = spec("lite0"), spec("lite2"), spec("lite0+lite2")
    assert (lite0.input_size, lite0.feature_dim) == (224, FEATURE_DIM)
    assert (lite2.input_size, lite2.level_channels) == (260, (120, 208, 352, 1280))
    assert both.input_size == 260 and both.feature_dim == lite0.feature_dim + lite2.feature_dim
    assert both.detector_levels == (0, 1, 2, 4, 5, 6)  # the tapped blocks, not the heads
    assert feature_columns(lite2, both) == slice(1904, 3864)
    assert feature_columns(lite0, both) is None  # inside both, Lite0 reads a resized input
    assert feature_columns(lite0, lite2) is None
    with pytest.raises(ValueError, match="unknown backbone"):
        spec("lite9")


def test_lite2s_features_are_the_last_columns_of_lite0_plus_lite2s() -> None:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, 260, 260)).astype("f4"))
    alone, both = load_backbone("lite2"), load_backbone("lite0+lite2")
    with torch.no_grad():
        maps = alone(x)
        wide = pool_levels(both(x)).numpy()
    assert [tuple(m.shape[1:]) for m in maps] == [
        (120, 17, 17), (208, 9, 9), (352, 9, 9), (1280, 9, 9),
    ]  # fmt: skip
    columns = feature_columns(spec("lite2"), spec("lite0+lite2"))
    assert columns is not None
    assert np.allclose(wide[:, columns], pool_levels(maps).numpy(), atol=1e-5)


def test_a_level_put_on_the_cam_grid_keeps_its_mean() -> None:
    level = torch.from_numpy(np.random.default_rng(1).normal(size=(2, 6, 17, 17)).astype("f4"))
    grid = _to_cam_grid(level, 17, 9)
    assert grid.shape == (2, 6, 9, 9)
    assert torch.allclose(grid.mean(dim=(2, 3)), level.mean(dim=(2, 3)), atol=1e-6)
    assert torch.equal(_to_cam_grid(level[..., :9, :9], 9, 9), level[..., :9, :9])


def test_the_located_crop_is_made_at_the_classifiers_size(
    model_dir: Path, make_photo: Callable[..., bytes]
) -> None:
    crop, _ = located_crop(Localiser.load(model_dir), make_photo(640, 480, seed=3), 260)
    assert crop.size == (260, 260)


@pytest.mark.slow
def test_a_lite2_classifier_is_trained_exported_and_served_at_260_px(
    tmp_path: Path, model_dir: Path, make_photo: Callable[..., bytes]
) -> None:
    data = tmp_path / "data"
    for c, name in enumerate(("alpha", "beta", "gamma")):
        for side, count in (("front", 2), ("back", 1)):
            folder = data / name / side
            folder.mkdir(parents=True)
            for j in range(count):
                photo = make_photo(256, 240, seed=10 * c + j + 5 * len(side))
                (folder / f"{j}.jpg").write_bytes(photo)
    out = tmp_path / "model"
    argv = ["--data", str(data), "--out", str(out), "--localiser-dir", str(model_dir)]
    argv += ["--backbone", "lite2", "--views", "2", "--composites", "1", "--raw-views", "2"]
    assert train_main([*argv, "--folds", "2", "--no-cache"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["input"]["size"] == 260 and meta["architecture"] == "efficientnet-lite2"
    assert meta["training"]["backbone"] == "lite2" and meta["name"] == "amulet-effnet-lite2"
    assert meta["training"]["command"].endswith("--backbone lite2")
    assert meta["metrics"]["parity_max_abs_logit_diff"] <= 1e-4
    assert meta["unknown"]["threshold"] > 0 and meta["metrics"]["cv"]["folds"] == 2
    for name in ("localiser.json", "amulet_localiser.onnx"):  # served with locate=auto
        shutil.copy(model_dir / name, out / name)
    classifier = AmuletClassifier.load(out, with_localiser=True, warmup_runs=1)
    assert classifier.input_size == 260
    scores = classifier.score([make_photo(800, 600, seed=7)])[0]
    assert scores.decoded.image.size == (260, 260)
    assert scores.cam.shape == (3, 9, 9)
    assert scores.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    timed = bench_backbones([model_dir, out], rounds=1, runs=2)["models"]
    assert [m["input_size"] for m in timed.values()] == [224, 260]
    assert all(m["cpu_ms_per_run"] > 0 for m in timed.values())
