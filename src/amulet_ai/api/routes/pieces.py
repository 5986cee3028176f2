"""``/v1/pieces``: a collector's own amulets, with their photos, notes and confirmed type.

``POST`` classifies the photos (the same path as ``/v1/predict``: the amulet located with
``locate=auto``, the owner's enrolled types among the answers) and keeps the answer with
the piece; the photos are always kept (re-encoded). Every route needs the ``collection``
scope (creating one ``predict`` too) and sees only the caller's owner's pieces.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from amulet_ai.api.deps import (
    AdmittedModelDep,
    CallerDep,
    CollectionCallerDep,
    ModelDep,
    PredictFormsDep,
    PredictionServiceDep,
    SettingsDep,
    StoreDep,
)
from amulet_ai.api.docs import error_responses, multipart_body
from amulet_ai.api.form_text import form_text
from amulet_ai.api.json_body import json_body_doc, read_json
from amulet_ai.api.routes.history import JPEG, PHOTO_HEADERS, Before, Limit, check_class_id
from amulet_ai.api.routes.predict import Locate
from amulet_ai.api.saved_schemas import (
    ModelUsed,
    PhotoSize,
    PieceBody,
    PiecePage,
    PieceUpdate,
    Side,
)
from amulet_ai.api.saving import stored_result
from amulet_ai.api.uploads import Form, read_form
from amulet_ai.errors import ValidationFailed
from amulet_ai.model.results import ClassScore
from amulet_ai.runtime.streaming import StreamedFile
from amulet_ai.store.images import KeptPhoto, keep_photo
from amulet_ai.store.models import CLASS_ID_MAX, NAME_MAX, NOTES_MAX
from amulet_ai.store.pieces import UNCHANGED, PieceRecord

router = APIRouter(prefix="/v1/pieces", tags=["pieces"])

PieceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A piece's id.")]
_ERRORS = error_responses(400, 401, 403, 404, 413, 415, 422, 429, 503)

_TEXT_FIELDS = {  # field: (its limit in characters, several lines allowed)
    "name": (NAME_MAX, False),
    "notes": (NOTES_MAX, True),
    "confirmed_class_id": (CLASS_ID_MAX, False),
}


def _text(form: Form, field: str) -> str | None:
    """A text part of the form: UTF-8, within its limit, without control characters."""
    limit, multiline = _TEXT_FIELDS[field]
    return form_text(form, field, limit=limit, multiline=multiline)


def _keep_sides(
    front: StreamedFile, back: StreamedFile | None, max_pixels: int
) -> tuple[KeptPhoto, KeptPhoto | None]:
    """Both photos re-encoded for keeping (CPU work: called on a worker thread)."""
    kept_front = keep_photo(front.read_bytes(), max_pixels=max_pixels)
    if back is None:
        return kept_front, None
    return kept_front, keep_photo(back.read_bytes(), max_pixels=max_pixels)


def _body(record: PieceRecord) -> PieceBody:
    return PieceBody(
        id=record.id,
        name=record.name,
        notes=record.notes,
        created_at=record.created_at,
        updated_at=record.updated_at,
        model=ModelUsed(name=record.model_name, version=record.model_version),
        top1=ClassScore.model_validate(record.result["top1"]),
        status=record.result.get("status", "ok"),
        confirmed_class_id=record.confirmed_class_id,
        photos=list(record.photos),
        thumbnail_url=f"/v1/pieces/{record.id}/photo/front?size=thumb",
        result=record.result,
    )


@router.post(
    "",
    status_code=201,
    response_model=PieceBody,
    responses=_ERRORS,
    openapi_extra=multipart_body(
        {
            "front": ("Photo of the front (JPEG, PNG, WebP or HEIC).", False, True),
            "back": ("Photo of the back.", False, False),
            "name": (f"What the owner calls it (text, at most {NAME_MAX}).", False, False),
            "notes": (f"Free notes (text, at most {NOTES_MAX}).", False, False),
            "confirmed_class_id": ("The type the owner knows it is.", False, False),
        }
    ),
)
async def create_piece(
    request: Request,
    caller: CallerDep,
    classifier: AdmittedModelDep,
    service: PredictionServiceDep,
    forms: PredictFormsDep,
    store: StoreDep,
    settings: SettingsDep,
    locate: Locate = None,
) -> JSONResponse:
    """Add a piece: its photos are classified, as ``/v1/predict`` would, and kept with the
    answer."""
    caller.require("collection")
    caller.require("predict")
    form = await read_form(request, forms.piece)
    try:
        name, notes = _text(form, "name"), _text(form, "notes")
        confirmed = _text(form, "confirmed_class_id")
        check_class_id(classifier, confirmed)
        front, back = form.one("front"), form.one("back")
        assert front is not None  # required by the form rules
        outcome = await service.predict(
            classifier,
            front.content,
            back.content if back else None,
            top_k=3,
            explain=False,
            owner=caller.owner,
            locate=locate or settings.locate,
        )
        kept = await asyncio.to_thread(
            _keep_sides, front.content, back.content if back else None, classifier.max_pixels
        )
    finally:
        form.close()
    create = partial(
        store.pieces.create,
        caller.owner,
        name=name or outcome.classification.top1.name_en,
        notes=notes or "",
        front=kept[0],
        back=kept[1],
        result=stored_result(outcome.classification),
        model=(classifier.name, classifier.version),
        confirmed_class_id=confirmed,
    )
    record = await asyncio.to_thread(create)
    return JSONResponse(_body(record).model_dump(mode="json"), status_code=201)


@router.get("", response_model=PiecePage, responses=_ERRORS)
async def list_pieces(
    caller: CollectionCallerDep, store: StoreDep, limit: Limit = 20, before: Before = None
) -> PiecePage:
    """The caller's pieces, newest first, a page at a time."""
    page = await asyncio.to_thread(store.pieces.page, caller.owner, limit=limit, before=before)
    return PiecePage(items=[_body(r) for r in page.items], next_before=page.next_before)


@router.get("/{piece_id}", response_model=PieceBody, responses=_ERRORS)
async def get_piece(piece_id: PieceId, caller: CollectionCallerDep, store: StoreDep) -> PieceBody:
    """One piece."""
    return _body(await asyncio.to_thread(store.pieces.get, caller.owner, piece_id))


@router.patch(
    "/{piece_id}",
    response_model=PieceBody,
    responses=_ERRORS,
    openapi_extra=json_body_doc(PieceUpdate),
)
async def update_piece(
    piece_id: PieceId,
    request: Request,
    caller: CollectionCallerDep,
    store: StoreDep,
    classifier: ModelDep,
) -> PieceBody:
    """Change the name, the notes or the confirmed type (``null`` clears it)."""
    body = await read_json(request, PieceUpdate)  # once the key has passed
    given = body.model_fields_set
    if "name" in given and body.name is None:
        raise ValidationFailed("name: cannot be null.", details={"field": "name"})
    check_class_id(classifier, body.confirmed_class_id)
    update = partial(
        store.pieces.update,
        caller.owner,
        piece_id,
        name=body.name,
        notes=body.notes,
        confirmed_class_id=body.confirmed_class_id if "confirmed_class_id" in given else UNCHANGED,
    )
    record = await asyncio.to_thread(update)
    return _body(record)


@router.delete("/{piece_id}", status_code=204, responses=_ERRORS)
async def delete_piece(piece_id: PieceId, caller: CollectionCallerDep, store: StoreDep) -> Response:
    """Delete a piece and its photos."""
    await asyncio.to_thread(store.pieces.delete, caller.owner, piece_id)
    return Response(status_code=204)


@router.get("/{piece_id}/photo/{side}", response_class=Response, responses={**JPEG, **_ERRORS})
async def piece_photo(
    piece_id: PieceId,
    side: Side,
    caller: CollectionCallerDep,
    store: StoreDep,
    size: Annotated[PhotoSize, Query(description="thumb: 256 px; full: 1024 px.")] = "thumb",
) -> Response:
    """A photo of a piece."""
    data = await asyncio.to_thread(store.pieces.photo, caller.owner, piece_id, side, size)
    return Response(data, media_type="image/jpeg", headers=PHOTO_HEADERS)
