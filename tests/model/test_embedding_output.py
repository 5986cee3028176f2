"""The shipped graph's embedding output is the unknown detector's own feature vector."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from amulet_ai import AmuletClassifier
from amulet_ai.imaging.decode import decode_image, to_tensor

onnx = pytest.importorskip("onnx")

from amulet_ai.training.embedding_output import (  # noqa: E402
    EMBEDDING_OUTPUT,
    EmbeddingNotFound,
    add_embedding_output,
    embedding_references,
    update_model_dir,
)


@pytest.fixture(scope="module")
def classifier(model_dir: Path) -> AmuletClassifier:
    return AmuletClassifier.load(model_dir, warmup_runs=0)


def _photos(shared_data: Path, make_photo: Callable[..., bytes]) -> list[bytes]:
    paths = sorted(shared_data.glob("*/*/*.jpg"))[::7] if shared_data.is_dir() else []
    return [p.read_bytes() for p in paths] or [make_photo(300, 260, seed=s) for s in range(8)]


def test_embedding_gives_back_the_unknown_score(
    classifier: AmuletClassifier,
    model_dir: Path,
    shared_data: Path,
    make_photo: Callable[..., bytes],
) -> None:
    # The detector's score is sqrt(min_r ||z - r||^2 / D) over the references in the graph
    # (those of the predicted class, for a model whose unknown.score says so): recomputing
    # it in numpy from the embedding output proves the output is that z.
    assert classifier.has_embedding
    refs = embedding_references(model_dir / "amulet_classifier.onnx").astype(np.float64)
    photos = _photos(shared_data, make_photo)
    batch = np.stack([to_tensor(decode_image(b).image) for b in photos])
    _, unknown, _, embedding = classifier.run(batch)
    assert embedding.shape == (len(photos), refs.shape[1]) == (len(photos), 624)
    d2 = ((embedding[:, None, :].astype(np.float64) - refs[None]) ** 2).sum(-1)
    distances = np.sqrt(d2 / refs.shape[1])
    if getattr(classifier.metadata.unknown, "score", "distance") == "predicted_class_distance":
        # The distance to one reference (the predicted class's nearest), never below the
        # nearest of all.
        assert (unknown >= distances.min(axis=1) - 1e-4).all()
        np.testing.assert_allclose(np.abs(distances - unknown[:, None]).min(axis=1), 0, atol=1e-4)
    else:
        np.testing.assert_allclose(distances.min(axis=1), unknown, rtol=1e-4, atol=1e-5)
    # And it is not a constant: photos differ.
    assert float(np.ptp(embedding, axis=0).max()) > 0.5


def test_score_carries_the_embedding(classifier: AmuletClassifier, make_photo: Callable) -> None:
    scores = classifier.score([make_photo(seed=1), make_photo(seed=2)])
    assert all(s.embedding is not None and s.embedding.shape == (624,) for s in scores)
    assert not np.allclose(scores[0].embedding, scores[1].embedding)


def _strip(path: Path) -> None:
    model = onnx.load(str(path))
    graph = model.graph
    kept = [o for o in graph.output if o.name != EMBEDDING_OUTPUT]
    del graph.output[:]
    graph.output.extend(kept)
    nodes = [n for n in graph.node if EMBEDDING_OUTPUT not in n.output]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))


def test_the_edit_adds_the_output_and_changes_nothing_else(
    classifier: AmuletClassifier, model_dir: Path, tmp_path: Path, make_photo: Callable
) -> None:
    for name in ("amulet_classifier.onnx", "metadata.json"):
        shutil.copy(model_dir / name, tmp_path / name)
    _strip(tmp_path / "amulet_classifier.onnx")
    meta = json.loads((tmp_path / "metadata.json").read_text(encoding="utf-8"))
    meta["outputs"].pop(EMBEDDING_OUTPUT)
    meta["onnx_sha256"] = None
    (tmp_path / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")

    # A model without the output (older models) still loads; it has no embedding.
    older = AmuletClassifier.load(tmp_path, warmup_runs=0)
    assert not older.has_embedding
    photo = make_photo(seed=3)
    assert older.score([photo])[0].embedding is None

    assert update_model_dir(tmp_path) == 624
    assert add_embedding_output(tmp_path / "amulet_classifier.onnx") == 624  # idempotent
    edited = AmuletClassifier.load(tmp_path, warmup_runs=0)  # checksum rewritten
    assert edited.has_embedding
    batch = to_tensor(decode_image(photo).image)[None]
    for before, after in zip(older.run(batch), edited.run(batch)[:3], strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(edited.run(batch)[3], classifier.run(batch)[3])


def test_a_graph_without_references_is_refused(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(EmbeddingNotFound):
        add_embedding_output(path)
