"""The amulet classifier: the shipped ONNX model and its metadata, run by onnxruntime.

Example::

    >>> from amulet_ai import AmuletClassifier
    >>> clf = AmuletClassifier.load()                    # models/ of the repository
    >>> result = clf.classify(open("front.jpg", "rb").read(), top_k=3)   # doctest: +SKIP
    >>> result.top1.class_id, result.unknown.is_unknown                  # doctest: +SKIP
    ('phra_sivali', False)

One :class:`onnxruntime.InferenceSession` is shared by every thread: ``run`` is thread safe
and releases the GIL, so callers run it concurrently without a lock.

Threads inside one run speed up a lone photo, but when several runs share the cores they
only cost CPU in hand-offs. So the classifier can hold a second session of the same model
with fewer threads (``busy_intra_op_threads``): a run that starts while another is still
running uses it. A lone request gets the fast answer, a loaded server the most photos per
second (measured in ``bench/``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from amulet_ai.config import DEFAULT_MODEL_DIR, Settings
from amulet_ai.errors import InvalidInput, ModelUnavailable
from amulet_ai.imaging.decode import (
    DEFAULT_MAX_DECODE_MB,
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    ImageSource,
    decode_image,
    to_tensor,
)
from amulet_ai.imaging.heatmap import png_data_url, render_overlay
from amulet_ai.model.fusion import fuse_pair
from amulet_ai.model.metadata import ModelMetadata
from amulet_ai.model.results import (
    Classification,
    ClassScore,
    PhotoResult,
    SideResults,
    UnknownVerdict,
)
from amulet_ai.runtime.atomic import AtomicCounter

logger = logging.getLogger(__name__)

ImageInput = DecodedImage | bytes


@dataclass(frozen=True, slots=True)
class PhotoScores:
    """Raw per-photo evidence: calibrated probabilities, unknown score, activation maps."""

    probabilities: np.ndarray
    log_probabilities: np.ndarray
    unknown_score: float
    cam: np.ndarray
    decoded: DecodedImage


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return result


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class AmuletClassifier:
    """Loads the model once and classifies photos, alone or as a front and back pair."""

    def __init__(
        self,
        session: ort.InferenceSession,
        metadata: ModelMetadata,
        *,
        busy_session: ort.InferenceSession | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_decode_mb: float = DEFAULT_MAX_DECODE_MB,
    ) -> None:
        self.session = session
        self.max_pixels = max_pixels
        self.max_decode_mb = max_decode_mb
        self.busy_session = busy_session
        self.metadata = metadata
        self._running = AtomicCounter()
        self.busy_runs = AtomicCounter()  # runs that overlapped another and used busy_session
        self._input_name = metadata.input.name
        outputs = metadata.outputs
        self._output_names = [outputs.logits, outputs.unknown_score, outputs.cam]
        present = {o.name for o in session.get_outputs()} | {i.name for i in session.get_inputs()}
        missing = [n for n in [self._input_name, *self._output_names] if n not in present]
        if missing:
            raise ModelUnavailable(f"The ONNX model lacks expected inputs or outputs: {missing}.")

    # --- loading -------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model_dir: Path | str | None = None,
        *,
        model_file: str = "amulet_classifier.onnx",
        metadata_file: str = "metadata.json",
        intra_op_threads: int = 2,
        busy_intra_op_threads: int | None = None,
        inter_op_threads: int = 1,
        warmup_runs: int = 2,
        verify_checksum: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_decode_mb: float = DEFAULT_MAX_DECODE_MB,
    ) -> AmuletClassifier:
        """Load model and metadata from ``model_dir`` (default: the repository's models/).

        ``busy_intra_op_threads``, when given and different from ``intra_op_threads``,
        loads a second session with that many threads for runs that overlap another.
        ``max_pixels`` and ``max_decode_mb`` bound every decode of bytes (:meth:`decode`).

        Raises:
            ModelUnavailable: a file is missing, corrupt, or does not match its metadata.
        """
        folder = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        metadata = ModelMetadata.load(folder / metadata_file)
        onnx_path = folder / model_file
        if not onnx_path.is_file():
            raise ModelUnavailable(f"Model file {onnx_path.name} is missing.")
        if (
            verify_checksum
            and metadata.onnx_sha256
            and _sha256_file(onnx_path) != (metadata.onnx_sha256)
        ):
            raise ModelUnavailable(f"Model file {onnx_path.name} does not match its metadata.")
        try:
            session = _session(onnx_path, intra_op_threads, inter_op_threads)
            busy = (
                _session(onnx_path, busy_intra_op_threads, inter_op_threads)
                if busy_intra_op_threads is not None and busy_intra_op_threads != intra_op_threads
                else None
            )
            classifier = cls(
                session,
                metadata,
                busy_session=busy,
                max_pixels=max_pixels,
                max_decode_mb=max_decode_mb,
            )
            classifier.warm_up(warmup_runs)
        except ModelUnavailable:
            raise
        except Exception as exc:
            # onnxruntime's errors (InvalidProtobuf, Fail, InvalidArgument, ...) share no
            # base class but Exception; any of them here means this model cannot serve.
            raise ModelUnavailable(f"Model file {onnx_path.name} could not be loaded.") from exc
        logger.info(
            "model loaded name=%s version=%s classes=%d",
            metadata.name,
            metadata.version,
            len(metadata.classes),
        )
        return classifier

    @classmethod
    def from_settings(cls, settings: Settings) -> AmuletClassifier:
        """Load the model the settings point at, with their thread counts."""
        return cls.load(
            settings.model_dir,
            model_file=settings.model_file,
            metadata_file=settings.metadata_file,
            intra_op_threads=settings.intra_op_threads,
            busy_intra_op_threads=settings.busy_intra_op_threads,
            inter_op_threads=settings.inter_op_threads,
            warmup_runs=settings.warmup_runs,
            max_pixels=settings.max_image_pixels,
            max_decode_mb=settings.decode_memory_limit_mb,
        )

    def warm_up(self, runs: int) -> None:
        size = self.input_size
        blank = np.zeros((1, 3, size, size), dtype=np.float32)
        feeds = {self._input_name: blank}
        for session in self._sessions():
            for _ in range(runs):
                session.run(self._output_names, feeds)

    def _sessions(self) -> list[ort.InferenceSession]:
        return [self.session] if self.busy_session is None else [self.session, self.busy_session]

    # --- properties ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def input_size(self) -> int:
        return self.metadata.input.size

    @property
    def threshold(self) -> float:
        return self.metadata.unknown.threshold

    # --- inference -----------------------------------------------------------------------
    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the graph on a ``(N, 3, size, size)`` batch: logits, unknown scores, maps."""
        feeds = {self._input_name: batch}
        if self.busy_session is None:
            logits, unknown, cam = self.session.run(self._output_names, feeds)
        else:
            overlapping = self._running.increment() > 1
            try:
                session = self.session
                if overlapping:
                    session = self.busy_session
                    self.busy_runs.increment()
                logits, unknown, cam = session.run(self._output_names, feeds)
            finally:
                self._running.decrement()
        return np.asarray(logits), np.asarray(unknown), np.asarray(cam)

    def decode(self, source: ImageSource) -> DecodedImage:
        """Decode a photo at this model's input size, within this classifier's limits.

        The one guarded decode of the project: the API, :meth:`classify` and the
        evaluation all decode through it.
        """
        return decode_image(
            source,
            size=self.input_size,
            max_pixels=self.max_pixels,
            max_decode_mb=self.max_decode_mb,
        )

    def score(self, images: Sequence[ImageInput]) -> list[PhotoScores]:
        """Evidence for each photo, from one run of the model over all of them."""
        if not images:
            return []
        decoded = [img if isinstance(img, DecodedImage) else self.decode(img) for img in images]
        batch = np.stack([to_tensor(d.image) for d in decoded])
        logits, unknown, cam = self.run(batch)
        log_probs = _log_softmax(logits / self.metadata.temperature)
        return [
            PhotoScores(
                probabilities=np.exp(log_probs[i]),
                log_probabilities=log_probs[i],
                unknown_score=float(unknown[i]),
                cam=cam[i],
                decoded=decoded[i],
            )
            for i in range(len(decoded))
        ]

    def classify(
        self,
        front: ImageInput,
        back: ImageInput | None = None,
        *,
        top_k: int = 3,
        explain: bool = False,
    ) -> Classification:
        """Classify a front photo, or a front and back pair of the same piece.

        A pair is fused as described in :func:`amulet_ai.model.fusion.fuse_pair`.
        """
        self._check_top_k(top_k)
        scores = self.score([front] if back is None else [front, back])
        return self._build(scores[0], scores[1] if back is not None else None, top_k, explain)

    def classify_batch(
        self, images: Sequence[ImageInput], *, top_k: int = 3, explain: bool = False
    ) -> list[Classification]:
        """Classify several independent photos in one model run."""
        self._check_top_k(top_k)
        return [self._build(s, None, top_k, explain) for s in self.score(images)]

    def classify_scores(
        self,
        front: PhotoScores,
        back: PhotoScores | None = None,
        *,
        top_k: int = 3,
        explain: bool = False,
    ) -> Classification:
        """Classify from evidence already computed by :meth:`score`.

        For callers that run the model for several requests at once (the API's
        micro-batcher) and assemble each request's verdict afterwards.
        """
        self._check_top_k(top_k)
        return self._build(front, back, top_k, explain)

    # --- assembling results --------------------------------------------------------------
    def _check_top_k(self, top_k: int) -> None:
        if not 1 <= top_k <= len(self.metadata.classes):
            raise InvalidInput(f"top_k must be between 1 and {len(self.metadata.classes)}.")

    def _ranked(self, probabilities: np.ndarray, top_k: int) -> list[ClassScore]:
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        classes = self.metadata.classes
        return [
            ClassScore(
                class_id=classes[i].id,
                name_en=classes[i].name_en,
                name_th=classes[i].name_th,
                probability=round(float(probabilities[i]), 6),
            )
            for i in order
        ]

    def _verdict(self, score: float) -> UnknownVerdict:
        return UnknownVerdict(
            is_unknown=score > self.threshold,
            score=round(score, 4),
            threshold=round(self.threshold, 4),
        )

    def _photo(self, scores: PhotoScores, top_k: int) -> PhotoResult:
        d = scores.decoded
        return PhotoResult(
            predictions=self._ranked(scores.probabilities, top_k),
            unknown=self._verdict(scores.unknown_score),
            width=d.width,
            height=d.height,
            format=d.format,
        )

    def _heatmap(self, scores: PhotoScores, class_index: int) -> str:
        return png_data_url(render_overlay(scores.decoded.image, scores.cam[class_index]))

    def _build(
        self, front: PhotoScores, back: PhotoScores | None, top_k: int, explain: bool
    ) -> Classification:
        if back is None:
            probabilities, unknown_score = front.probabilities, front.unknown_score
        else:
            probabilities, unknown_score = fuse_pair(
                front.log_probabilities,
                back.log_probabilities,
                front.unknown_score,
                back.unknown_score,
            )
        predictions = self._ranked(probabilities, top_k)
        heatmap = None
        if explain:
            top = int(np.argmax(probabilities))
            heatmap = {"front": self._heatmap(front, top)}
            if back is not None:
                heatmap["back"] = self._heatmap(back, top)
        return Classification(
            top1=predictions[0],
            predictions=predictions,
            unknown=self._verdict(unknown_score),
            images=SideResults(
                front=self._photo(front, top_k),
                back=self._photo(back, top_k) if back is not None else None,
            ),
            heatmap=heatmap,
        )


def _session(path: Path, intra_op_threads: int, inter_op_threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    # Several requests run at once on the inference workers: a spinning idle thread
    # would take the CPU they need (measured: 2 threads with spinning lose 10-20 % of
    # throughput; without it one photo takes 9.7 ms instead of 12.7 at equal throughput).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
