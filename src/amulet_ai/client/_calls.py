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

from amulet_ai.api.schemas import (
    BatchResponse,
    ClassesResponse,
    HealthReport,
    ModelInfo,
    PredictResponse,
)
from amulet_ai.client._errors import error_from_response
from amulet_ai.client._uploads import UploadSource, read_upload
from amulet_ai.errors import UpstreamUnavailable

M = TypeVar("M", bound=BaseModel)

MultipartFiles = list[tuple[str, tuple[str, bytes, str]]]


@dataclass(frozen=True, slots=True)
class Call(Generic[M]):
    """One request to the API and the schema of its answer."""

    method: str
    path: str
    schema: type[M]
    params: dict[str, Any] = field(default_factory=dict)
    files: MultipartFiles | None = None
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
            return self.schema.model_validate_json(response.content)
        except ValidationError as exc:
            # A 2xx body that is not ours: something other than the API answered.
            raise UpstreamUnavailable(
                "The server's answer is not an Amulet-AI response.",
                details={"status": response.status_code, "path": self.path},
            ) from exc


def predict_call(
    front: UploadSource,
    back: UploadSource | None,
    *,
    top_k: int,
    explain: bool,
    headers: Mapping[str, str] | None = None,
) -> Call[PredictResponse]:
    files: MultipartFiles = [("front", read_upload(front, "front.jpg").as_multipart())]
    if back is not None:
        files.append(("back", read_upload(back, "back.jpg").as_multipart()))
    params = {"top_k": top_k, "explain": "true" if explain else "false"}
    return Call(
        "POST",
        "/v1/predict",
        PredictResponse,
        params=params,
        files=files,
        headers=dict(headers or {}),
    )


def predict_batch_call(
    sources: Sequence[UploadSource], *, top_k: int, explain: bool
) -> Call[BatchResponse]:
    if isinstance(sources, bytes | bytearray | memoryview | str):
        raise TypeError("predict_batch takes a sequence of photos, not one photo")
    files: MultipartFiles = [
        ("files", read_upload(source, f"photo_{index}.jpg").as_multipart())
        for index, source in enumerate(sources)
    ]
    params = {"top_k": top_k, "explain": "true" if explain else "false"}
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
