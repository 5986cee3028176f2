"""AMULET_CROP_TURNS=4: a cropped photo is scored by its crop and the crop's quarter turns
(mean logits, mean unknown score), where its shorter side is at least twice the
classifier's input; a photo classified whole is not turned. On the committed models,
through prepare/scores_of and through the app."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from harness import post_front
from PIL import Image
from pydantic import ValidationError

from amulet_ai.config import Settings
from amulet_ai.imaging.decode import DecodedImage, to_tensor
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.serving.locating import (
    FILLS_FRAME,
    TURNS_MIN_SIDE,
    prepare,
    quarter_turns,
    scores_of,
)
from amulet_ai.serving.result_cache import locate_tag
from amulet_ai.training.data import load_dataset
from amulet_ai.training.scenes import Scene


@pytest.fixture(scope="module")
def classifier(model_dir: Path) -> AmuletClassifier:
    return AmuletClassifier.load(model_dir, with_localiser=True, warmup_runs=0)


def _expected(classifier: AmuletClassifier, picture: DecodedImage) -> tuple[np.ndarray, float]:
    """Probabilities and unknown score from the graph's own outputs on the four turns: the
    softmax of the mean logits at the model's temperature, the mean of the scores."""
    batch = np.stack([to_tensor(t) for t in quarter_turns(picture.image, 4)])
    logits, unknown = classifier.run(batch)[:2]
    mean = logits.mean(axis=0) / classifier.metadata.temperature
    probs = np.exp(mean - mean.max())
    return probs / probs.sum(), float(unknown.mean())


def test_quarter_turns_turn_counter_clockwise_as_numpy_does() -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7  # not symmetric
    image = Image.fromarray(pixels)
    turned = quarter_turns(image, 4)
    for k, picture in enumerate(turned):
        assert np.array_equal(np.asarray(picture), np.rot90(pixels, k))
    assert [p.size for p in quarter_turns(image, 2)] == [(3, 2), (2, 3)]
    with pytest.raises(ValueError):
        quarter_turns(image, 5)


def test_a_cropped_photo_is_scored_by_the_mean_of_its_turns(
    classifier: AmuletClassifier, scene: Scene
) -> None:
    turned = prepare(classifier, lambda: scene.jpeg, "auto", turns=4)
    upright = prepare(classifier, lambda: scene.jpeg, "auto")
    assert (turned.turns, upright.turns) == (4, 1)
    assert np.array_equal(np.asarray(turned.picture.image), np.asarray(upright.picture.image))
    got, alone = scores_of(classifier, [turned, upright])
    probs, unknown = _expected(classifier, turned.picture)
    assert got.probabilities == pytest.approx(probs, abs=1e-5)
    assert got.unknown_score == pytest.approx(unknown, rel=1e-5)
    assert np.exp(got.log_probabilities) == pytest.approx(got.probabilities)
    # The crop alone is scored as before; heatmap and embedding stay the upright crop's.
    assert alone.probabilities == pytest.approx(
        classifier.score([upright.picture])[0].probabilities
    )
    assert alone.unknown_score != pytest.approx(got.unknown_score)
    assert np.array_equal(got.cam, alone.cam)
    assert got.embedding is not None and alone.embedding is not None
    assert np.array_equal(got.embedding, alone.embedding)


def test_a_photo_classified_whole_or_about_the_classifiers_size_is_not_turned(
    classifier: AmuletClassifier, shared_data: Path
) -> None:
    paths = {"fills_frame": 0, "cropped": 0}
    for photo in load_dataset(shared_data).photos[::23]:
        data = photo.path.read_bytes()
        prepared = prepare(classifier, lambda: data, "auto", turns=4)  # noqa: B023
        box = prepared.location.box
        assert prepared.location.status == "found" and box is not None
        share = min(box.width / box.image_width, box.height / box.image_height)
        paths["fills_frame" if share >= FILLS_FRAME else "cropped"] += 1
        # 224 px: classified whole, or cropped from a picture of about the classifier's size.
        assert prepared.turns == 1
        assert prepare(classifier, lambda: data, "off", turns=4).turns == 1  # noqa: B023
    assert paths["fills_frame"] >= 1 and paths["cropped"] >= 1


@pytest.mark.parametrize("short_side", [TURNS_MIN_SIDE * 224 - 1, TURNS_MIN_SIDE * 224])
def test_a_cropped_frame_is_turned_from_twice_the_classifiers_input(
    classifier: AmuletClassifier, scene: Scene, short_side: int
) -> None:
    assert classifier.input_size == 224
    width, height = scene.image.size
    scale = short_side / min(width, height)
    smaller = scene.image.resize((round(width * scale), round(height * scale)), Image.LANCZOS)
    assert min(smaller.size) == short_side
    out = io.BytesIO()
    smaller.save(out, "JPEG", quality=92)
    prepared = prepare(classifier, out.getvalue, "auto", turns=4)
    assert prepared.location.status == "found"
    box = prepared.location.box
    assert box is not None
    assert min(box.width / box.image_width, box.height / box.image_height) < FILLS_FRAME
    assert prepared.turns == (4 if short_side >= TURNS_MIN_SIDE * 224 else 1)


def test_the_api_answers_with_the_turns_and_keeps_their_cache_apart(
    make_client: Callable[..., TestClient], classifier: AmuletClassifier, scene: Scene
) -> None:
    client = make_client(crop_turns=4)
    body = post_front(client, scene.jpeg, "?locate=auto&top_k=6")
    turned = prepare(classifier, lambda: scene.jpeg, "auto", turns=4)
    probs, unknown = _expected(classifier, turned.picture)
    assert body["unknown"]["score"] == pytest.approx(unknown, abs=1e-3)
    answered = {p["class_id"]: p["probability"] for p in body["predictions"]}
    for class_id, p in zip((c.id for c in classifier.metadata.classes), probs, strict=True):
        assert answered[class_id] == pytest.approx(float(p), abs=1e-3)
    tag = locate_tag(classifier, "auto", 4)
    assert tag.endswith("+turns4") and tag.startswith(locate_tag(classifier, "auto"))
    assert locate_tag(classifier, "off", 4) == "off"


def test_only_one_or_four_turns_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().crop_turns == 4  # the default
    assert Settings(crop_turns=1).crop_turns == 1
    monkeypatch.setenv("AMULET_CROP_TURNS", "1")
    assert Settings().crop_turns == 1
    with pytest.raises(ValidationError):
        Settings(crop_turns=3)
