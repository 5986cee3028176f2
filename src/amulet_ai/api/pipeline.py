"""What one request's job does on an inference worker: decode, run the model, build the verdict.

All of it happens in one hop onto the worker (no return to the event loop in between), and
the model runs without a lock: an ``InferenceSession`` is safe to run from several threads.
Each decode of untrusted bytes runs under
:func:`~amulet_ai.runtime.memory.memory_limit_context`, so a photo that makes the process
grow past ``decode_memory_limit_mb`` fails alone with a 503 instead of taking the process
down.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from amulet_ai.api.batching import MicroBatcher
from amulet_ai.imaging.decode import DecodedImage, decode_image
from amulet_ai.model.classifier import AmuletClassifier, PhotoScores
from amulet_ai.model.results import Classification
from amulet_ai.runtime.errors import AmuletError
from amulet_ai.runtime.memory import memory_limit_context
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
    """Runs the blocking part of a prediction; called from an inference worker thread."""

    def __init__(
        self,
        *,
        max_pixels: int,
        decode_limit_mb: float,
        batcher: MicroBatcher | None = None,
    ) -> None:
        self._max_pixels = max_pixels
        self._decode_limit_mb = decode_limit_mb
        self._batcher = batcher

    def decode(self, classifier: AmuletClassifier, upload: StreamedFile) -> DecodedImage:
        """Decode one upload at the model's input size, under the decode memory limit."""
        # In-memory content goes as bytes (BytesIO shares them); spooled content as a file.
        source = upload.read_bytes() if upload.in_memory else upload.fileobj()
        with memory_limit_context(self._decode_limit_mb):
            return decode_image(source, size=classifier.input_size, max_pixels=self._max_pixels)

    def _score(
        self, classifier: AmuletClassifier, images: Sequence[DecodedImage]
    ) -> list[PhotoScores]:
        if self._batcher is not None:
            return self._batcher.score(classifier, images)
        return classifier.score(images)

    def predict(
        self,
        classifier: AmuletClassifier,
        front: StreamedFile,
        back: StreamedFile | None,
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
        scores = self._score(classifier, images)
        verdict = classifier.classify_scores(
            scores[0], scores[1] if back is not None else None, top_k=top_k, explain=explain
        )
        return Prediction(verdict, decoded - started, time.perf_counter() - decoded)

    def predict_many(
        self,
        classifier: AmuletClassifier,
        uploads: Sequence[StreamedFile],
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
        scores = iter(self._score(classifier, good) if good else [])
        results: list[Classification | AmuletError] = [
            classifier.classify_scores(next(scores), top_k=top_k, explain=explain)
            if isinstance(item, DecodedImage)
            else item
            for item in items
        ]
        return BatchPrediction(results, decoded - started, time.perf_counter() - decoded)
