"""The committed model: right file (accuracy on its training photos), stable, metadata true."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from amulet_ai.imaging.decode import decode_image, to_tensor
from amulet_ai.model import AmuletClassifier
from amulet_ai.training.evaluate import evaluate


@pytest.fixture(scope="module")
def metadata(model_dir: Path) -> dict:
    return json.loads((model_dir / "metadata.json").read_text())


def test_accuracy_on_training_photos(model_dir: Path, shared_data: Path) -> None:
    result = evaluate(AmuletClassifier.load(model_dir), shared_data, [])
    # Trained on these photos: this guards against shipping a wrong file, not generalisation.
    assert result["photos"] == 137
    assert result["top1"] >= 0.95


def test_same_answer_twice(model_dir: Path, make_photo: Callable[..., bytes]) -> None:
    model = AmuletClassifier.load(model_dir)
    photos = [make_photo(320, 240, seed=s) for s in range(3)]
    first, second = model.score(photos), model.score(photos)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
        assert a.unknown_score == b.unknown_score


def test_metadata_matches_the_graph(
    model_dir: Path, metadata: dict, make_photo: Callable[..., bytes]
) -> None:
    onnx_path = model_dir / metadata["onnx_file"]
    assert hashlib.sha256(onnx_path.read_bytes()).hexdigest() == metadata["onnx_sha256"]
    assert onnx_path.stat().st_size <= 20 * 1024 * 1024
    assert len(metadata["classes"]) == 6
    assert all(c["name_th"] and c["name_en"] and c["description"] for c in metadata["classes"])
    assert metadata["temperature"] > 0
    assert metadata["unknown"]["threshold"] > 0
    assert metadata["unknown"]["cv_keep_rate"] >= metadata["unknown"]["target_keep_rate"]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [metadata["input"]["name"]]
    assert [o.name for o in session.get_outputs()] == list(metadata["outputs"].values())
    size = metadata["input"]["size"]
    for n in (1, 3):  # the batch axis is dynamic
        batch = np.stack(
            [to_tensor(decode_image(make_photo(size, size, seed=s)).image) for s in range(n)]
        )
        logits, unknown, cam, embedding = session.run(None, {"image": batch})
        assert logits.shape == (n, 6) and unknown.shape == (n,) and cam.shape == (n, 6, 7, 7)
        assert embedding.shape == (n, metadata["embedding"]["dims"])
        assert logits.dtype == unknown.dtype == cam.dtype == np.float32
