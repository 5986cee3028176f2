"""``/v1/history``: the caller's saved checks, their photos and the feedback on them.

Every route needs the ``collection`` scope and sees only the caller's owner: another
owner's id answers 404 ``not_found``, exactly like an id that does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from amulet_ai.api.deps import CollectionCallerDep, ModelDep, StoreDep
from amulet_ai.api.docs import error_responses
from amulet_ai.api.json_body import json_body_doc, read_json
from amulet_ai.api.saved_schemas import (
    FeedbackBody,
    FeedbackRequest,
    HistoryEntry,
    HistoryItemBody,
    HistoryPage,
    ModelUsed,
    PhotoSize,
    Side,
)
from amulet_ai.errors import UnknownClass
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.results import ClassScore
from amulet_ai.store.history import FeedbackRecord, HistoryRecord

router = APIRouter(prefix="/v1/history", tags=["history"])

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A history item's id.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Most items in one page.")]
Before = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="Only items older than this id.")
]
_ERRORS = error_responses(400, 401, 403, 404, 413, 422, 429, 503)
JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "The kept photo (JPEG)."}
}
# Photos never change under an id: a browser may keep them, but only for this user.
PHOTO_HEADERS = {"Cache-Control": "private, max-age=86400"}


def check_class_id(classifier: AmuletClassifier, class_id: str | None) -> None:
    """422 ``unknown_class`` unless ``class_id`` is None or one of the model's classes."""
    if class_id is None:
        return
    known = [c.id for c in classifier.metadata.classes]
    if class_id not in known:
        raise UnknownClass("class_id is not one of GET /v1/classes.", details={"known": known})


def _feedback(record: FeedbackRecord | None) -> FeedbackBody | None:
    if record is None:
        return None
    return FeedbackBody(
        correct=record.correct,
        class_id=record.class_id,
        type_name=record.type_name,
        updated_at=record.updated_at,
    )


def _entry_fields(record: HistoryRecord) -> dict[str, object]:
    thumb = f"/v1/history/{record.id}/photo?size=thumb" if "front" in record.photos else None
    return {
        "id": record.id,
        "created_at": record.created_at,
        "model": ModelUsed(name=record.model_name, version=record.model_version),
        "top1": ClassScore.model_validate(record.result["top1"]),
        "is_unknown": record.is_unknown,
        "status": record.result.get("status", "ok"),
        "filename": record.filename,
        "has_back": record.has_back,
        "photos": list(record.photos),
        "thumbnail_url": thumb,
        "feedback": _feedback(record.feedback),
    }


@router.get("", response_model=HistoryPage, responses=_ERRORS)
async def list_history(
    caller: CollectionCallerDep, store: StoreDep, limit: Limit = 20, before: Before = None
) -> HistoryPage:
    """The caller's saved checks, newest first, a page at a time."""
    page = await asyncio.to_thread(store.history.page, caller.owner, limit=limit, before=before)
    items = [HistoryEntry.model_validate(_entry_fields(r)) for r in page.items]
    return HistoryPage(items=items, next_before=page.next_before)


@router.get("/{item_id}", response_model=HistoryItemBody, responses=_ERRORS)
async def get_history_item(
    item_id: ItemId, caller: CollectionCallerDep, store: StoreDep
) -> HistoryItemBody:
    """One saved check with the whole answer."""
    record = await asyncio.to_thread(store.history.get, caller.owner, item_id)
    return HistoryItemBody.model_validate({**_entry_fields(record), "result": record.result})


@router.delete("/{item_id}", status_code=204, responses=_ERRORS)
async def delete_history_item(
    item_id: ItemId, caller: CollectionCallerDep, store: StoreDep
) -> Response:
    """Delete a saved check, its photos and its feedback."""
    await asyncio.to_thread(store.history.delete, caller.owner, item_id)
    return Response(status_code=204)


@router.get("/{item_id}/photo", response_class=Response, responses={**JPEG, **_ERRORS})
async def history_photo(
    item_id: ItemId,
    caller: CollectionCallerDep,
    store: StoreDep,
    size: Annotated[PhotoSize, Query(description="thumb: 256 px; full: 1024 px.")] = "thumb",
    side: Annotated[Side, Query(description="Which photo of the check.")] = "front",
) -> Response:
    """A kept photo of a saved check (404 where photos are not kept)."""
    data = await asyncio.to_thread(store.history.photo, caller.owner, item_id, side, size)
    return Response(data, media_type="image/jpeg", headers=PHOTO_HEADERS)


@router.post(
    "/{item_id}/feedback",
    response_model=FeedbackBody,
    responses=_ERRORS,
    openapi_extra=json_body_doc(FeedbackRequest),
)
async def give_feedback(
    item_id: ItemId,
    request: Request,
    caller: CollectionCallerDep,
    store: StoreDep,
    classifier: ModelDep,
) -> FeedbackBody:
    """Say the answer was right, or what it should have been; a second one replaces it."""
    body = await read_json(request, FeedbackRequest)  # once the key has passed
    check_class_id(classifier, body.class_id)
    record = await asyncio.to_thread(
        store.history.set_feedback,
        caller.owner,
        item_id,
        correct=body.correct,
        class_id=body.class_id,
        type_name=body.type_name,
    )
    feedback = _feedback(record)
    assert feedback is not None
    return feedback
