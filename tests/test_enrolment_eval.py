"""The leave-one-class-out enrolment measurement runs end to end and its figures move the
way the rule says: a wider margin finds the enrolled type more often, and costs precision."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from amulet_ai.model.enrolment import EnrolmentRule  # noqa: E402
from amulet_ai.training.enrolment_eval import evaluate_enrolment, format_enrolment  # noqa: E402
from amulet_ai.training.features import FEATURE_DIM  # noqa: E402

pytestmark = pytest.mark.train


def test_enrolment_figures_on_separable_classes() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 15)
    centres = rng.normal(scale=3.0, size=(6, FEATURE_DIM))
    photos = centres[labels] + rng.normal(size=(90, FEATURE_DIM))
    feats = np.stack([photos, photos + rng.normal(scale=0.1, size=photos.shape)], 1)
    narrow, wide = evaluate_enrolment(
        feats.astype(np.float32),
        labels,
        [EnrolmentRule(margin=0.9), EnrolmentRule(margin=1.3)],
        ks=(3, 10),
        draws=1,
    )
    for result in (narrow, wide):
        assert set(result["per_k"]) == {"3", "10"}
        for row in result["per_k"].values():
            assert 0.0 <= row["recall"] <= 1.0 and 0.0 <= row["precision"] <= 1.0
            assert row["five_top1_without"] == pytest.approx(1.0)  # separable classes
    assert wide["per_k"]["10"]["recall"] >= narrow["per_k"]["10"]["recall"]
    assert wide["per_k"]["10"]["recall"] > 0.5
    assert len(narrow["held_out_unknown_scores"]) == 90
    assert "| 10 |" in format_enrolment(wide)
