"""What one request's job does on an inference worker: decode, run the model, build the verdict.

All of it happens in one hop onto the worker (no return to the event loop in between), and
the model runs without a lock: an ``InferenceSession`` is safe to run from several threads.
Decoding goes through :meth:`AmuletClassifier.decode`, the one guarded decode of the
project: each photo is bounded before any pixel is decoded by the pixel ceiling
(``max_image_pixels``) and by what this one decode would hold in memory, read from the
image's header (``decode_memory_limit_mb``). Both are properties of the photo itself, so a
photo is refused for its own size, never for what other requests hold meanwhile. With
``locate="auto"`` each photo is first found on a draft decode and cropped
(:mod:`amulet_ai.serving.locating`); its location goes into the verdict.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from amulet_ai.errors import AmuletError
from amulet_ai.imaging.decode import DecodedImage, ImageSource
from amulet_ai.model.classifier import AmuletClassifier, PhotoScores
from amulet_ai.model.enrolment import EnrolledIndex
from amulet_ai.model.results import Classification, LocateMode, PhotoLocation
from amulet_ai.runtime.streaming import StreamedFile
from amulet_ai.serving.locating import PreparedPhoto, prepare, scores_of, with_locations


@dataclass(frozen=True, slots=True)
class Prediction:
    """One request's verdict and where its time went (seconds)."""

    classification: Classification
    decode_s: float
    inference_s: float
    locate_s: float = 0.0


@dataclass(frozen=True, slots=True)
class BatchPrediction:
    """A batch's verdicts, in order; a file that failed has its error in its place."""

    items: list[Classification | AmuletError]
    decode_s: float
    inference_s: float
    locate_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ScoredPhoto:
    """One photo's evidence (embedding included) and where the amulet was found on it:
    a photo whose ``location`` is not ``judged`` would get no verdict as a prediction."""

    scores: PhotoScores
    location: PhotoLocation


def _content(source: StreamedFile | bytes) -> ImageSource:
    # In-memory content goes as bytes (BytesIO shares them); spooled content as a file,
    # rewound at each call.
    if isinstance(source, StreamedFile):
        return source.read_bytes() if source.in_memory else source.fileobj()
    return source


class Predictor:
    """Runs the blocking part of a prediction; called from an inference worker thread.

    ``turns`` (1 or 4, the ``crop_turns`` setting): a cropped photo is scored with its
    crop's quarter turns (:func:`~amulet_ai.serving.locating.scores_of`).

    Example::

        >>> from amulet_ai.model import AmuletClassifier
        >>> clf = AmuletClassifier.load()                                # doctest: +SKIP
        >>> Predictor().predict(clf, front_bytes, None, top_k=3, explain=False)  # doctest: +SKIP
    """

    def __init__(self, turns: int = 1) -> None:
        if turns not in (1, 4):
            raise ValueError("turns must be 1 or 4")
        self.turns = turns

    def score_each(
        self,
        classifier: AmuletClassifier,
        uploads: Sequence[StreamedFile | bytes],
        locate: LocateMode = "off",
    ) -> list[ScoredPhoto | AmuletError]:
        """Each photo's evidence (embedding included) from one model run, with its location;
        a photo that cannot be decoded has its error in its place (enrolment,
        ``/v1/similar``).

        ``locate`` should be the mode predictions take, so that an enrolled photo sent
        again is judged from the same crop it was enrolled with, and a photo predictions
        could not judge (``no_amulet``, ``too_small``, ``too_blurred``) is known as such."""
        items: list[PreparedPhoto | AmuletError] = []
        for upload in uploads:
            try:
                items.append(self.prepare(classifier, upload, locate))
            except AmuletError as exc:
                items.append(exc)
        good = [item for item in items if isinstance(item, PreparedPhoto)]
        scores = iter(scores_of(classifier, good))
        return [
            ScoredPhoto(next(scores), item.location) if isinstance(item, PreparedPhoto) else item
            for item in items
        ]

    def decode(self, classifier: AmuletClassifier, source: StreamedFile | bytes) -> DecodedImage:
        """Decode one photo at the model's input size, within the classifier's limits."""
        return classifier.decode(_content(source))

    def prepare(
        self,
        classifier: AmuletClassifier,
        source: StreamedFile | bytes,
        locate: LocateMode,
        *,
        mask: bool = False,
    ) -> PreparedPhoto:
        """Decode one photo and, with ``locate="auto"``, find and crop the amulet (with
        ``mask``, its location carries the localiser's mask)."""
        return prepare(classifier, lambda: _content(source), locate, mask=mask, turns=self.turns)

    def predict(
        self,
        classifier: AmuletClassifier,
        front: StreamedFile | bytes,
        back: StreamedFile | bytes | None,
        *,
        top_k: int,
        explain: bool,
        enrolled: EnrolledIndex | None = None,
        locate: LocateMode = "off",
        mask: bool = False,
    ) -> Prediction:
        """Classify a front photo, or a front and back pair (with ``enrolled`` types; with
        ``mask`` each location carries the localiser's mask)."""
        started = time.perf_counter()
        photos = [self.prepare(classifier, front, locate, mask=mask)]
        if back is not None:
            photos.append(self.prepare(classifier, back, locate, mask=mask))
        prepared = time.perf_counter()
        scores = scores_of(classifier, photos)
        verdict = classifier.classify_scores(
            scores[0],
            scores[1] if back is not None else None,
            top_k=top_k,
            explain=explain,
            enrolled=enrolled,
        )
        verdict = with_locations(
            verdict, photos[0].location, photos[1].location if back is not None else None
        )
        locate_s = sum(p.locate_s for p in photos)
        score_s = sum(p.score_s for p in photos)
        decode_s = prepared - started - locate_s - score_s
        inference_s = time.perf_counter() - prepared + score_s
        return Prediction(verdict, decode_s, inference_s, locate_s)

    def predict_many(
        self,
        classifier: AmuletClassifier,
        uploads: Sequence[StreamedFile | bytes],
        *,
        top_k: int,
        explain: bool,
        enrolled: EnrolledIndex | None = None,
        locate: LocateMode = "off",
        mask: bool = False,
    ) -> BatchPrediction:
        """Classify independent photos in one model run; a bad file fails only itself."""
        started = time.perf_counter()
        items: list[PreparedPhoto | AmuletError] = []
        for upload in uploads:
            try:
                items.append(self.prepare(classifier, upload, locate, mask=mask))
            except AmuletError as exc:
                items.append(exc)
        prepared = time.perf_counter()
        good = [item for item in items if isinstance(item, PreparedPhoto)]
        scores = iter(scores_of(classifier, good))
        results: list[Classification | AmuletError] = [
            with_locations(
                classifier.classify_scores(
                    next(scores), top_k=top_k, explain=explain, enrolled=enrolled
                ),
                item.location,
                None,
            )
            if isinstance(item, PreparedPhoto)
            else item
            for item in items
        ]
        locate_s = sum(p.locate_s for p in good)
        score_s = sum(p.score_s for p in good)
        return BatchPrediction(
            results,
            prepared - started - locate_s - score_s,
            time.perf_counter() - prepared + score_s,
            locate_s,
        )
