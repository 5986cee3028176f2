"""``/v1/types``: the six model types and the caller's own enrolled types.

``POST /v1/types`` enrols a type from 3 to 50 photos (fronts and backs alike); from then on
the owner's predictions consider it (:mod:`amulet_ai.model.enrolment`). A photo that cannot
be used is listed in ``rejected`` with its reason, never dropped silently; fewer than three
usable photos is 422. A photo is seen as predictions see it (``AMULET_LOCATE``): one whose
amulet a prediction could not judge (``no_amulet``, ``too_small``, ``too_blurred``) would
never be found again, so it is refused with that status as its reason and how to retake it.
Types are the owner's alone unless an admin publishes them. Every route needs the
``collection`` scope (enrolling ``predict`` too, as it runs the model).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from amulet_ai.api.deps import (
    AdminDep,
    AdmittedModelDep,
    CollectionCallerDep,
    ModelDep,
    PredictFormsDep,
    PredictionServiceDep,
    StoreDep,
)
from amulet_ai.api.docs import error_responses, multipart_body
from amulet_ai.api.form_text import form_text
from amulet_ai.api.json_body import json_body_doc, read_json
from amulet_ai.api.routes.history import JPEG, PHOTO_HEADERS
from amulet_ai.api.saved_schemas import PhotoSize
from amulet_ai.api.services import MAX_TYPE_PHOTOS as MAX_PHOTOS
from amulet_ai.api.types_schemas import (
    EnrolResponse,
    PublishRequest,
    Rejected,
    RejectReason,
    TypeBody,
    TypeList,
)
from amulet_ai.api.uploads import Form, UploadedFile, read_form
from amulet_ai.errors import AmuletError, DuplicateName, NotFound, ValidationFailed
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.model.enrolment import NOT_AN_AMULET_FACTOR
from amulet_ai.serving.owner_indexes import ENROLLED_PREFIX
from amulet_ai.serving.predictor import ScoredPhoto
from amulet_ai.serving.result_cache import embedding_tag
from amulet_ai.serving.service import PredictionService
from amulet_ai.store.images import keep_photo
from amulet_ai.store.models import DESCRIPTION_MAX, TYPE_NAME_MAX
from amulet_ai.store.types import EnrolledPhoto, TypeRecord, name_key

router = APIRouter(prefix="/v1/types", tags=["types"])

MIN_PHOTOS = 3

TypeId = Annotated[
    str,
    Path(
        pattern=r"^(enrolled_)?[1-9][0-9]{0,8}$",
        description="An enrolled type's id (enrolled_12, or 12).",
    ),
]
_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
# A photo a prediction could not judge, by its location status: the reason and what to do
# (the page's retake advice, frontend/i18n.py's retake_<status>_title and retake_<status>).
UNJUDGED: dict[str, tuple[RejectReason, str]] = {
    "no_amulet": (
        "no_amulet",
        "No amulet found in this photo. Put the whole amulet in the frame, on a plain "
        "surface, and take the photo again.",
    ),
    "too_small": (
        "too_small",
        "The amulet is too small in this photo. Move closer so the amulet fills most of the "
        "frame, then take the photo again.",
    ),
    "too_blurred": (
        "too_blurred",
        "The photo is too blurred to judge. Hold the phone still and tap the amulet on the "
        "screen to focus before you take the photo; good light helps.",
    ),
}


def _number(type_id: str) -> int:
    return int(type_id.removeprefix(ENROLLED_PREFIX))


def _body(record: TypeRecord, owner: str) -> TypeBody:
    base = f"/v1/types/{ENROLLED_PREFIX}{record.id}/photos"
    urls = [f"{base}/{photo_id}?size=thumb" for photo_id in record.photo_ids]
    return TypeBody(
        type_id=f"{ENROLLED_PREFIX}{record.id}",
        source="enrolled",
        name_en=record.name_en,
        name_th=record.name_th or record.name_en,
        description=record.description,
        photos=record.photos,
        published=record.published,
        mine=record.owner == owner,
        created_at=record.created_at,
        thumbnail_url=urls[0] if urls else None,
        photo_urls=urls,
    )


def _model_types(classifier: AmuletClassifier) -> list[TypeBody]:
    per_class = classifier.metadata.data.get("per_class", {})
    return [
        TypeBody(
            type_id=c.id,
            source="model",
            name_en=c.name_en,
            name_th=c.name_th,
            description=c.description,
            photos=per_class.get(c.id),
        )
        for c in classifier.metadata.classes
    ]


def _check_name(classifier: AmuletClassifier, name_en: str) -> None:
    key = name_key(name_en)
    for c in classifier.metadata.classes:
        if key in (name_key(c.name_en), name_key(c.id)):
            raise DuplicateName(
                f"{name_en!r} is the name of one of the model's types.",
                details={"field": "name_en", "class_id": c.id},
            )


def _rejected(upload: UploadedFile, index: int, reason: RejectReason, message: str) -> Rejected:
    return Rejected(index=index, filename=upload.filename, reason=reason, message=message)


async def _usable_photos(
    uploads: list[UploadedFile],
    classifier: AmuletClassifier,
    service: PredictionService,
    owner: str,
    minimum: int,
) -> tuple[list[EnrolledPhoto], list[Rejected]]:
    """Score, check and keep each photo; the usable ones and the refused ones.

    Checked in this order, the first that fails names the reason: the photo decodes, it is
    not sent twice, its amulet was judged where it was found (:data:`UNJUDGED`), it is
    within ``NOT_AN_AMULET_FACTOR`` times the unknown threshold of a known photo.

    Raises:
        ValidationFailed: fewer than ``minimum`` photos were sent, or are usable.
    """
    if len(uploads) < minimum:
        raise ValidationFailed(
            f"photos: at least {minimum} photo{'s' if minimum > 1 else ''} needed.",
            details={"field": "photos", "min_files": minimum, "given": len(uploads)},
        )
    scored = await service.score_photos(classifier, [u.content for u in uploads])
    types = await service.enrolled_types(owner, classifier)
    limit = NOT_AN_AMULET_FACTOR * classifier.threshold
    rejected: list[Rejected] = []
    accepted: list[tuple[UploadedFile, ScoredPhoto]] = []
    seen: set[str] = set()
    for i, (upload, item) in enumerate(zip(uploads, scored, strict=True)):
        if isinstance(item, AmuletError):
            rejected.append(_rejected(upload, i, "unreadable", item.message))
            continue
        if upload.content.sha256 in seen:
            rejected.append(_rejected(upload, i, "duplicate", "The same file is sent twice."))
            continue
        seen.add(upload.content.sha256)
        if not item.location.judged:
            rejected.append(_rejected(upload, i, *UNJUDGED[item.location.status]))
            continue
        embedding = item.scores.embedding
        distance = item.scores.unknown_score
        if types.index is not None and embedding is not None and len(types.index):
            distance = min(distance, float(types.index.type_distances(embedding)[0].min()))
        if distance > limit:
            rejected.append(
                _rejected(
                    upload,
                    i,
                    "not_an_amulet",
                    f"Far from every known amulet photo (distance {distance:.2f}, "
                    f"limit {limit:.2f}).",
                )
            )
            continue
        accepted.append((upload, item))
    photos: list[EnrolledPhoto] = []
    for upload, item in accepted:
        data = upload.content.read_bytes()
        try:
            kept = await asyncio.to_thread(keep_photo, data, max_pixels=classifier.max_pixels)
        except AmuletError as exc:
            rejected.append(_rejected(upload, uploads.index(upload), "unreadable", exc.message))
            continue
        assert item.scores.embedding is not None  # score_photos refuses models without one
        photos.append(EnrolledPhoto(kept, item.scores.embedding))
    rejected.sort(key=lambda r: r.index)
    if len(photos) < minimum:
        raise ValidationFailed(
            f"photos: {len(photos)} usable, at least {minimum} needed.",
            details={
                "field": "photos",
                "rejected": [r.model_dump(mode="json") for r in rejected],
            },
        )
    return photos, rejected


@router.post(
    "",
    status_code=201,
    response_model=EnrolResponse,
    responses=_ERRORS,
    openapi_extra=multipart_body(
        {
            "name_en": (f"The type's name (text, at most {TYPE_NAME_MAX}).", False, True),
            "name_th": (f"Its Thai name (text, at most {TYPE_NAME_MAX}).", False, False),
            "description": (f"What it is (text, at most {DESCRIPTION_MAX}).", False, False),
            "photos": (f"{MIN_PHOTOS} to {MAX_PHOTOS} photos, fronts and backs.", True, True),
        }
    ),
)
async def create_type(
    request: Request,
    caller: CollectionCallerDep,
    classifier: AdmittedModelDep,
    service: PredictionServiceDep,
    forms: PredictFormsDep,
    store: StoreDep,
) -> JSONResponse:
    """Enrol a new type from photos; predictions consider it from now on."""
    caller.require("predict")
    form: Form = await read_form(request, forms.types)
    try:
        name_en = form_text(form, "name_en", limit=TYPE_NAME_MAX)
        if name_en is None:
            raise ValidationFailed("name_en: field required.", details={"field": "name_en"})
        name_th = form_text(form, "name_th", limit=TYPE_NAME_MAX)
        description = form_text(form, "description", limit=DESCRIPTION_MAX, multiline=True)
        _check_name(classifier, name_en)
        photos, rejected = await _usable_photos(
            form.all("photos"), classifier, service, caller.owner, MIN_PHOTOS
        )
    finally:
        form.close()
    tag = embedding_tag(classifier, service.locate)
    record = await asyncio.to_thread(
        lambda: store.types.create(
            caller.owner,
            name_en=name_en,
            name_th=name_th,
            description=description or "",
            photos=photos,
            model=tag,
        )
    )
    body = EnrolResponse(**dict(_body(record, caller.owner)), rejected=rejected)
    return JSONResponse(body.model_dump(mode="json"), status_code=201)


@router.get("", response_model=TypeList, responses=_ERRORS)
async def list_types(
    caller: CollectionCallerDep, store: StoreDep, classifier: ModelDep
) -> TypeList:
    """The six model types, then the caller's enrolled types and the published ones."""
    records = await asyncio.to_thread(store.types.visible, caller.owner)
    items = _model_types(classifier) + [_body(r, caller.owner) for r in records]
    return TypeList(items=items)


@router.get("/{type_id}", response_model=TypeBody, responses=_ERRORS)
async def get_type(type_id: TypeId, caller: CollectionCallerDep, store: StoreDep) -> TypeBody:
    """One enrolled type the caller sees."""
    record = await asyncio.to_thread(store.types.get, caller.owner, _number(type_id))
    return _body(record, caller.owner)


@router.post(
    "/{type_id}/photos",
    response_model=EnrolResponse,
    responses=_ERRORS,
    openapi_extra=multipart_body({"photos": (f"1 to {MAX_PHOTOS} more photos.", True, True)}),
)
async def add_type_photos(
    type_id: TypeId,
    request: Request,
    caller: CollectionCallerDep,
    classifier: AdmittedModelDep,
    service: PredictionServiceDep,
    forms: PredictFormsDep,
    store: StoreDep,
) -> EnrolResponse:
    """Add photos to one of the caller's types."""
    caller.require("predict")
    number = _number(type_id)
    record = await asyncio.to_thread(store.types.get, caller.owner, number)
    if record.owner != caller.owner:
        raise NotFound("No such type.")
    if record.photos >= MAX_PHOTOS:
        raise ValidationFailed(f"photos: a type holds at most {MAX_PHOTOS} photos.")
    form = await read_form(request, forms.type_photos)
    try:
        uploads = form.all("photos")
        if record.photos + len(uploads) > MAX_PHOTOS:
            raise ValidationFailed(
                f"photos: a type holds at most {MAX_PHOTOS} photos ({record.photos} now).",
                details={"field": "photos", "max_files": MAX_PHOTOS - record.photos},
            )
        photos, rejected = await _usable_photos(uploads, classifier, service, caller.owner, 1)
    finally:
        form.close()
    tag = embedding_tag(classifier, service.locate)
    updated = await asyncio.to_thread(store.types.add_photos, caller.owner, number, photos, tag)
    return EnrolResponse(**dict(_body(updated, caller.owner)), rejected=rejected)


@router.delete("/{type_id}", status_code=204, responses=_ERRORS)
async def delete_type(type_id: TypeId, caller: CollectionCallerDep, store: StoreDep) -> Response:
    """Delete one of the caller's types with its photos; predictions forget it at once."""
    await asyncio.to_thread(store.types.delete, caller.owner, _number(type_id))
    return Response(status_code=204)


@router.get("/{type_id}/photos/{photo_id}", response_class=Response, responses={**JPEG, **_ERRORS})
async def type_photo(
    type_id: TypeId,
    photo_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    caller: CollectionCallerDep,
    store: StoreDep,
    size: Annotated[PhotoSize, Query(description="thumb: 256 px; full: 1024 px.")] = "thumb",
) -> Response:
    """A photo of a type the caller sees."""
    data = await asyncio.to_thread(
        store.types.photo, caller.owner, _number(type_id), photo_id, size
    )
    return Response(data, media_type="image/jpeg", headers=PHOTO_HEADERS)


@router.put(
    "/{type_id}/published",
    response_model=TypeBody,
    responses=_ERRORS,
    openapi_extra=json_body_doc(PublishRequest),
)
async def publish_type(
    type_id: TypeId, request: Request, admin: AdminDep, store: StoreDep
) -> TypeBody:
    """Publish an enrolled type to every owner, or take it back (admin)."""
    body = await read_json(request, PublishRequest)  # once the admin key has passed
    record = await asyncio.to_thread(store.types.set_published, _number(type_id), body.published)
    return _body(record, record.owner)
