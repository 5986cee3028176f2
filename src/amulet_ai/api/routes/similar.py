"""``POST /v1/similar``: the caller's own photos closest to a photo (exact search, numpy).

Searches the photos of the caller's pieces, of their history items (where photos are kept)
and of their enrolled types, by the distance between embeddings (the unknown score's
scale). Each hit names what the photo belongs to and where its thumbnail is. Needs the
``collection`` and ``predict`` scopes.

A photo that a prediction could not judge (no amulet found on it, too small, too blurred)
is searched all the same, from the picture a prediction would classify; the answer's
``status`` and ``locations`` say so, with the codes of a prediction's ``status`` and
``location``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from amulet_ai.api.deps import (
    AdmittedModelDep,
    CollectionCallerDep,
    PredictFormsDep,
    PredictionServiceDep,
)
from amulet_ai.api.docs import error_responses, multipart_body
from amulet_ai.api.form_text import form_text
from amulet_ai.api.types_schemas import SimilarHit, SimilarResponse
from amulet_ai.api.uploads import read_form
from amulet_ai.errors import ValidationFailed
from amulet_ai.serving.locating import answer_status
from amulet_ai.serving.owner_indexes import ENROLLED_PREFIX
from amulet_ai.store.collection import PhotoRef

router = APIRouter(prefix="/v1", tags=["similar"])

MAX_LIMIT = 100
_ERRORS = error_responses(400, 401, 403, 413, 415, 422, 429, 503)


def _thumbnail(ref: PhotoRef) -> str:
    if ref.kind == "piece":
        return f"/v1/pieces/{ref.item_id}/photo/{ref.side}?size=thumb"
    if ref.kind == "history":
        return f"/v1/history/{ref.item_id}/photo?side={ref.side}&size=thumb"
    return f"/v1/types/{ENROLLED_PREFIX}{ref.item_id}/photos/{ref.photo_id}?size=thumb"


def _hit(ref: PhotoRef, distance: float) -> SimilarHit:
    item_id = f"{ENROLLED_PREFIX}{ref.item_id}" if ref.kind == "type" else str(ref.item_id)
    return SimilarHit(
        kind=ref.kind,
        id=item_id,
        side=ref.side,
        photo_id=ref.photo_id,
        distance=round(distance, 4),
        thumbnail_url=_thumbnail(ref),
    )


def _limit(text: str | None, default: int | None) -> int:
    if text is None:
        return default or 10
    try:
        value = int(text)
    except ValueError:
        raise ValidationFailed("limit: a whole number.", details={"field": "limit"}) from None
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailed(f"limit: 1 to {MAX_LIMIT}.", details={"field": "limit"})
    return value


@router.post(
    "/similar",
    response_model=SimilarResponse,
    responses=_ERRORS,
    openapi_extra=multipart_body(
        {
            "front": ("Photo of the front (JPEG, PNG, WebP or HEIC).", False, True),
            "back": ("Photo of the back of the same piece.", False, False),
            "limit": (f"How many photos to answer (1 to {MAX_LIMIT}, default 10).", False, False),
        }
    ),
)
async def similar(
    request: Request,
    caller: CollectionCallerDep,
    classifier: AdmittedModelDep,
    service: PredictionServiceDep,
    forms: PredictFormsDep,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="As the form field.")
    ] = None,
) -> SimilarResponse:
    """The caller's pieces, history and enrolled-type photos most like this one."""
    caller.require("predict")  # it runs the model on the photo sent
    form = await read_form(request, forms.similar)
    try:
        count = _limit(form_text(form, "limit", limit=8), limit)
        photos = [u.content for u in (form.one("front"), form.one("back")) if u is not None]
        outcome = await service.similar(classifier, caller.owner, photos, limit=count)
    finally:
        form.close()
    return SimilarResponse(
        request_id=request.state.request_id,
        results=[_hit(ref, d) for ref, d in outcome.hits],
        searched=outcome.searched,
        search_ms=round(outcome.search_s * 1000.0, 3),
        status=answer_status(outcome.locations),
        locations=outcome.locations,
    )
