"""Candidate unknown scores, each a function of what the fitted recipe gives for a photo.

The fitted parts (:func:`amulet_ai.training.crossval.fit_parts`) give, per photo, the
head's logits, the distance to the nearest reference view of any class (the shipped score)
and the distance to the nearest reference of each class. From those, with the temperature
and the spread of each part over known photos out of fold (:class:`ScoreScale`), every
candidate of :data:`CANDIDATES` is computed. Higher means "more likely not a known type";
each candidate's threshold is set by the same keep-rate rule
(:func:`amulet_ai.training.unknown.keep_threshold`). Both the train command's
cross-validation and ``evaluate --scenes`` measure all of them on the same folds and the
same held-out-type protocol (:func:`amulet_ai.training.crossval.unseen_type_auroc`).

Example::

    >>> logits = np.array([[4.0, 0.0], [0.5, 0.0]])
    >>> parts = Components(logits, np.array([1.0, 1.0]), np.array([[1.0, 2.0], [1.5, 1.0]]))
    >>> scale = fit_scale(parts, temperature=1.0)
    >>> scores = candidate_scores(parts, scale)
    >>> bool(scores["max_prob"][1] > scores["max_prob"][0])
    True
    >>> [float(v) for v in scores["predicted_class_distance"]]
    [1.0, 1.5]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from amulet_ai.training.calibration import softmax


@dataclass(frozen=True)
class Components:
    """What the fitted parts give for ``N`` photos."""

    logits: np.ndarray  # [N, C], uncalibrated
    distance: np.ndarray  # [N]: to the nearest reference of any class (the shipped score)
    class_distance: np.ndarray  # [N, C]: to the nearest reference of each class

    def take(self, rows: np.ndarray) -> Components:
        """The components of the photos ``rows`` (indices or a mask)."""
        return Components(self.logits[rows], self.distance[rows], self.class_distance[rows])

    @staticmethod
    def concat(parts: list[Components]) -> Components:
        """The photos of ``parts`` one after the other."""
        return Components(
            np.concatenate([p.logits for p in parts]),
            np.concatenate([p.distance for p in parts]),
            np.concatenate([p.class_distance for p in parts]),
        )


@dataclass(frozen=True)
class ScoreScale:
    """The temperature, and each part's known out-of-fold scores (sorted), which give the
    standardised and rank-averaged combinations their scale."""

    temperature: float
    known: dict[str, np.ndarray]

    def z(self, name: str, values: np.ndarray) -> np.ndarray:
        """``values`` standardised by the known photos' mean and standard deviation."""
        ref = self.known[name]
        return np.asarray((values - ref.mean()) / (ref.std() + 1e-12))

    def rank(self, name: str, values: np.ndarray) -> np.ndarray:
        """Share of known photos scoring below ``values`` (ties count half)."""
        ref = self.known[name]
        below = np.searchsorted(ref, values, side="left")
        upto = np.searchsorted(ref, values, side="right")
        return np.asarray((below + upto) / (2.0 * len(ref)))


def _parts(c: Components, temperature: float) -> dict[str, np.ndarray]:
    """The single scores every candidate is made of (higher: more unknown)."""
    z = c.logits.astype(np.float64) / temperature
    top = z.max(axis=1)
    logsumexp = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    predicted = c.logits.argmax(axis=1)
    return {
        "distance": c.distance.astype(np.float64),
        "predicted_class_distance": c.class_distance[np.arange(len(predicted)), predicted],
        "max_prob": 1.0 - softmax(c.logits.astype(np.float64), temperature).max(axis=1),
        "energy": -temperature * logsumexp,
    }


def fit_scale(known: Components, temperature: float) -> ScoreScale:
    """The scale of each part over ``known`` photos (out of fold)."""
    parts = _parts(known, temperature)
    return ScoreScale(temperature, {k: np.sort(v) for k, v in parts.items()})


Candidate = Callable[[dict[str, np.ndarray], ScoreScale], np.ndarray]

CANDIDATES: Final[dict[str, Candidate]] = {
    "distance": lambda p, s: p["distance"],
    "predicted_class_distance": lambda p, s: p["predicted_class_distance"],
    "max_prob": lambda p, s: p["max_prob"],
    "energy": lambda p, s: p["energy"],
    "z(distance) + z(1 - max_prob)": lambda p, s: (
        s.z("distance", p["distance"]) + s.z("max_prob", p["max_prob"])
    ),
    "z(class distance) + z(1 - max_prob)": lambda p, s: (
        s.z("predicted_class_distance", p["predicted_class_distance"])
        + s.z("max_prob", p["max_prob"])
    ),
    "distance * (1 - max_prob)": lambda p, s: p["distance"] * p["max_prob"],
    "rank mean(distance, 1 - max_prob)": lambda p, s: (
        (s.rank("distance", p["distance"]) + s.rank("max_prob", p["max_prob"])) / 2
    ),
}
"""Each candidate's name and how it is computed from the parts (higher: more unknown)."""


def candidate_scores(components: Components, scale: ScoreScale) -> dict[str, np.ndarray]:
    """Every candidate's scores ``[N]`` of the photos of ``components``."""
    parts = _parts(components, scale.temperature)
    return {name: np.asarray(fn(parts, scale), np.float64) for name, fn in CANDIDATES.items()}
