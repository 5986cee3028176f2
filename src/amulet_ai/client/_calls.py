"""The API's routes as request descriptions, shared by the sync and the async client.

Each :class:`Call` says what to send and which schema the answer must fit; the clients only
differ in how they send it. Parsing turns a 2xx body into the API's own pydantic model and
anything else into the typed exception for the API's error code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from amulet_ai.api.saved_schemas import (
    FeedbackBody,
    FeedbackRequest,
    HistoryPage,
    PieceBody,
    PiecePage,
    PieceUpdate,
)
from amulet_ai.api.schemas import (
    BatchResponse,
    ClassesResponse,
    HealthReport,
    ModelInfo,
    PredictResponse,
)
from amulet_ai.api.types_schemas import EnrolResponse, SimilarResponse, TypeList
from amulet_ai.client._errors import error_from_response
from amulet_ai.client._uploads import UploadSource, read_upload
from amulet_ai.errors import UpstreamUnavailable
from amulet_ai.model.results import LocateMode

M = TypeVar("M", bound=BaseModel)

MultipartFiles = list[tuple[str, tuple[str, bytes, str]]]


class Deleted(BaseModel):
    """A ``204 No Content`` answer: the thing is gone."""


class Photo(BaseModel):
    """A kept photo as the API sends it (JPEG bytes)."""

    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Call(Generic[M]):
    """One request to the API and the schema of its answer."""

    method: str
    path: str
    schema: type[M]
    params: dict[str, Any] = field(default_factory=dict)
    files: MultipartFiles | None = None
    # Text parts of a multipart form (name, notes) sent next to ``files``.
    data: dict[str, str] | None = None
    # A JSON body (feedback, a piece's update).
    json: dict[str, Any] | None = None
    # Extra headers of this one request (a page forwarding its visitor's X-Forwarded-For).
    headers: dict[str, str] = field(default_factory=dict)
    # Statuses whose body is still the schema (``/health`` answers 503 with its report).
    body_statuses: frozenset[int] = frozenset()

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.params:
            kwargs["params"] = self.params
        if self.files is not None:
            kwargs["files"] = self.files
        if self.data:
            kwargs["data"] = self.data
        if self.json is not None:
            kwargs["json"] = self.json
        if self.headers:
            kwargs["headers"] = self.headers
        return kwargs

    def parse(self, response: httpx.Response) -> M:
        """The answer as :attr:`schema`, or the typed error the API reported."""
        if not response.is_success:
            if response.status_code in self.body_statuses:
                try:
                    return self.schema.model_validate_json(response.content)
                except ValidationError:
                    pass
            raise error_from_response(response)
        try:
            if self.schema is Deleted and response.status_code == 204:
                return self.schema.model_validate({})
            if self.schema is Photo:
                content_type = response.headers.get("content-type", "")
                if not content_type.startswith("image/"):
                    raise UpstreamUnavailable(
                        "The server's answer is not a photo.",
                        details={"status": response.status_code, "path": self.path},
                    )
                return self.schema.model_validate(
                    {"content": response.content, "content_type": content_type}
                )
            return self.schema.model_validate_json(response.content)
        except ValidationError as exc:
            # A 2xx body that is not ours: something other than the API answered.
            raise UpstreamUnavailable(
                "The server's answer is not an Amulet-AI response.",
                details={"status": response.status_code, "path": self.path},
            ) from exc


def _sides(front: UploadSource, back: UploadSource | None) -> MultipartFiles:
    files: MultipartFiles = [("front", read_upload(front, "front.jpg").as_multipart())]
    if back is not None:
        files.append(("back", read_upload(back, "back.jpg").as_multipart()))
    return files


def predict_call(
    front: UploadSource,
    back: UploadSource | None,
    *,
    top_k: int,
    explain: bool,
    save: bool = False,
    headers: Mapping[str, str] | None = None,
    locate: LocateMode | None = None,
    mask: bool = False,
) -> Call[PredictResponse]:
    files = _sides(front, back)
    params: dict[str, Any] = {"top_k": top_k, "explain": "true" if explain else "false"}
    if save:
        params["save"] = "true"
    if locate is not None:
        params["locate"] = locate
    if mask:  # sent only when asked: a request without it is as before the option
        params["mask"] = "true"
    return Call(
        "POST",
        "/v1/predict",
        PredictResponse,
        params=params,
        files=files,
        headers=dict(headers or {}),
    )


def predict_batch_call(
    sources: Sequence[UploadSource],
    *,
    top_k: int,
    explain: bool,
    locate: LocateMode | None = None,
    mask: bool = False,
) -> Call[BatchResponse]:
    if isinstance(sources, bytes | bytearray | memoryview | str):
        raise TypeError("predict_batch takes a sequence of photos, not one photo")
    files: MultipartFiles = [
        ("files", read_upload(source, f"photo_{index}.jpg").as_multipart())
        for index, source in enumerate(sources)
    ]
    params = {"top_k": top_k, "explain": "true" if explain else "false"}
    if locate is not None:
        params["locate"] = locate
    if mask:
        params["mask"] = "true"
    return Call("POST", "/v1/predict/batch", BatchResponse, params=params, files=files)


def health_call(headers: Mapping[str, str] | None = None) -> Call[HealthReport]:
    return Call(
        "GET",
        "/health",
        HealthReport,
        headers=dict(headers or {}),
        body_statuses=frozenset({503}),
    )


def classes_call(headers: Mapping[str, str] | None = None) -> Call[ClassesResponse]:
    return Call("GET", "/v1/classes", ClassesResponse, headers=dict(headers or {}))


def model_info_call(headers: Mapping[str, str] | None = None) -> Call[ModelInfo]:
    return Call("GET", "/v1/model", ModelInfo, headers=dict(headers or {}))


def _page_params(limit: int, before: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if before is not None:
        params["before"] = before
    return params


def history_call(
    limit: int, before: int | None, headers: Mapping[str, str] | None = None
) -> Call[HistoryPage]:
    params = _page_params(limit, before)
    return Call("GET", "/v1/history", HistoryPage, params=params, headers=dict(headers or {}))


def delete_history_call(item_id: int, headers: Mapping[str, str] | None = None) -> Call[Deleted]:
    return Call("DELETE", f"/v1/history/{int(item_id)}", Deleted, headers=dict(headers or {}))


def feedback_call(
    item_id: int,
    *,
    correct: bool,
    class_id: str | None,
    type_name: str | None,
    headers: Mapping[str, str] | None = None,
) -> Call[FeedbackBody]:
    # Checked here with the API's own model: a wrong combination never leaves the caller.
    body = FeedbackRequest(correct=correct, class_id=class_id, type_name=type_name)
    return Call(
        "POST",
        f"/v1/history/{int(item_id)}/feedback",
        FeedbackBody,
        json=body.model_dump(exclude_none=True),
        headers=dict(headers or {}),
    )


def history_photo_call(
    item_id: int, side: str, size: str, headers: Mapping[str, str] | None = None
) -> Call[Photo]:
    return Call(
        "GET",
        f"/v1/history/{int(item_id)}/photo",
        Photo,
        params={"side": side, "size": size},
        headers=dict(headers or {}),
    )


def create_piece_call(
    front: UploadSource,
    back: UploadSource | None,
    *,
    name: str | None,
    notes: str | None,
    confirmed_class_id: str | None,
    headers: Mapping[str, str] | None = None,
    locate: LocateMode | None = None,
) -> Call[PieceBody]:
    fields = {"name": name, "notes": notes, "confirmed_class_id": confirmed_class_id}
    data = {key: value for key, value in fields.items() if value}
    return Call(
        "POST",
        "/v1/pieces",
        PieceBody,
        params={} if locate is None else {"locate": locate},
        files=_sides(front, back),
        data=data,
        headers=dict(headers or {}),
    )


def pieces_call(
    limit: int, before: int | None, headers: Mapping[str, str] | None = None
) -> Call[PiecePage]:
    params = _page_params(limit, before)
    return Call("GET", "/v1/pieces", PiecePage, params=params, headers=dict(headers or {}))


def update_piece_call(
    piece_id: int, update: PieceUpdate, headers: Mapping[str, str] | None = None
) -> Call[PieceBody]:
    return Call(
        "PATCH",
        f"/v1/pieces/{int(piece_id)}",
        PieceBody,
        json=update.model_dump(exclude_unset=True),
        headers=dict(headers or {}),
    )


def delete_piece_call(piece_id: int, headers: Mapping[str, str] | None = None) -> Call[Deleted]:
    return Call("DELETE", f"/v1/pieces/{int(piece_id)}", Deleted, headers=dict(headers or {}))


def piece_photo_call(
    piece_id: int, side: str, size: str, headers: Mapping[str, str] | None = None
) -> Call[Photo]:
    return Call(
        "GET",
        f"/v1/pieces/{int(piece_id)}/photo/{side}",
        Photo,
        params={"size": size},
        headers=dict(headers or {}),
    )


def similar_call(
    front: UploadSource,
    back: UploadSource | None,
    *,
    limit: int,
    max_distance: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> Call[SimilarResponse]:
    params: dict[str, Any] = {"limit": limit}
    if max_distance is not None:
        params["max_distance"] = max_distance
    return Call(
        "POST",
        "/v1/similar",
        SimilarResponse,
        params=params,
        files=_sides(front, back),
        headers=dict(headers or {}),
    )


def photo_call(url: str, headers: Mapping[str, str] | None = None) -> Call[Photo]:
    # Only the API's own photo routes (a ``thumbnail_url`` it answered), never another host.
    if not url.startswith("/v1/") or "//" in url or "\\" in url:
        raise ValueError("photo takes a photo route the API answered, such as /v1/pieces/1/...")
    return Call("GET", url, Photo, headers=dict(headers or {}))


def types_call(headers: Mapping[str, str] | None = None) -> Call[TypeList]:
    return Call("GET", "/v1/types", TypeList, headers=dict(headers or {}))


def create_type_call(
    name_en: str,
    photos: Sequence[UploadSource],
    *,
    name_th: str | None,
    description: str | None,
    headers: Mapping[str, str] | None = None,
) -> Call[EnrolResponse]:
    if isinstance(photos, bytes | bytearray | memoryview | str):
        raise TypeError("create_type takes a sequence of photos, not one photo")
    files: MultipartFiles = [
        ("photos", read_upload(source, f"photo_{index}.jpg").as_multipart())
        for index, source in enumerate(photos)
    ]
    fields = {"name_en": name_en, "name_th": name_th, "description": description}
    data = {key: value for key, value in fields.items() if value}
    return Call(
        "POST", "/v1/types", EnrolResponse, files=files, data=data, headers=dict(headers or {})
    )


def delete_type_call(type_id: str, headers: Mapping[str, str] | None = None) -> Call[Deleted]:
    if not type_id.replace("_", "").isalnum():
        raise ValueError("type_id is an id from GET /v1/types, such as enrolled_3")
    return Call("DELETE", f"/v1/types/{type_id}", Deleted, headers=dict(headers or {}))
