"""In-process figures: raw ``session.run`` against the classifier call, and decoding.

    classifier_overhead  one photo already decoded at 224 px: ``session.run`` on its tensor
                         vs ``AmuletClassifier.classify`` (tensor, run, calibrated top-k,
                         unknown verdict), same session, calls alternated
    raw_throughput       ``session.run`` from N threads on one session for a fixed time:
                         the most images per second the model gives on this machine, the
                         reference the service is held to
    raw_batching         one run over a batch of 8 vs 8 single runs, time per image
    decode               a 12 MP phone JPEG to the model's tensor: draft vs full decode

:func:`bench_model` runs them all but ``raw_throughput``, which :mod:`bench.run` alternates
with the service's load runs.
"""

from __future__ import annotations

import io
import itertools
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from amulet_ai.imaging.decode import MODEL_INPUT_SIZE, DecodedImage, decode_image, to_tensor
from amulet_ai.model.classifier import AmuletClassifier
from bench.load import LoadResult


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def classifier_overhead(
    classifier: AmuletClassifier, photos: Sequence[DecodedImage], *, calls: int
) -> dict[str, Any]:
    """Median time of raw ``session.run`` and of ``classify`` on the same decoded photos."""
    session = classifier.session
    input_name = session.get_inputs()[0].name
    tensors = [to_tensor(p.image)[None] for p in photos]
    raw: list[float] = []
    wrapped: list[float] = []
    for i in range(calls):
        k = i % len(photos)
        # Alternate which goes first, so neither always runs on a warmer cache.
        pair = [
            (raw, lambda k=k: session.run(None, {input_name: tensors[k]})),
            (wrapped, lambda k=k: classifier.classify(photos[k], top_k=3)),
        ]
        for samples, call in pair if i % 2 else reversed(pair):
            samples.append(_timed(call))
    raw_ms, wrapped_ms = statistics.median(raw), statistics.median(wrapped)
    return {
        "calls": calls,
        "raw_session_run_ms": _ms(raw_ms),
        "classifier_ms": _ms(wrapped_ms),
        "classifier_p90_ms": _ms(float(np.quantile(wrapped, 0.9))),
        "raw_p90_ms": _ms(float(np.quantile(raw, 0.9))),
        "ratio": round(wrapped_ms / raw_ms, 3),
        "intra_op_threads": session.get_session_options().intra_op_num_threads,
    }


def raw_throughput(
    classifier: AmuletClassifier,
    photos: Sequence[DecodedImage],
    *,
    threads: int,
    duration_s: float,
) -> LoadResult:
    """``session.run`` from ``threads`` callers at once for ``duration_s`` on one session.

    The tensors are made beforehand: this is the model alone, the most images per second
    it gives here, measured like a load run so the two compare directly. Several callers
    use the classifier's one-thread session where it has one (what the service's
    overlapping runs use, and the faster choice for many callers), one caller the main one.
    """
    busy = classifier.busy_session
    session = busy if threads > 1 and busy is not None else classifier.session
    input_name = session.get_inputs()[0].name
    tensors = [to_tensor(p.image)[None] for p in photos]
    result = LoadResult(threads)
    lock = threading.Lock()
    deadline = time.perf_counter() + duration_s

    def caller(offset: int) -> None:
        mine = []
        for i in itertools.count(offset, threads):
            if time.perf_counter() >= deadline:
                break
            tensor = tensors[i % len(tensors)]
            mine.append(_timed(lambda: session.run(None, {input_name: tensor})))  # noqa: B023
        with lock:
            result.latencies.extend(mine)

    cpu_start = time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(caller, range(threads)))
    result.seconds = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - cpu_start
    return result


def raw_batching(
    classifier: AmuletClassifier, photos: Sequence[DecodedImage], *, rounds: int
) -> dict[str, Any]:
    """Time and process CPU per image of one run over 8 photos vs 8 runs of one,
    alternated (the CPU counts onnxruntime's own threads too)."""
    tensors = np.stack([to_tensor(p.image) for p in photos[:8]])
    singles = [t[None] for t in tensors]
    one: list[float] = []
    eight: list[float] = []
    cpu = {"one": 0.0, "eight": 0.0}

    def arm(times: list[float], name: str, work: Callable[[], object]) -> None:
        started = time.process_time()
        times.append(_timed(work) / len(singles))
        cpu[name] += time.process_time() - started

    for _ in range(rounds):
        arm(one, "one", lambda: [classifier.run(t) for t in singles])
        arm(eight, "eight", lambda: classifier.run(tensors))
    single_ms, batch_ms = statistics.median(one), statistics.median(eight)
    images = rounds * len(singles)
    return {
        "batch_1_ms_per_image": _ms(single_ms),
        "batch_8_ms_per_image": _ms(batch_ms),
        "batch_8_speedup": round(single_ms / batch_ms, 3),
        "batch_1_cpu_ms_per_image": _ms(cpu["one"] / images),
        "batch_8_cpu_ms_per_image": _ms(cpu["eight"] / images),
    }


def decode_speed(data: bytes, *, repeats: int) -> dict[str, Any]:
    """Bytes to the model's tensor with draft decoding vs a full decode, alternated; and
    Pillow's draft decode alone (open, draft, load: no orientation, resize or tensor), the
    floor of the draft path, so ``full / pillow_draft`` is the most a draft can give."""

    def prepare(draft: bool) -> Callable[[], object]:
        return lambda: to_tensor(decode_image(data, draft=draft).image)

    def pillow_draft() -> None:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE))
            image.load()

    draft_s: list[float] = []
    full_s: list[float] = []
    floor_s: list[float] = []
    prepare(True)()
    prepare(False)()
    for _ in range(repeats):
        draft_s.append(_timed(prepare(True)))
        full_s.append(_timed(prepare(False)))
        floor_s.append(_timed(pillow_draft))
    draft_ms, full_ms = statistics.median(draft_s), statistics.median(full_s)
    floor_ms = statistics.median(floor_s)
    with_draft = decode_image(data)
    return {
        "image_bytes": len(data),
        "image_size": f"{with_draft.width}x{with_draft.height}",
        "repeats": repeats,
        "draft_ms": _ms(draft_ms),
        "full_ms": _ms(full_ms),
        "speedup": round(full_ms / draft_ms, 2),
        "draft_p90_ms": _ms(float(np.quantile(draft_s, 0.9))),
        "pillow_draft_ms": _ms(floor_ms),
        "full_over_pillow_draft": round(full_ms / floor_ms, 2),
    }


def bench_model(
    classifier: AmuletClassifier,
    small: Sequence[bytes],
    phone: bytes,
    *,
    quick: bool,
) -> dict[str, Any]:
    """Every in-process figure, as one dict."""
    decoded = [decode_image(p, size=classifier.input_size) for p in small]
    return {
        "classifier": classifier_overhead(classifier, decoded, calls=60 if quick else 300),
        "raw_batching": raw_batching(classifier, decoded, rounds=5 if quick else 20),
        "decode": decode_speed(phone, repeats=5 if quick else 15),
    }
