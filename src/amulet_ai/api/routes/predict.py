"""``POST /v1/predict`` and ``POST /v1/predict/batch``: read the upload, call the service.

With ``save=true`` (needs the ``collection`` scope too) each answer is also kept in the
caller's history (:mod:`amulet_ai.api.saving`) and the response carries its
``history_id``. With ``mask=true`` each located photo's ``location`` carries the
localiser's mask (:class:`~amulet_ai.model.results.PhotoMask`), the result cache keeping
those answers apart from the others.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from amulet_ai.api.deps import (
    AdmittedModelDep,
    PredictCallerDep,
    PredictFormsDep,
    PredictionServiceDep,
    SaverDep,
    SettingsDep,
)
from amulet_ai.api.docs import error_responses, multipart_body
from amulet_ai.api.owners import Caller
from amulet_ai.api.saving import HistorySaver
from amulet_ai.api.schemas import (
    BatchItem,
    BatchResponse,
    ErrorBody,
    ModelRef,
    PredictResponse,
    Timing,
)
from amulet_ai.api.uploads import (
    RAW_PHOTO_ALIASES,
    RAW_PHOTO_TYPES,
    UNTYPED_BODY,
    RejectedFile,
    read_form,
    read_upload,
)
from amulet_ai.errors import AmuletError
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.results import Classification, LocateMode

router = APIRouter(prefix="/v1", tags=["predict"])

TopK = Annotated[int, Query(ge=1, le=6, description="How many classes to list.")]
Explain = Annotated[bool, Query(description="Add class-activation heatmaps (PNG data URLs).")]
Mask = Annotated[
    bool,
    Query(
        description="Add each located photo's localiser mask (location.mask: a small 1-bit "
        "PNG over the whole photo, to be stretched onto it). Only where the localiser "
        "found something: never with locate=off or for no_amulet."
    ),
]
Save = Annotated[
    bool,
    Query(description="Keep the answer in the caller's history (needs the collection scope)."),
]
Locate = Annotated[
    LocateMode | None,
    Query(
        description="auto: find the amulet on each photo and classify its crop (a phone "
        "photo); off: the photo is already a tight crop, classified whole. Default: the "
        "server's AMULET_LOCATE."
    ),
]

_ERRORS = error_responses(400, 401, 403, 408, 409, 413, 415, 422, 429, 503)


def _check_save(save: bool, caller: Caller, saver: HistorySaver) -> None:
    # Before the upload is read: a save that cannot happen is refused at once.
    if save:
        caller.require("collection")
        saver.check_enabled()


def _predict_body() -> dict[str, Any]:
    """The multipart form, plus the photo alone as the raw body (front only)."""
    extra = multipart_body(
        {
            "front": ("Photo of the front (JPEG, PNG, WebP or HEIC).", False, True),
            "back": ("Photo of the back of the same piece.", False, False),
        }
    )
    raw = {"schema": {"type": "string", "format": "binary"}}
    extra["requestBody"]["content"].update(dict.fromkeys(sorted(RAW_PHOTO_TYPES), raw))
    aliases = ", ".join(sorted(RAW_PHOTO_ALIASES))
    extra["requestBody"]["description"] = (
        "A multipart form (front, optional back), or the front photo alone as the request "
        f"body. Besides the types listed, a raw body may be sent as {aliases} "
        f"or {UNTYPED_BODY}: the format is told from the bytes in every case (a multipart "
        "part's own Content-Type is not read either), and a body that is not JPEG, PNG, "
        "WebP or HEIC is 415 unsupported_media_type."
    )
    return extra


def _json(model: PredictResponse | BatchResponse) -> Response:
    # Serialised straight from the model: FastAPI would validate the response once more.
    return Response(model.model_dump_json(), media_type="application/json")


def _model_ref(classifier: AmuletClassifier) -> ModelRef:
    return ModelRef(name=classifier.name, version=classifier.version)


def _timing(request: Request, decode_s: float, inference_s: float, locate_s: float) -> Timing:
    started = getattr(request.state, "started", None)
    total = time.perf_counter() - started if isinstance(started, float) else 0.0
    return Timing(
        decode=round(decode_s * 1000.0, 3),
        locate=round(locate_s * 1000.0, 3),
        inference=round(inference_s * 1000.0, 3),
        total=round(total * 1000.0, 3),
    )


@router.post(
    "/predict", response_model=PredictResponse, responses=_ERRORS, openapi_extra=_predict_body()
)
async def predict(
    request: Request,
    caller: PredictCallerDep,
    classifier: AdmittedModelDep,
    service: PredictionServiceDep,
    forms: PredictFormsDep,
    saver: SaverDep,
    settings: SettingsDep,
    top_k: TopK = 3,
    explain: Explain = False,
    save: Save = False,
    locate: Locate = None,
    mask: Mask = False,
) -> Response:
    """Classify a front photo, or a front and back pair of one piece."""
    _check_save(save, caller, saver)
    form = await read_upload(request, forms.single, raw_field="front")
    history_id = None
    try:
        front = form.one("front")
        back = form.one("back")
        assert front is not None  # required by the form rules
        outcome = await service.predict(
            classifier,
            front.content,
            back.content if back is not None else None,
            top_k=top_k,
            explain=explain,
            owner=caller.owner,
            locate=locate or settings.locate,
            mask=mask,
        )
        if save:
            history_id = await saver.save(
                caller.owner,
                outcome.classification,
                classifier,
                front.content,
                back.content if back is not None else None,
                front.filename,
            )
    finally:
        form.close()
    request.state.cached = outcome.cached
    body = PredictResponse.model_construct(
        **dict(outcome.classification),
        request_id=request.state.request_id,
        model=_model_ref(classifier),
        cached=outcome.cached,
        timing_ms=_timing(request, outcome.decode_s, outcome.inference_s, outcome.locate_s),
        history_id=history_id,
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
    caller: PredictCallerDep,
    classifier: AdmittedModelDep,
    service: PredictionServiceDep,
    forms: PredictFormsDep,
    saver: SaverDep,
    settings: SettingsDep,
    top_k: TopK = 3,
    explain: Explain = False,
    save: Save = False,
    locate: Locate = None,
    mask: Mask = False,
) -> Response:
    """Classify several independent photos; a bad or oversized file gets its own error entry."""
    _check_save(save, caller, saver)
    form = await read_form(request, forms.batch)
    history_ids: list[int | None] = []
    try:
        entries = form.entries("files")
        files = form.all("files")
        outcome = await service.predict_batch(
            classifier,
            [f.content for f in files],
            top_k=top_k,
            explain=explain,
            owner=caller.owner,
            locate=locate or settings.locate,
            mask=mask,
        )
        for upload, found in zip(files, outcome.items, strict=True):
            saved = None
            if save and isinstance(found, Classification):
                saved = await saver.save(
                    caller.owner, found, classifier, upload.content, None, upload.filename
                )
            history_ids.append(saved)
    finally:
        form.close()
    # The photos that were read, in order, with their verdict, cache hit and history id.
    answers = iter(zip(outcome.items, outcome.cached, history_ids, strict=True))
    items = []
    for i, entry in enumerate(entries):
        if isinstance(entry, RejectedFile):
            items.append(_item(i, entry.filename, entry.error))
            continue
        found, hit, history_id = next(answers)
        item = _item(i, entry.filename, found)
        item.cached = hit
        item.history_id = history_id
        items.append(item)
    request.state.cached = bool(files) and len(files) == len(entries) and all(outcome.cached)
    body = BatchResponse(
        request_id=request.state.request_id,
        model=_model_ref(classifier),
        results=items,
        timing_ms=_timing(request, outcome.decode_s, outcome.inference_s, outcome.locate_s),
    )
    return _json(body)
