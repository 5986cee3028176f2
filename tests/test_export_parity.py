"""The exported ONNX graph reproduces torch, and the parity check fails when it does not."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from amulet_ai.imaging.decode import decode_image, to_tensor  # noqa: E402
from amulet_ai.training.crossval import head_columns  # noqa: E402
from amulet_ai.training.export import (  # noqa: E402
    DeployableModel,
    ExportParityError,
    check_parity,
    export_onnx,
)
from amulet_ai.training.features import (  # noqa: E402
    FEATURE_DIM,
    LEVEL_CHANNELS,
    load_backbone,
    pool_levels,
)
from amulet_ai.training.head import LinearHead, fit_linear_head  # noqa: E402
from amulet_ai.training.unknown import (  # noqa: E402
    MahalanobisDetector,
    fit_mahalanobis,
    fit_nearest_reference,
)

pytestmark = pytest.mark.train

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "amulets"


def _photos(make_photo: Callable[..., bytes]) -> np.ndarray:
    """Real photos when ../shared is present (every 9th), else generated ones."""
    paths = sorted(SHARED_DATA.glob("*/*/*.jpg"))[::9] if SHARED_DATA.is_dir() else []
    blobs = [p.read_bytes() for p in paths] or [make_photo(300, 260, seed=s) for s in range(8)]
    return np.stack([to_tensor(decode_image(b).image) for b in blobs])


@pytest.fixture(scope="module")
def head_and_detector() -> tuple[LinearHead, MahalanobisDetector]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 10)
    feats = rng.normal(size=(60, FEATURE_DIM)).astype(np.float32) + labels[:, None] * 0.1
    head = fit_linear_head(feats[:, -LEVEL_CHANNELS[-1] :], labels, n_classes=6, l2=1e-2)
    return head, fit_mahalanobis(feats, labels, n_classes=6, rank=8)


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
    make_photo: Callable[..., bytes],
    head_and_detector: tuple[LinearHead, MahalanobisDetector],
) -> tuple[DeployableModel, Path, np.ndarray]:
    head, detector = head_and_detector
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


def _standardised(
    model: DeployableModel, batch: np.ndarray, levels: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The batch's pooled features of ``levels``, standardised over the batch, with the
    mean and standard deviation used, and the pooled features of every level."""
    with torch.no_grad():
        pooled = pool_levels(model.backbone(torch.from_numpy(batch))).numpy()
    feats = pooled[:, head_columns(levels)]
    mean, std = feats.mean(axis=0), feats.std(axis=0) + 1e-6
    return (feats - mean) / std, mean, std, pooled


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


def test_fine_tuned_graph_keeps_the_frozen_detector(
    exported: tuple[DeployableModel, Path, np.ndarray],
    head_and_detector: tuple[LinearHead, MahalanobisDetector],
    tmp_path: Path,
) -> None:
    """A graph whose last block is changed (as fine-tuning does) still matches onnxruntime,
    its logits move, and its unknown score still reads the frozen network."""
    frozen_model, _, batch = exported
    tuned = copy.deepcopy(frozen_model.backbone)
    with torch.no_grad():
        for param in tuned.net._blocks[15].parameters():
            param.mul_(1.05)
    model = DeployableModel(
        tuned,
        *head_and_detector,
        head_levels=(3,),
        feature_mean=frozen_model.feat_mean.numpy(),
        feature_std=frozen_model.feat_std.numpy(),
        detector_backbone=frozen_model.backbone,
        shared_blocks=15,
    )
    path = tmp_path / "tuned.onnx"
    export_onnx(model, path)
    assert check_parity(model, path, batch) <= 1e-4
    with torch.no_grad():
        x = torch.from_numpy(batch[:3])
        frozen_logits, frozen_unknown, _ = frozen_model(x)
        logits, unknown, cam = model(x)
    assert float((logits - frozen_logits).abs().max()) > 1e-3
    torch.testing.assert_close(unknown, frozen_unknown, rtol=0, atol=1e-5)
    torch.testing.assert_close(logits, cam.mean(dim=(2, 3)) + model.bias, rtol=0, atol=1e-5)


def test_nearest_reference_score_in_the_graph_matches_the_detector(
    exported: tuple[DeployableModel, Path, np.ndarray],
    head_and_detector: tuple[LinearHead, MahalanobisDetector],
    tmp_path: Path,
) -> None:
    """The shipped detector kind: onnxruntime's unknown score is the numpy detector's on the
    network's own features, and a reference photo scores zero."""
    frozen_model, _, batch = exported
    levels = (0, 1, 2)
    standardised, mean, std, _ = _standardised(frozen_model, batch, levels)
    detector = fit_nearest_reference(standardised[::2])
    model = DeployableModel(
        frozen_model.backbone,
        head_and_detector[0],
        detector,
        head_levels=(3,),
        feature_mean=mean,
        feature_std=std,
        detector_levels=levels,
    )
    path = tmp_path / "nearest.onnx"
    export_onnx(model, path)
    assert check_parity(model, path, batch) <= 1e-4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    unknown = session.run(["unknown_score"], {"image": batch})[0]
    expected = detector.score(standardised)
    np.testing.assert_allclose(unknown, expected, rtol=1e-3, atol=1e-3)
    assert float(np.abs(unknown[::2]).max()) < 1e-2  # the references themselves
    assert float(unknown[1::2].min()) > 0.1


def test_embedding_output_equals_the_detector_features(
    exported: tuple[DeployableModel, Path, np.ndarray], tmp_path: Path
) -> None:
    # The train command adds the embedding output to every graph it exports: it must be
    # the standardised features the torch detector measures its distances on.
    from amulet_ai.training.embedding_output import EMBEDDING_OUTPUT, add_embedding_output

    model, path, batch = exported
    edited = tmp_path / "with_embedding.onnx"
    edited.write_bytes(path.read_bytes())
    dims = add_embedding_output(edited)
    session = ort.InferenceSession(str(edited), providers=["CPUExecutionProvider"])
    (embedding,) = session.run([EMBEDDING_OUTPUT], {"image": batch})
    with torch.no_grad():
        maps = model.backbone(torch.from_numpy(batch))
        feats = torch.cat([maps[lv].mean(dim=(2, 3)) for lv in model.detector_levels], 1)
        z = ((feats - model.feat_mean) / model.feat_std).numpy()
    assert embedding.shape == z.shape == (len(batch), dims)
    np.testing.assert_allclose(embedding, z, rtol=1e-4, atol=1e-4)


def test_predicted_class_distance_in_the_graph_matches_the_recipe(
    exported: tuple[DeployableModel, Path, np.ndarray],
    head_and_detector: tuple[LinearHead, MahalanobisDetector],
    tmp_path: Path,
) -> None:
    """The default unknown score: onnxruntime's is the distance to the nearest reference of
    the class of the top logit, as the numpy detector measures it, at least the distance to
    any reference and above it for some photo; the embedding output is still found."""
    from amulet_ai.training.embedding_output import EMBEDDING_OUTPUT, add_embedding_output

    frozen_model, _, batch = exported
    head = head_and_detector[0]
    levels = (0, 1, 2)
    standardised, mean, std, pooled = _standardised(frozen_model, batch, levels)
    ref_labels = np.arange(len(batch))[::2] % 3  # references of three classes
    detector = fit_nearest_reference(standardised[::2], ref_labels)
    model = DeployableModel(
        frozen_model.backbone,
        head,
        detector,
        head_levels=(3,),
        feature_mean=mean,
        feature_std=std,
        detector_levels=levels,
        unknown_score="predicted_class_distance",
    )
    path = tmp_path / "predicted_class.onnx"
    export_onnx(model, path)
    assert check_parity(model, path, batch) <= 1e-4
    assert add_embedding_output(path) == standardised.shape[1]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, unknown, embedding = session.run(
        ["logits", "unknown_score", EMBEDDING_OUTPUT], {"image": batch}
    )
    predicted = logits.argmax(1)
    np.testing.assert_array_equal(
        predicted, head.logits(pooled[:, -LEVEL_CHANNELS[-1] :]).argmax(1)
    )
    per_class = np.full((len(batch), 6), np.inf, np.float32)
    per_class[:, :3] = detector.class_scores(standardised, 3)
    expected = per_class[np.arange(len(batch)), predicted]
    np.testing.assert_allclose(unknown, expected, rtol=1e-3, atol=1e-3)
    nearest = detector.score(standardised)
    assert (unknown >= nearest - 1e-3).all()
    assert float((unknown - nearest).max()) > 0.05
    np.testing.assert_allclose(embedding, standardised, rtol=1e-3, atol=1e-3)


def test_predicted_class_distance_needs_labelled_centres(
    exported: tuple[DeployableModel, Path, np.ndarray],
    head_and_detector: tuple[LinearHead, MahalanobisDetector],
) -> None:
    frozen_model, _, _ = exported
    unlabelled = fit_nearest_reference(np.zeros((4, FEATURE_DIM), np.float32))
    with pytest.raises(ValueError, match="centre labels"):
        DeployableModel(
            frozen_model.backbone, head_and_detector[0], unlabelled, head_levels=(3,),
            feature_mean=np.zeros(FEATURE_DIM, np.float32),
            feature_std=np.ones(FEATURE_DIM, np.float32), unknown_score="predicted_class_distance",
        )  # fmt: skip


def test_fused_logits_in_the_graph_match_the_recipe(
    exported: tuple[DeployableModel, Path, np.ndarray], tmp_path: Path
) -> None:
    """``reference_weight``: onnxruntime's logits are the head's less the weighted distance
    to each class's nearest reference, as the recipe's numpy components give them; the CAM
    still averages to them and the unknown score is the fused top class's distance."""
    frozen_model, _, batch = exported
    levels = (0, 1, 2)
    standardised, mean, std, pooled = _standardised(frozen_model, batch, levels)
    classes = np.arange(len(batch)) % 3
    head = fit_linear_head(pooled[:, -LEVEL_CHANNELS[-1] :], classes, n_classes=3, l2=1e-1)
    detector = fit_nearest_reference(standardised[::2], classes[::2])
    weight, scale = 2.0, 0.7
    model = DeployableModel(
        frozen_model.backbone, head, detector, head_levels=(3,), feature_mean=mean,
        feature_std=std, detector_levels=levels, unknown_score="predicted_class_distance",
        reference_weight=weight, reference_scale=scale,
    )  # fmt: skip
    path = tmp_path / "fused.onnx"
    export_onnx(model, path)
    assert check_parity(model, path, batch) <= 1e-4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, unknown, cam = session.run(["logits", "unknown_score", "cam"], {"image": batch})
    plain = head.logits(pooled[:, -LEVEL_CHANNELS[-1] :])
    per_class = detector.class_scores(standardised, 3)
    np.testing.assert_allclose(logits, plain - weight * per_class / scale, rtol=1e-3, atol=1e-3)
    assert float(np.abs(logits - plain).max()) > 0.1
    top = logits.argmax(1)
    np.testing.assert_allclose(unknown, per_class[np.arange(len(top)), top], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(logits, cam.mean(axis=(2, 3)) + head.folded()[1], atol=1e-4)
    with pytest.raises(ValueError, match="nearest-reference"):
        DeployableModel(
            frozen_model.backbone, head, fit_nearest_reference(standardised), head_levels=(3,),
            feature_mean=mean, feature_std=std, detector_levels=levels, reference_weight=1.0,
        )  # fmt: skip
