"""The enrolment rule and the enrolled-type index, against brute force."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from amulet_ai.model import enrolment
from amulet_ai.model.enrolment import EnrolledClass, EnrolledIndex, EnrolmentRule


def test_module_examples() -> None:
    assert doctest.testmod(enrolment).failed == 0


def test_an_enrolled_type_wins_when_closer_than_margin_times_the_known_distance() -> None:
    rule = EnrolmentRule(margin=1.1, temperature=0.05)
    confident = np.array([0.9, 0.05, 0.05])
    for s, d in [(1.0, 1.05), (1.0, 0.5), (0.8, 0.9), (0.8, 0.87)]:
        probs = rule.combine(confident, s, np.array([d]))
        assert probs.sum() == pytest.approx(1.0)
        wins = int(np.argmax(probs)) == 3
        assert wins == (d < 1.1 * s) or abs(d - 1.1 * s) < 0.02, (s, d)
    # Far away: the model's probabilities are left as they were.
    far = rule.combine(confident, 0.5, np.array([3.0, np.inf]))
    np.testing.assert_allclose(far[:3], confident, atol=1e-9)
    assert far[3:].max() < 1e-9


def test_enrolled_photos_count_as_known() -> None:
    assert EnrolmentRule.unknown_score(2.0, np.array([0.4, 3.0])) == 0.4
    assert EnrolmentRule.unknown_score(0.3, np.array([0.4])) == 0.3
    assert EnrolmentRule.unknown_score(0.3, np.array([])) == 0.3


def test_type_distances_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    labels = rng.integers(0, 3, size=40)  # shuffled: the index sorts them
    classes = tuple(EnrolledClass(f"enrolled_{i}", f"T{i}", f"T{i}") for i in range(4))
    index = EnrolledIndex("v", classes, vectors, labels)
    queries = rng.standard_normal((5, 16)).astype(np.float32)
    got = index.type_distances(queries)
    for k in range(3):
        rows = vectors[labels == k]
        want = np.sqrt(((queries[:, None] - rows[None]) ** 2).sum(-1) / 16).min(1)
        np.testing.assert_allclose(got[:, k], want, rtol=1e-4, atol=1e-5)
    assert np.isinf(got[:, 3]).all()  # a type without photos is never near
