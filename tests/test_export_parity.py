"""The exported ONNX graph reproduces torch, and the parity check fails when it does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from amulet_ai.imaging.decode import decode_image, to_tensor  # noqa: E402
from amulet_ai.training.export import (  # noqa: E402
    DeployableModel,
    ExportParityError,
    check_parity,
    export_onnx,
)
from amulet_ai.training.features import FEATURE_DIM, LEVEL_CHANNELS, load_backbone  # noqa: E402
from amulet_ai.training.head import fit_linear_head  # noqa: E402
from amulet_ai.training.unknown import fit_mahalanobis  # noqa: E402

pytestmark = pytest.mark.train

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "amulets"


def _photos(make_photo: Callable[..., bytes]) -> np.ndarray:
    """Real photos when ../shared is present (every 9th), else generated ones."""
    paths = sorted(SHARED_DATA.glob("*/*/*.jpg"))[::9] if SHARED_DATA.is_dir() else []
    blobs = [p.read_bytes() for p in paths] or [make_photo(300, 260, seed=s) for s in range(8)]
    return np.stack([to_tensor(decode_image(b).image) for b in blobs])


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory, make_photo: Callable[..., bytes]
) -> tuple[DeployableModel, Path, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 10)
    feats = rng.normal(size=(60, FEATURE_DIM)).astype(np.float32) + labels[:, None] * 0.1
    head = fit_linear_head(feats[:, -LEVEL_CHANNELS[-1] :], labels, n_classes=6, l2=1e-2)
    detector = fit_mahalanobis(feats, labels, n_classes=6, rank=8)
    model = DeployableModel(
        load_backbone(),
        head,
        detector,
        head_levels=(3,),
        feature_mean=np.zeros(FEATURE_DIM, np.float32),
        feature_std=np.ones(FEATURE_DIM, np.float32),
    )
    path = tmp_path_factory.mktemp("parity") / "model.onnx"
    export_onnx(model, path)
    return model, path, _photos(make_photo)


def test_onnx_matches_torch_on_photos(exported: tuple[DeployableModel, Path, np.ndarray]) -> None:
    model, path, batch = exported
    assert check_parity(model, path, batch) <= 1e-4


def test_parity_check_fails_when_graph_differs(
    exported: tuple[DeployableModel, Path, np.ndarray],
) -> None:
    model, path, batch = exported
    original = model.bias.clone()
    model.bias += 1e-3  # torch now differs from the file on disk
    try:
        with pytest.raises(ExportParityError):
            check_parity(model, path, batch)
    finally:
        model.bias.copy_(original)


def test_logits_are_the_mean_of_the_cam(exported: tuple[DeployableModel, Path, np.ndarray]) -> None:
    model, _, batch = exported
    with torch.no_grad():
        logits, unknown, cam = model(torch.from_numpy(batch[:2]))
    assert cam.shape == (2, 6, 7, 7) and unknown.shape == (2,)
    torch.testing.assert_close(logits, cam.mean(dim=(2, 3)) + model.bias, rtol=0, atol=1e-5)
