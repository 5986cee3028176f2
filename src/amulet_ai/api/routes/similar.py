"""``POST /v1/similar``: the caller's own photos closest to a photo (exact search, numpy).

Searches the photos of the caller's pieces, of their history items (where photos are kept)
and of their enrolled types, by the distance between embeddings (the unknown score's
scale). Each hit names what the photo belongs to, where its thumbnail is, the class it
stands for (with the class's names) and whether it is alike: no farther than the model's
unknown threshold, the distance at which a prediction still names a known type.
``max_distance`` leaves out the hits farther than it (none left out unless it is sent).
Needs the ``collection`` and ``predict`` scopes.

A photo that a prediction could not judge (no amulet found on it, too small, too blurred)
is searched all the same, from the picture a prediction would classify; the answer's
``status`` and ``locations`` say so, with the codes of a prediction's ``status`` and
``location``.
"""

from __future__ import annotations

import math
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
from amulet_ai.store.collection import ENROLLED_PREFIX, PhotoRef

router = APIRouter(prefix="/v1", tags=["similar"])

MAX_LIMIT = 100
_ERRORS = error_responses(400, 401, 403, 413, 415, 422, 429, 503)


def _thumbnail(ref: PhotoRef) -> str:
    if ref.kind == "piece":
        return f"/v1/pieces/{ref.item_id}/photo/{ref.side}?size=thumb"
    if ref.kind == "history":
        return f"/v1/history/{ref.item_id}/photo?side={ref.side}&size=thumb"
    return f"/v1/types/{ENROLLED_PREFIX}{ref.item_id}/photos/{ref.photo_id}?size=thumb"


def _hit(
    ref: PhotoRef, distance: float, names: dict[str, tuple[str, str]], alike_distance: float
) -> SimilarHit:
    item_id = f"{ENROLLED_PREFIX}{ref.item_id}" if ref.kind == "type" else str(ref.item_id)
    name_en, name_th = names.get(ref.class_id, (None, None)) if ref.class_id else (None, None)
    distance = round(distance, 4)
    return SimilarHit(
        kind=ref.kind,
        id=item_id,
        side=ref.side,
        photo_id=ref.photo_id,
        distance=distance,
        thumbnail_url=_thumbnail(ref),
        class_id=ref.class_id,
        name_en=name_en,
        name_th=name_th,
        alike=distance <= alike_distance,
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


def _max_distance(text: str | None, default: float | None) -> float | None:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValidationFailed("max_distance: a number above 0.", details={"field": "max_distance"})
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
            "max_distance": (
                "Leave out the photos farther than this (a number above 0; default: none "
                "left out). The answer's alike_distance keeps only the alike ones.",
                False,
                False,
            ),
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
    max_distance: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description="As the form field.")
    ] = None,
) -> SimilarResponse:
    """The caller's pieces, history and enrolled-type photos most like this one."""
    caller.require("predict")  # it runs the model on the photo sent
    form = await read_form(request, forms.similar)
    try:
        count = _limit(form_text(form, "limit", limit=8), limit)
        farthest = _max_distance(form_text(form, "max_distance", limit=32), max_distance)
        photos = [u.content for u in (form.one("front"), form.one("back")) if u is not None]
        outcome = await service.similar(classifier, caller.owner, photos, limit=count)
    finally:
        form.close()
    # Compared as answered (4 places), so that alike is exactly distance <= alike_distance
    # and max_distance=alike_distance keeps exactly the alike hits.
    alike = round(classifier.threshold, 4)
    hits = [_hit(ref, d, outcome.names, alike) for ref, d in outcome.hits]
    return SimilarResponse(
        request_id=request.state.request_id,
        results=[h for h in hits if farthest is None or h.distance <= farthest],
        searched=outcome.searched,
        alike_distance=alike,
        search_ms=round(outcome.search_s * 1000.0, 3),
        status=answer_status(outcome.locations),
        locations=outcome.locations,
    )
