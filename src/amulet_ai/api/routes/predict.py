"""``POST /v1/predict`` and ``POST /v1/predict/batch``."""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from amulet_ai.api.deps import ApiKeyDep, ClassifierDep, StateDep
from amulet_ai.api.docs import error_responses, multipart_body
from amulet_ai.api.result_cache import ResultCache, model_tag
from amulet_ai.api.schemas import (
    BatchItem,
    BatchResponse,
    ErrorBody,
    ModelRef,
    PredictResponse,
    Timing,
)
from amulet_ai.api.uploads import read_form
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.results import Classification
from amulet_ai.runtime.errors import AmuletError

router = APIRouter(prefix="/v1", tags=["predict"])

TopK = Annotated[int, Query(ge=1, le=6, description="How many classes to list.")]
Explain = Annotated[bool, Query(description="Add class-activation heatmaps (PNG data URLs).")]

_ERRORS = error_responses(400, 401, 403, 408, 413, 415, 422, 429, 503)


def _json(model: PredictResponse | BatchResponse) -> Response:
    # Serialised straight from the model: FastAPI would validate the response once more.
    return Response(model.model_dump_json(), media_type="application/json")


def _model_ref(classifier: AmuletClassifier) -> ModelRef:
    return ModelRef(name=classifier.name, version=classifier.version)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _elapsed_ms(request: Request) -> float:
    started = getattr(request.state, "started", None)
    return _ms(time.perf_counter() - started) if isinstance(started, float) else 0.0


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    openapi_extra=multipart_body(
        {
            "front": ("Photo of the front (JPEG, PNG, WebP or HEIC).", False, True),
            "back": ("Photo of the back of the same piece.", False, False),
        }
    ),
)
async def predict(
    request: Request,
    caller: ApiKeyDep,
    classifier: ClassifierDep,
    state: StateDep,
    top_k: TopK = 3,
    explain: Explain = False,
) -> Response:
    """Classify a front photo, or a front and back pair of one piece."""
    state.pool.check_admission()
    form = await read_form(request, state.predict_form)
    try:
        front = form.one("front")
        back = form.one("back")
        assert front is not None  # required by the form rules
        key = ResultCache.key(
            model_tag(classifier),
            front.content.sha256,
            back.content.sha256 if back else None,
            top_k=top_k,
            explain=explain,
        )
        verdict = state.cache.get(key)
        cached = verdict is not None
        decode_ms = inference_ms = 0.0
        if verdict is None:
            job = partial(
                state.predictor.predict,
                classifier,
                front.content,
                back.content if back else None,
                top_k=top_k,
                explain=explain,
            )
            outcome = await state.pool.run(job)
            verdict = outcome.classification
            state.cache.put(key, verdict)
            state.metrics.decode_seconds.observe(outcome.decode_s)
            state.metrics.inference_seconds.observe(outcome.inference_s)
            decode_ms, inference_ms = _ms(outcome.decode_s), _ms(outcome.inference_s)
    finally:
        form.close()
    request.state.cached = cached
    body = PredictResponse.model_construct(
        **dict(verdict),
        request_id=request.state.request_id,
        model=_model_ref(classifier),
        cached=cached,
        timing_ms=Timing(decode=decode_ms, inference=inference_ms, total=_elapsed_ms(request)),
    )
    return _json(body)


def _item(index: int, filename: str | None, outcome: Classification | AmuletError) -> BatchItem:
    if isinstance(outcome, AmuletError):
        error = ErrorBody(
            code=outcome.code, message=outcome.message, details=outcome.details or None
        )
        return BatchItem(index=index, filename=filename, error=error)
    return BatchItem(index=index, filename=filename, result=outcome)


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=_ERRORS,
    openapi_extra=multipart_body(
        {"files": ("Photos, each classified on its own (1 to max_batch_files).", True, True)}
    ),
)
async def predict_batch(
    request: Request,
    caller: ApiKeyDep,
    classifier: ClassifierDep,
    state: StateDep,
    top_k: TopK = 3,
    explain: Explain = False,
) -> Response:
    """Classify several independent photos; a bad file gets its own error entry."""
    state.pool.check_admission()
    form = await read_form(request, state.batch_form)
    tag = model_tag(classifier)
    try:
        files = form.all("files")
        keys = [
            ResultCache.key(tag, f.content.sha256, None, top_k=top_k, explain=explain)
            for f in files
        ]
        outcomes: list[Classification | AmuletError | None] = [state.cache.get(k) for k in keys]
        hits = [outcome is not None for outcome in outcomes]
        todo = [i for i, hit in enumerate(hits) if not hit]
        decode_ms = inference_ms = 0.0
        if todo:
            job = partial(
                state.predictor.predict_many,
                classifier,
                [files[i].content for i in todo],
                top_k=top_k,
                explain=explain,
            )
            batch = await state.pool.run(job)
            for i, outcome in zip(todo, batch.items, strict=True):
                outcomes[i] = outcome
                if isinstance(outcome, Classification):
                    state.cache.put(keys[i], outcome)
            state.metrics.decode_seconds.observe(batch.decode_s)
            state.metrics.inference_seconds.observe(batch.inference_s)
            decode_ms, inference_ms = _ms(batch.decode_s), _ms(batch.inference_s)
    finally:
        form.close()
    items = []
    for i, (upload, found) in enumerate(zip(files, outcomes, strict=True)):
        assert found is not None  # every miss was filled in above
        item = _item(i, upload.filename, found)
        item.cached = hits[i]
        items.append(item)
    request.state.cached = bool(files) and all(hits)
    body = BatchResponse(
        request_id=request.state.request_id,
        model=_model_ref(classifier),
        results=items,
        timing_ms=Timing(decode=decode_ms, inference=inference_ms, total=_elapsed_ms(request)),
    )
    return _json(body)
