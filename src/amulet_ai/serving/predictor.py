"""What one request's job does on an inference worker: decode, run the model, build the verdict.

All of it happens in one hop onto the worker (no return to the event loop in between), and
the model runs without a lock: an ``InferenceSession`` is safe to run from several threads.
Decoding goes through :meth:`AmuletClassifier.decode`, the one guarded decode of the
project: each photo is bounded before any pixel is decoded by the pixel ceiling
(``max_image_pixels``) and by what this one decode would hold in memory, read from the
image's header (``decode_memory_limit_mb``). Both are properties of the photo itself, so a
photo is refused for its own size, never for what other requests hold meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from amulet_ai.errors import AmuletError
from amulet_ai.imaging.decode import DecodedImage
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.results import Classification
from amulet_ai.runtime.streaming import StreamedFile


@dataclass(frozen=True, slots=True)
class Prediction:
    """One request's verdict and where its time went (seconds)."""

    classification: Classification
    decode_s: float
    inference_s: float


@dataclass(frozen=True, slots=True)
class BatchPrediction:
    """A batch's verdicts, in order; a file that failed has its error in its place."""

    items: list[Classification | AmuletError]
    decode_s: float
    inference_s: float


class Predictor:
    """Runs the blocking part of a prediction; called from an inference worker thread.

    Example::

        >>> from amulet_ai.model import AmuletClassifier
        >>> clf = AmuletClassifier.load()                                # doctest: +SKIP
        >>> Predictor().predict(clf, front_bytes, None, top_k=3, explain=False)  # doctest: +SKIP
    """

    def decode(self, classifier: AmuletClassifier, source: StreamedFile | bytes) -> DecodedImage:
        """Decode one photo at the model's input size, within the classifier's limits."""
        if isinstance(source, StreamedFile):
            # In-memory content goes as bytes (BytesIO shares them); spooled content as a file.
            return classifier.decode(source.read_bytes() if source.in_memory else source.fileobj())
        return classifier.decode(source)

    def predict(
        self,
        classifier: AmuletClassifier,
        front: StreamedFile | bytes,
        back: StreamedFile | bytes | None,
        *,
        top_k: int,
        explain: bool,
    ) -> Prediction:
        """Classify a front photo, or a front and back pair."""
        started = time.perf_counter()
        images = [self.decode(classifier, front)]
        if back is not None:
            images.append(self.decode(classifier, back))
        decoded = time.perf_counter()
        scores = classifier.score(images)
        verdict = classifier.classify_scores(
            scores[0], scores[1] if back is not None else None, top_k=top_k, explain=explain
        )
        return Prediction(verdict, decoded - started, time.perf_counter() - decoded)

    def predict_many(
        self,
        classifier: AmuletClassifier,
        uploads: Sequence[StreamedFile | bytes],
        *,
        top_k: int,
        explain: bool,
    ) -> BatchPrediction:
        """Classify independent photos in one model run; a bad file fails only itself."""
        started = time.perf_counter()
        items: list[Classification | AmuletError | DecodedImage] = []
        for upload in uploads:
            try:
                items.append(self.decode(classifier, upload))
            except AmuletError as exc:
                items.append(exc)
        decoded = time.perf_counter()
        good = [item for item in items if isinstance(item, DecodedImage)]
        scores = iter(classifier.score(good) if good else [])
        results: list[Classification | AmuletError] = [
            classifier.classify_scores(next(scores), top_k=top_k, explain=explain)
            if isinstance(item, DecodedImage)
            else item
            for item in items
        ]
        return BatchPrediction(results, decoded - started, time.perf_counter() - decoded)
