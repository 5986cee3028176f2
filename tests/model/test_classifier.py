"""The committed model through the runtime wrapper: contract, determinism, fusion, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from amulet_ai import AmuletClassifier
from amulet_ai.errors import InvalidInput, ModelUnavailable
from amulet_ai.imaging.decode import decode_image, to_tensor
from amulet_ai.model.fusion import fuse_pair


@pytest.fixture(scope="module")
def classifier(model_dir: Path) -> AmuletClassifier:
    return AmuletClassifier.load(model_dir)


def test_metadata_matches_the_model_outputs(classifier: AmuletClassifier, model_dir: Path) -> None:
    meta = classifier.metadata
    assert len(meta.classes) == 6
    assert len({c.id for c in meta.classes}) == 6
    assert all(c.name_en and c.name_th and c.description for c in meta.classes)
    assert meta.temperature > 0 and np.isfinite(meta.unknown.threshold)
    onnx_bytes = (model_dir / meta.onnx_file).read_bytes()
    assert len(onnx_bytes) <= 20 * 1024 * 1024
    assert meta.onnx_sha256 == hashlib.sha256(onnx_bytes).hexdigest()
    assert meta.unknown.cv_keep_rate is not None
    assert meta.unknown.cv_keep_rate >= meta.unknown.target_keep_rate
    session = classifier.session
    assert [i.name for i in session.get_inputs()] == [meta.input.name]
    assert sorted(o.name for o in session.get_outputs()) == sorted(
        [
            meta.outputs.logits,
            meta.outputs.unknown_score,
            meta.outputs.cam,
            meta.outputs.embedding,
            *meta.outputs.backbone_maps,
        ]
    )
    assert meta.outputs.backbone_maps == ["block10", "block15"]
    for n in (1, 3):  # the batch axis is dynamic
        batch = np.zeros((n, 3, 224, 224), np.float32)
        logits, unknown, cam, embedding, block10, block15 = classifier.run(
            batch, meta.outputs.backbone_maps
        )
        assert block10.shape == (n, 112, 14, 14) and block15.shape == (n, 320, 7, 7)
        assert logits.shape == (n, 6)
        assert unknown.shape == (n,)
        assert cam.shape[:2] == (n, 6) and cam.ndim == 4
        assert embedding.shape == (n, meta.model_extra["embedding"]["dims"])
        assert logits.dtype == unknown.dtype == cam.dtype == embedding.dtype == np.float32


def test_accuracy_on_its_training_photos(classifier: AmuletClassifier, shared_data: Path) -> None:
    from amulet_ai.training.evaluate import evaluate

    result = evaluate(classifier, shared_data, [])
    # Trained on these photos: this guards against shipping a wrong file, not generalisation.
    assert result["photos"] == 137
    assert result["top1"] >= 0.95


def test_same_photo_same_answer(
    classifier: AmuletClassifier, make_photo: Callable[..., bytes]
) -> None:
    photo = make_photo(400, 300, seed=3)
    first = classifier.classify(photo, top_k=6)
    second = classifier.classify(photo, top_k=6)
    assert first == second
    probs = [p.probability for p in first.predictions]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert first.top1 == first.predictions[0]
    assert first.images.back is None
    assert first.unknown.is_unknown == (first.unknown.score > first.unknown.threshold)


def test_batch_equals_single_calls(
    classifier: AmuletClassifier, make_photo: Callable[..., bytes]
) -> None:
    photos = [make_photo(300, 300, seed=s) for s in range(4)]
    batch = classifier.classify_batch(photos, top_k=3)
    for photo, result in zip(photos, batch, strict=True):
        single = classifier.classify(photo, top_k=3)
        assert result.top1.class_id == single.top1.class_id
        assert result.top1.probability == pytest.approx(single.top1.probability, abs=1e-4)
        assert result.unknown.score == pytest.approx(single.unknown.score, rel=1e-3, abs=1e-3)


def test_calibrated_probabilities_apply_the_temperature(
    classifier: AmuletClassifier, make_photo: Callable[..., bytes]
) -> None:
    decoded = decode_image(make_photo(seed=5))
    logits, *_ = classifier.run(to_tensor(decoded.image)[None])
    scaled = logits[0] / classifier.metadata.temperature
    expected = np.exp(scaled - scaled.max())
    expected /= expected.sum()
    result = classifier.classify(decoded, top_k=6)
    by_id = {p.class_id: p.probability for p in result.predictions}
    for i, info in enumerate(classifier.metadata.classes):
        assert by_id[info.id] == pytest.approx(float(expected[i]), abs=1e-5)


def test_front_and_back_are_fused(
    classifier: AmuletClassifier, make_photo: Callable[..., bytes]
) -> None:
    front, back = make_photo(seed=11), make_photo(seed=12)
    pair = classifier.classify(front, back, top_k=6)
    assert pair.images.back is not None
    f, b = classifier.score([front, back])
    fused, score = fuse_pair(
        f.log_probabilities, b.log_probabilities, f.unknown_score, b.unknown_score
    )
    assert pair.top1.class_id == classifier.metadata.classes[int(np.argmax(fused))].id
    assert pair.unknown.score == pytest.approx(max(f.unknown_score, b.unknown_score), abs=1e-3)
    assert pair.unknown.score == pytest.approx(score, abs=1e-3)


def test_heatmap_is_a_png_overlay(
    classifier: AmuletClassifier, make_photo: Callable[..., bytes]
) -> None:
    result = classifier.classify(make_photo(seed=2), make_photo(seed=4), explain=True)
    assert result.heatmap is not None and set(result.heatmap) == {"front", "back"}
    prefix = "data:image/png;base64,"
    assert result.heatmap["front"].startswith(prefix)
    png = base64.b64decode(result.heatmap["front"][len(prefix) :])
    assert png.startswith(b"\x89PNG")
    assert classifier.classify(make_photo(seed=2)).heatmap is None


def test_top_k_is_checked(classifier: AmuletClassifier, make_photo: Callable[..., bytes]) -> None:
    with pytest.raises(InvalidInput):
        classifier.classify(make_photo(), top_k=0)
    with pytest.raises(InvalidInput):
        classifier.classify(make_photo(), top_k=7)
    assert len(classifier.classify(make_photo(), top_k=1).predictions) == 1


def test_one_session_serves_many_threads(
    classifier: AmuletClassifier, make_photo: Callable[..., bytes]
) -> None:
    photos = [make_photo(seed=s) for s in range(8)]
    expected = [classifier.classify(p).top1.class_id for p in photos]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda p: classifier.classify(p).top1.class_id, photos * 4))
    assert got == expected * 4


def test_missing_or_corrupt_model_is_unavailable(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        AmuletClassifier.load(tmp_path)
    shutil.copy(model_dir / "metadata.json", tmp_path / "metadata.json")
    with pytest.raises(ModelUnavailable):
        AmuletClassifier.load(tmp_path)  # metadata without the ONNX file
    (tmp_path / "amulet_classifier.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(ModelUnavailable):
        AmuletClassifier.load(tmp_path)  # checksum mismatch
    with pytest.raises(ModelUnavailable):
        AmuletClassifier.load(tmp_path, verify_checksum=False)  # unparsable graph
    (tmp_path / "metadata.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelUnavailable):
        AmuletClassifier.load(tmp_path)


def test_overlapping_runs_use_the_busy_session_with_the_same_answers(
    model_dir: Path, make_photo: Callable[..., bytes]
) -> None:
    adaptive = AmuletClassifier.load(model_dir, intra_op_threads=2, busy_intra_op_threads=1)
    assert adaptive.session.get_session_options().intra_op_num_threads == 2
    assert adaptive.busy_session is not None
    assert adaptive.busy_session.get_session_options().intra_op_num_threads == 1
    photos = [make_photo(seed=40 + s) for s in range(8)]
    alone = [adaptive.classify(p) for p in photos]
    assert adaptive.busy_runs.value == 0  # one at a time: always the many-thread session
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(adaptive.classify, photos * 4))
    assert adaptive.busy_runs.value > 0
    for got, want in zip(together, alone * 4, strict=True):
        assert got.top1.class_id == want.top1.class_id
        assert got.top1.probability == pytest.approx(want.top1.probability, abs=1e-5)
        assert got.unknown.score == pytest.approx(want.unknown.score, abs=1e-3)


def test_equal_thread_counts_load_one_session(model_dir: Path) -> None:
    single = AmuletClassifier.load(model_dir, intra_op_threads=1, busy_intra_op_threads=1)
    assert single.busy_session is None
