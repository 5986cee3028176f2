"""The leave-one-class-out enrolment measurement: its figures move the way the rule says (a
wider margin finds the enrolled type more often, and costs precision), and it sees photos
as the API does for enrolment and predictions with ``locate=auto``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from amulet_ai.model.classifier import AmuletClassifier  # noqa: E402
from amulet_ai.model.enrolment import EnrolmentRule  # noqa: E402
from amulet_ai.serving.predictor import Predictor  # noqa: E402
from amulet_ai.training.crossval import Recipe  # noqa: E402
from amulet_ai.training.cutout import cut_out  # noqa: E402
from amulet_ai.training.data import load_dataset  # noqa: E402
from amulet_ai.training.enrolment_eval import (  # noqa: E402
    evaluate_enrolment,
    format_enrolment,
    format_refusals,
    photo_features,
    refusals,
    served_pictures,
)
from amulet_ai.training.features import FEATURE_DIM  # noqa: E402
from amulet_ai.training.scenes import make_scene  # noqa: E402

pytestmark = pytest.mark.train


# Small features (four levels of 16 channels) keep the 30 fits of each measurement quick.
SMALL = Recipe(level_channels=(16, 16, 16, 16))
DIM = sum(SMALL.level_channels)


def _separable(seed: int = 0, per_class: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(6), per_class)
    centres = rng.normal(scale=3.0, size=(6, DIM))
    photos = centres[labels] + rng.normal(size=(len(labels), DIM))
    feats = np.stack([photos, photos + rng.normal(scale=0.1, size=photos.shape)], 1)
    return feats.astype(np.float32), labels


def test_enrolment_figures_on_separable_classes() -> None:
    feats, labels = _separable()
    narrow, wide = evaluate_enrolment(
        feats,
        labels,
        [EnrolmentRule(margin=0.9), EnrolmentRule(margin=1.3)],
        ks=(3, 10),
        draws=1,
        recipe=SMALL,
    )
    for result in (narrow, wide):
        assert set(result["per_k"]) == {"3", "10"}
        for row in result["per_k"].values():
            assert 0.0 <= row["recall"] <= 1.0 and 0.0 <= row["precision"] <= 1.0
            assert row["five_top1_without"] == pytest.approx(1.0)  # separable classes
    assert wide["per_k"]["10"]["recall"] >= narrow["per_k"]["10"]["recall"]
    assert wide["per_k"]["10"]["recall"] > 0.5
    assert len(narrow["held_out_unknown_scores"]) == 90
    # Each photo is held out once (with its type, in its fold), named beside its score.
    assert sorted(narrow["held_out_photos"]) == list(range(90))
    assert "| 10 |" in format_enrolment(wide)


def test_photos_are_enrolled_and_classified_as_served_not_as_trained() -> None:
    feats, labels = _separable(1, per_class=10)
    rule = [EnrolmentRule()]
    kwargs: dict[str, Any] = {"ks": (3,), "draws": 1, "recipe": SMALL}
    same = evaluate_enrolment(feats, labels, rule, served=feats[:, 0], **kwargs)[0]
    # Served pictures far from every training view: the held-out photos look unfamiliar
    # and the five types are no longer told apart as well.
    rng = np.random.default_rng(2)
    far = feats[:, 0] + rng.normal(scale=6.0, size=feats[:, 0].shape).astype(np.float32)
    moved = evaluate_enrolment(feats, labels, rule, served=far, **kwargs)[0]
    assert np.mean(moved["held_out_unknown_scores"]) > 1.5 * np.mean(
        same["held_out_unknown_scores"]
    )
    assert moved["per_k"]["3"]["five_top1_without"] < same["per_k"]["3"]["five_top1_without"]
    assert same["per_k"]["3"]["five_top1_without"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def served_model(model_dir: Path) -> AmuletClassifier:
    return AmuletClassifier.load(model_dir, warmup_runs=0, with_localiser=True)


def test_a_phone_scene_is_embedded_from_the_crop_the_api_enrols(
    served_model: AmuletClassifier, shared_data: Path
) -> None:
    photo = sorted((shared_data / "phra_sivali" / "front").glob("*.jpg"))[0]
    cut = cut_out(Image.open(photo).convert("RGB"))
    scene = make_scene(cut, photo=0, number=0, family="paper", seed=3).jpeg
    picture = served_pictures(served_model, [scene])[0]
    # What enrolment keeps for the photo (the predictions' locate=auto), from the same model.
    located = Predictor().score_each(served_model, [scene], "auto")[0]
    sent_whole = Predictor().score_each(served_model, [scene], "off")[0]
    ours = served_model.score([picture])[0]
    assert not isinstance(located, Exception) and not isinstance(sent_whole, Exception)
    assert located.location.status == "found" and sent_whole.location.status == "whole_photo"
    api, whole = located.scores, sent_whole.scores
    assert ours.embedding is not None and api.embedding is not None
    assert whole.embedding is not None
    assert np.allclose(ours.embedding, api.embedding, atol=1e-5)
    assert not np.allclose(ours.embedding, whole.embedding, atol=0.1)  # a crop, not the scene


def test_model_two_features_are_its_training_views_and_the_served_photo(
    served_model: AmuletClassifier, shared_data: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(shared_data)
    small = type(dataset)(dataset.root, dataset.classes, dataset.photos[:2])
    features = photo_features(small, served_model, cache_dir=tmp_path)
    training = served_model.metadata.training
    views = (
        training["views_per_photo"]
        + training["composites_per_photo"]
        + training["raw_views_per_photo"]
    )
    assert features.training.shape == (2, views, FEATURE_DIM)
    assert features.references == 2 + training["composites_per_photo"] + 2
    assert features.served.shape == (2, FEATURE_DIM)
    assert features.judged.tolist() == [True, True]  # tight photos: the amulet is found
    # The served picture of a tight photo is the training's view 0 (the located crop) or,
    # where the box fills the frame, its plain view 0: training and serving agree.
    plain = 2 + training["composites_per_photo"]
    for i in range(2):
        gaps = [np.abs(features.served[i] - features.training[i, v]).max() for v in (0, plain)]
        assert min(gaps) < 1e-3, gaps


def test_refusals_are_the_services_rule_the_location_first_then_the_distance(
    served_model: AmuletClassifier,
) -> None:
    held = np.array([0.5, 0.9, 1.2, 1.9]) * served_model.threshold  # the last over 1.7 x
    judged = np.array([True, False, True, True])
    r = refusals(held, served_model, judged)
    assert (r["held_out_far"], r["held_out_not_judged"], r["held_out_refused"]) == (
        0.25,
        0.25,
        0.5,
    )
    assert refusals(held, served_model)["held_out_refused"] == 0.25  # all judged: distance
    counts = r["non_amulet_localiser"]
    assert sum(counts.values()) == r["non_amulet_pictures"] > 0
    unjudged = sum(n for status, n in counts.items() if status not in ("found", "whole_photo"))
    assert r["non_amulet_not_judged"] == pytest.approx(unjudged / r["non_amulet_pictures"])
    assert max(r["non_amulet_far"], r["non_amulet_not_judged"]) <= r["non_amulet_refused"]
    assert r["non_amulet_refused"] <= r["non_amulet_far"] + r["non_amulet_not_judged"]
    assert "held-out type photos 0.500 (not judged 0.250, far 0.250" in format_refusals(r)
