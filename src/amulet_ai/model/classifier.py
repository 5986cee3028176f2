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
from amulet_ai.imaging.budget import MemoryBudget
from amulet_ai.imaging.decode import (
    DEFAULT_MAX_DECODE_MB,
    DEFAULT_MAX_PIXELS,
    DETAIL_SIDE,
    DecodedImage,
    ImageSource,
    decode_draft_and_detail,
    decode_image,
    decode_picture,
    to_tensor,
)
from amulet_ai.imaging.heatmap import png_data_url, render_overlay
from amulet_ai.model.enrolment import EnrolledIndex, EnrolmentRule
from amulet_ai.model.fusion import fuse_pair
from amulet_ai.model.localiser import LOCALISER_METADATA, Localiser
from amulet_ai.model.metadata import ModelMetadata
from amulet_ai.model.results import (
    Classification,
    ClassScore,
    PhotoResult,
    SideResults,
    UnknownVerdict,
)
from amulet_ai.model.sessions import cpu_session
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
    # The unknown detector's embedding (standardised features), when the model outputs it.
    embedding: np.ndarray | None = None


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis, shifted by the maximum for stability."""
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
        localiser: Localiser | None = None,
        decode_wait_s: float | None = None,
    ) -> None:
        self.session = session
        # Loaded, reloaded and pinned with the classifier: a request finishes on the pair
        # it started with.
        self.localiser = localiser
        self.max_pixels = max_pixels
        self.max_decode_mb = max_decode_mb
        # What this classifier's decodes at once may hold together: one decode's bound,
        # handed out in arrival order; a decode not let in within decode_wait_s is a 503.
        self.decode_budget = MemoryBudget(int(max_decode_mb * 1024 * 1024), wait_s=decode_wait_s)
        self.busy_session = busy_session
        self.metadata = metadata
        self._running = AtomicCounter()
        self.enrolment_rule = EnrolmentRule()
        self.busy_runs = AtomicCounter()  # runs that overlapped another and used busy_session
        self._input_name = metadata.input.name
        outputs = metadata.outputs
        self._output_names = [outputs.logits, outputs.unknown_score, outputs.cam]
        if outputs.embedding is not None:
            self._output_names.append(outputs.embedding)
        present = {o.name for o in session.get_outputs()} | {i.name for i in session.get_inputs()}
        self._map_names = list(outputs.backbone_maps)
        expected = [self._input_name, *self._output_names, *self._map_names]
        missing = [n for n in expected if n not in present]
        if missing:
            raise ModelUnavailable(f"The ONNX model lacks expected inputs or outputs: {missing}.")

    @property
    def shares_backbone(self) -> bool:
        """Whether the localiser's first pass on a picture the classifier would also judge
        whole can read this graph's backbone maps (:meth:`score_with_maps`) instead of
        running its own backbone: the localiser has a head graph of this architecture and
        this graph outputs the maps it reads."""
        return self.localiser is not None and self.localiser.reads_maps_of(
            self.metadata.architecture, self._map_names
        )

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
        with_localiser: bool = False,
        decode_wait_s: float | None = None,
    ) -> AmuletClassifier:
        """Load model and metadata from ``model_dir`` (default: the repository's models/).

        ``busy_intra_op_threads``, when given and different from ``intra_op_threads``,
        loads a second session with that many threads for runs that overlap another.
        ``max_pixels`` and ``max_decode_mb`` bound every decode of bytes (:meth:`decode`);
        ``decode_wait_s`` bounds a decode's wait for its share of the decode memory budget
        (:class:`~amulet_ai.imaging.budget.MemoryBudget`; None: no bound).
        ``with_localiser`` also loads the localiser of the same folder
        (:data:`~amulet_ai.model.localiser.LOCALISER_METADATA`) when the folder has one.

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
        localiser = None
        if with_localiser and (folder / LOCALISER_METADATA).is_file():
            localiser = Localiser.load(
                folder, intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads
            )
        elif with_localiser:
            logger.warning("no localiser in %s: photos are classified whole", folder)
        try:
            session = cpu_session(onnx_path, intra_op_threads, inter_op_threads)
            busy = (
                cpu_session(onnx_path, busy_intra_op_threads, inter_op_threads)
                if busy_intra_op_threads is not None and busy_intra_op_threads != intra_op_threads
                else None
            )
            classifier = cls(
                session,
                metadata,
                busy_session=busy,
                max_pixels=max_pixels,
                max_decode_mb=max_decode_mb,
                localiser=localiser,
                decode_wait_s=decode_wait_s,
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
            with_localiser=True,
            decode_wait_s=settings.request_timeout_s,
        )

    def warm_up(self, runs: int) -> None:
        size = self.input_size
        blank = np.zeros((1, 3, size, size), dtype=np.float32)
        feeds = {self._input_name: blank}
        for session in self._sessions():
            for _ in range(runs):
                session.run(self._output_names, feeds)
        if self.localiser is not None:
            self.localiser.warm_up(runs)

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

    @property
    def has_embedding(self) -> bool:
        """Whether the model outputs the embedding (enrolled types and search need it)."""
        return self.metadata.outputs.embedding is not None

    # --- inference -----------------------------------------------------------------------
    def run(self, batch: np.ndarray, extra: Sequence[str] = ()) -> tuple[np.ndarray, ...]:
        """Run the graph on a ``(N, 3, size, size)`` batch.

        Returns logits, unknown scores and maps, then the embeddings when the model has them,
        then the outputs named in ``extra``.
        """
        feeds = {self._input_name: batch}
        names = [*self._output_names, *extra]
        if self.busy_session is None:
            outputs = self.session.run(names, feeds)
        else:
            overlapping = self._running.increment() > 1
            try:
                session = self.session
                if overlapping:
                    session = self.busy_session
                    self.busy_runs.increment()
                outputs = session.run(names, feeds)
            finally:
                self._running.decrement()
        return tuple(np.asarray(o) for o in outputs)

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
            budget=self.decode_budget,
        )

    def decode_whole(self, source: ImageSource, *, min_side: int = DETAIL_SIDE) -> DecodedImage:
        """Decode the whole photo, upright, its shorter side at least ``min_side`` (never
        enlarged; JPEGs at the smallest DCT scale that gives it), within this classifier's
        limits: the guarded decode of a crop's finer detail, where the first decode of
        :meth:`decode_draft_and_detail` lacks it.
        """
        return decode_picture(
            source,
            min_side=min_side,
            max_pixels=self.max_pixels,
            max_decode_mb=self.max_decode_mb,
            budget=self.decode_budget,
        )

    def decode_draft_and_detail(
        self, source: ImageSource, *, draft_side: int, detail_side: int
    ) -> tuple[DecodedImage, DecodedImage]:
        """The localiser's draft and the crop's detail from one decode of the photo
        (:func:`~amulet_ai.imaging.decode.decode_draft_and_detail`), within this
        classifier's limits."""
        return decode_draft_and_detail(
            source,
            draft_side=draft_side,
            detail_side=detail_side,
            max_pixels=self.max_pixels,
            max_decode_mb=self.max_decode_mb,
            budget=self.decode_budget,
        )

    def score(self, images: Sequence[ImageInput]) -> list[PhotoScores]:
        """Evidence for each photo, from one run of the model over all of them."""
        return self._score(images, ())[0]

    def score_with_maps(
        self, pictures: Sequence[DecodedImage]
    ) -> tuple[list[PhotoScores], dict[str, np.ndarray]]:
        """:meth:`score`, and from the same run the backbone maps the localiser's head
        reads (``metadata.outputs.backbone_maps``: name -> ``[N, C, H, W]``)."""
        return self._score(pictures, self._map_names)

    def _score(
        self, images: Sequence[ImageInput], maps: Sequence[str]
    ) -> tuple[list[PhotoScores], dict[str, np.ndarray]]:
        if not images:
            return [], {}
        decoded = [img if isinstance(img, DecodedImage) else self.decode(img) for img in images]
        batch = np.stack([to_tensor(d.image) for d in decoded])
        outputs = self.run(batch, maps)
        logits, unknown, cam = outputs[:3]
        embeddings = outputs[3] if len(self._output_names) > 3 else None
        map_values = dict(zip(maps, outputs[len(self._output_names) :], strict=True))
        log_probs = log_softmax(logits / self.metadata.temperature)
        return [
            PhotoScores(
                probabilities=np.exp(log_probs[i]),
                log_probabilities=log_probs[i],
                unknown_score=float(unknown[i]),
                cam=cam[i],
                decoded=decoded[i],
                embedding=embeddings[i] if embeddings is not None else None,
            )
            for i in range(len(decoded))
        ], map_values

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
        enrolled: EnrolledIndex | None = None,
    ) -> Classification:
        """Classify from evidence already computed by :meth:`score`.

        For callers that run the model for several requests at once (the API's
        micro-batcher) and assemble each request's verdict afterwards. With ``enrolled``
        (and a model with an embedding output) the owner's enrolled types compete with the
        model's classes by :attr:`enrolment_rule` (:mod:`amulet_ai.model.enrolment`).
        """
        self._check_top_k(top_k)
        return self._build(front, back, top_k, explain, enrolled)

    # --- assembling results --------------------------------------------------------------
    def _check_top_k(self, top_k: int) -> None:
        if not 1 <= top_k <= len(self.metadata.classes):
            raise InvalidInput(f"top_k must be between 1 and {len(self.metadata.classes)}.")

    def _ranked(
        self, probabilities: np.ndarray, top_k: int, enrolled: EnrolledIndex | None = None
    ) -> list[ClassScore]:
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        classes = self.metadata.classes
        ranked = []
        for i in order:
            probability = round(float(probabilities[i]), 6)
            if i < len(classes):
                c = classes[i]
                ranked.append(ClassScore(class_id=c.id, name_en=c.name_en, name_th=c.name_th,
                                         probability=probability))  # fmt: skip
            else:
                assert enrolled is not None
                e = enrolled.classes[i - len(classes)]
                ranked.append(ClassScore(class_id=e.class_id, name_en=e.name_en,
                                         name_th=e.name_th, probability=probability,
                                         source="enrolled"))  # fmt: skip
        return ranked

    def _with_enrolled(
        self, scores: PhotoScores, enrolled: EnrolledIndex | None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Probabilities, log-probabilities and unknown score, the enrolled types included."""
        if enrolled is None or not enrolled.classes or scores.embedding is None:
            return scores.probabilities, scores.log_probabilities, scores.unknown_score
        distances = enrolled.type_distances(scores.embedding[None])[0]
        rule = self.enrolment_rule
        probs = rule.combine(scores.probabilities, scores.unknown_score, distances)
        with np.errstate(divide="ignore"):
            log_probs = np.log(probs)
        return probs, log_probs, rule.unknown_score(scores.unknown_score, distances)

    def _verdict(self, score: float) -> UnknownVerdict:
        return UnknownVerdict(
            is_unknown=score > self.threshold,
            score=round(score, 4),
            threshold=round(self.threshold, 4),
        )

    def _photo(
        self, scores: PhotoScores, top_k: int, enrolled: EnrolledIndex | None
    ) -> PhotoResult:
        d = scores.decoded
        probabilities, _, unknown_score = self._with_enrolled(scores, enrolled)
        return PhotoResult(
            predictions=self._ranked(probabilities, top_k, enrolled),
            unknown=self._verdict(unknown_score),
            width=d.width,
            height=d.height,
            format=d.format,
        )

    def _heatmap(self, scores: PhotoScores, class_index: int) -> str:
        return png_data_url(render_overlay(scores.decoded.image, scores.cam[class_index]))

    def _build(
        self,
        front: PhotoScores,
        back: PhotoScores | None,
        top_k: int,
        explain: bool,
        enrolled: EnrolledIndex | None = None,
    ) -> Classification:
        if enrolled is not None and not enrolled.classes:
            enrolled = None
        probabilities, front_log, unknown_score = self._with_enrolled(front, enrolled)
        if back is not None:
            _, back_log, back_unknown = self._with_enrolled(back, enrolled)
            probabilities, unknown_score = fuse_pair(
                front_log, back_log, unknown_score, back_unknown
            )
        predictions = self._ranked(probabilities, top_k, enrolled)
        heatmap = None
        if explain:
            # The maps explain the model's classes: the best of them, even when an
            # enrolled type ranks first.
            top = int(np.argmax(probabilities[: len(self.metadata.classes)]))
            heatmap = {"front": self._heatmap(front, top)}
            if back is not None:
                heatmap["back"] = self._heatmap(back, top)
        return Classification(
            top1=predictions[0],
            predictions=predictions,
            unknown=self._verdict(unknown_score),
            images=SideResults(
                front=self._photo(front, top_k, enrolled),
                back=self._photo(back, top_k, enrolled) if back is not None else None,
            ),
            heatmap=heatmap,
        )
