"""One backbone run for a 224 px photo: the classifier's graph outputs blocks 10 and 15, the
localiser's head graph reads them, and the serving path answers exactly what two graph runs
would have answered. On the committed model and localiser through onnxruntime."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amulet_ai.imaging.decode import center_square, decode_picture, to_tensor
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.localiser import Localiser, letterbox
from amulet_ai.serving.locating import (
    DRAFT_SIDE,
    PreparedPhoto,
    prepare,
    scores_of,
    shared_first_pass,
)
from amulet_ai.training.data import load_dataset


@pytest.fixture(scope="module")
def shared(model_dir: Path) -> AmuletClassifier:
    return AmuletClassifier.load(model_dir, with_localiser=True)


@pytest.fixture(scope="module")
def separate(model_dir: Path, shared: AmuletClassifier) -> AmuletClassifier:
    """The same graphs, the localiser without its head graph: two backbone runs."""
    assert shared.localiser is not None
    localiser = Localiser(shared.localiser.session, shared.localiser.metadata)
    return AmuletClassifier(shared.session, shared.metadata, localiser=localiser)


def _jpeg(width: int, height: int, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


class _Counted:
    """The localiser's own graph, counting its runs."""

    def __init__(self, localiser: Localiser) -> None:
        self.graph = localiser.logits
        self.runs = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.runs += 1
        return self.graph(batch)


def test_the_committed_graphs_share_the_backbone(
    shared: AmuletClassifier, separate: AmuletClassifier
) -> None:
    assert shared.shares_backbone
    assert not separate.shares_backbone
    assert shared.metadata.outputs.backbone_maps == ["block10", "block15"]


def test_the_head_on_the_classifiers_maps_answers_as_the_localisers_own_graph(
    shared: AmuletClassifier,
) -> None:
    assert shared.localiser is not None
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)
    scores, maps = shared.score_with_maps([])
    assert scores == [] and maps == {}
    outputs = shared.run(batch, shared.metadata.outputs.backbone_maps)
    maps = dict(zip(shared.metadata.outputs.backbone_maps, outputs[-2:], strict=True))
    head = shared.localiser.head_logits(maps)
    assert head.shape == (2, 14, 14)
    assert float(np.abs(head - shared.localiser.logits(batch)).max()) < 1e-3


def test_the_shared_pass_reads_the_very_tensor_the_localiser_would(
    shared: AmuletClassifier,
) -> None:
    assert shared.localiser is not None
    draft = decode_picture(_jpeg(224, 224), min_side=DRAFT_SIDE)
    assert shared_first_pass(shared, draft)
    meta = shared.localiser.metadata
    boxed = letterbox(draft.image, meta.input_side(max(draft.image.size)), meta.multiple)
    whole = to_tensor(center_square(draft.image, shared.input_size))
    assert boxed.left == boxed.top == 0 and boxed.scale == 1.0
    assert np.array_equal(boxed.tensor, whole)


@pytest.mark.parametrize("size", [(224, 168), (256, 256), (320, 320), (1000, 750)])
def test_other_photos_run_the_localisers_own_graph(
    shared: AmuletClassifier, size: tuple[int, int]
) -> None:
    draft = decode_picture(_jpeg(*size), min_side=DRAFT_SIDE)
    assert not shared_first_pass(shared, draft)


def test_no_shared_pass_without_the_head_graph(separate: AmuletClassifier) -> None:
    draft = decode_picture(_jpeg(224, 224), min_side=DRAFT_SIDE)
    assert not shared_first_pass(separate, draft)


def _prepared(classifier: AmuletClassifier, data: bytes) -> tuple[PreparedPhoto, int]:
    assert classifier.localiser is not None
    counted = _Counted(classifier.localiser)
    classifier.localiser.logits = counted  # type: ignore[method-assign]
    try:
        return prepare(classifier, lambda: data, "auto"), counted.runs
    finally:
        del classifier.localiser.logits


def test_tight_photos_get_the_answer_of_two_runs_from_one(
    shared: AmuletClassifier, separate: AmuletClassifier, shared_data: Path
) -> None:
    photos = load_dataset(shared_data).photos[::9]
    whole = 0
    for photo in photos:
        data = photo.path.read_bytes()
        one, one_runs = _prepared(shared, data)
        two, two_runs = _prepared(separate, data)
        assert one.location == two.location, photo.path
        assert np.array_equal(np.asarray(one.picture.image), np.asarray(two.picture.image))
        assert two.scores is None and two_runs >= 1
        [a], [b] = scores_of(shared, [one]), scores_of(separate, [two])
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
        assert abs(a.unknown_score - b.unknown_score) < 1e-6
        if one.scores is not None:  # judged whole: the localiser's own graph never ran
            whole += 1
            assert one_runs == 0 and one.score_s > 0
        else:  # cropped: the classifier judges the crop in a second run
            assert one.location.status == "found"
    assert whole >= len(photos) // 2  # most development photos fill their frame


def test_a_localiser_folder_without_its_head_graph_locates_without_sharing(
    model_dir: Path, tmp_path: Path
) -> None:
    for name in ("amulet_classifier.onnx", "metadata.json", "amulet_localiser.onnx"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    (tmp_path / "localiser.json").write_text((model_dir / "localiser.json").read_text())
    classifier = AmuletClassifier.load(tmp_path, with_localiser=True, warmup_runs=0)
    assert classifier.localiser is not None and classifier.localiser.head_session is None
    assert not classifier.shares_backbone
    prepared = prepare(classifier, lambda: _jpeg(224, 224), "auto")
    assert prepared.scores is None and prepared.location.method == "localiser"
