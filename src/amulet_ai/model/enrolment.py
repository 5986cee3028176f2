"""Enrolled types next to the model's six: an index of their photos' embeddings and the rule.

Distances are measured like the unknown score: ``sqrt(||z - e||^2 / D)`` between a photo's
embedding ``z`` and an enrolled photo's ``e`` (the model's ``embedding`` output), so a
photo's distance to an enrolled type (its closest photo) and its unknown score (the
distance to the closest training photo of the six; of its predicted type, for a model
whose metadata says ``unknown.score: predicted_class_distance``) are on one scale.

The rule (:class:`EnrolmentRule`), for a photo with model probabilities ``p`` over the six,
unknown score ``s`` and distance ``d_k`` to each enrolled type ``k``::

    g_k = (margin^2 * s^2 - d_k^2) / temperature         g_known = 0
    q   = softmax(g_known, g_1, ..., g_K)
    probabilities = (q_known * p, q_1, ..., q_K)

so an enrolled type gets more than half of the probability, and wins, when the photo is
closer to its photos than ``margin`` times the distance to anything of the six; it can
also win when a little farther if the model itself is unsure between the six. The unknown
score becomes ``min(s, min_k d_k)``: an enrolled photo counts as known. ``margin`` and
``temperature`` were fitted leaving one class out (model card, "Enrolled types").

Example::

    >>> rule = EnrolmentRule(margin=1.0, temperature=0.05)
    >>> probs = rule.combine(np.array([0.7, 0.3]), 0.9, np.array([0.5]))
    >>> [round(float(x), 3) for x in probs]
    [0.0, 0.0, 1.0]
    >>> [round(float(x), 3) for x in rule.combine(np.array([0.7, 0.3]), 0.5, np.array([0.9]))]
    [0.7, 0.3, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

# Fitted leaving one class out (``production_runner.py evaluate --enrolment``).
DEFAULT_MARGIN: Final = 1.05
DEFAULT_TEMPERATURE: Final = 0.05
# An enrolment photo farther than this many times the unknown threshold from every known
# photo (the six types' and the enrolled ones) is refused as not an amulet (model card).
NOT_AN_AMULET_FACTOR: Final = 1.7


@dataclass(frozen=True, slots=True)
class EnrolmentRule:
    """How an enrolled type competes with the model's classes (module docstring)."""

    margin: float = DEFAULT_MARGIN
    temperature: float = DEFAULT_TEMPERATURE

    def combine(
        self, probabilities: np.ndarray, unknown_score: float, distances: np.ndarray
    ) -> np.ndarray:
        """Probabilities over the model's classes then the enrolled types (sum 1)."""
        known = (self.margin * unknown_score) ** 2
        gains = (known - np.asarray(distances, np.float64) ** 2) / self.temperature
        logits = np.concatenate([[0.0], gains])
        logits -= logits.max()
        q = np.exp(logits)
        q /= q.sum()
        out: np.ndarray = np.concatenate([q[0] * np.asarray(probabilities, np.float64), q[1:]])
        return out

    @staticmethod
    def unknown_score(unknown_score: float, distances: np.ndarray) -> float:
        """The unknown score with enrolled photos counted as known."""
        if len(distances) == 0:
            return unknown_score
        return min(unknown_score, float(np.min(distances)))


@dataclass(frozen=True, slots=True)
class EnrolledClass:
    """One enrolled type as a prediction names it."""

    class_id: str
    name_en: str
    name_th: str


def rms_distances(queries: np.ndarray, vectors: np.ndarray, sq_norms: np.ndarray) -> np.ndarray:
    """``sqrt(||q - v||^2 / D)`` for every query row and vector row: ``[N, M]``."""
    q = np.atleast_2d(np.asarray(queries, np.float32))
    # One matrix-vector product per query: OpenBLAS runs a [M, D] x [D, 2] product at a
    # third of the speed of two [M, D] x [D] ones (measured at M = 100,000: 89 against 55 ms).
    dots = np.stack([vectors @ row for row in q]) if len(vectors) else np.zeros((len(q), 0))
    d2 = (q * q).sum(1)[:, None] - 2.0 * dots + sq_norms[None, :]
    result: np.ndarray = np.sqrt(np.maximum(d2, 0.0) / q.shape[1])
    return result


class EnrolledIndex:
    """The enrolled photos one owner sees, as one matrix; read-only once built.

    ``vectors[i]`` is a photo of ``classes[labels[i]]``. Built once per owner and revision
    and shared by every inference thread (numpy reads, nothing written after ``__init__``).

    Example::

        >>> classes = (EnrolledClass("enrolled_1", "Phra Rod", "Phra Rod"),)
        >>> index = EnrolledIndex("1.0", classes, np.eye(3, dtype=np.float32), np.zeros(3, int))
        >>> [round(float(d), 3) for d in index.type_distances(np.eye(3)[:1])[0]]
        [0.0]
    """

    def __init__(
        self,
        version: str,
        classes: tuple[EnrolledClass, ...],
        vectors: np.ndarray,
        labels: np.ndarray,
    ) -> None:
        order = np.argsort(labels, kind="stable")
        self.version = version
        self.classes = classes
        self.vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        self.labels = np.asarray(labels)[order]
        self.sq_norms = (self.vectors.astype(np.float64) ** 2).sum(1).astype(np.float32)
        # Rows of each class are contiguous: a class's minimum is one reduceat.
        present = np.unique(self.labels)
        self._starts = np.searchsorted(self.labels, present)
        self._present = present

    def __len__(self) -> int:
        return len(self.vectors)

    def type_distances(self, embeddings: np.ndarray) -> np.ndarray:
        """Each photo's distance to each enrolled type (its closest photo): ``[N, K]``.

        A type without photos is infinitely far.
        """
        n = np.atleast_2d(embeddings).shape[0]
        out = np.full((n, len(self.classes)), np.inf, dtype=np.float64)
        if len(self.vectors):
            d = rms_distances(embeddings, self.vectors, self.sq_norms)
            out[:, self._present] = np.minimum.reduceat(d, self._starts, axis=1)
        return out
