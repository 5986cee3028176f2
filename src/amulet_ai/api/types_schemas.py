"""Wire models of enrolled types and similarity search (``/v1/types``, ``/v1/similar``).

Example::

    >>> Rejected(index=2, filename="x.jpg", reason="unreadable", message="Not an image.").reason
    'unreadable'
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from amulet_ai.model.results import Source

RejectReason = Literal["unreadable", "not_an_amulet", "duplicate"]


class Rejected(BaseModel):
    """A photo that was not enrolled, and why."""

    index: int = Field(description="Position among the request's photos, from 0.")
    filename: str | None = None
    reason: RejectReason = Field(
        description="unreadable: not a photo that can be decoded; not_an_amulet: far from "
        "every known amulet photo (the six types and the enrolled ones); duplicate: the same "
        "file twice."
    )
    message: str


class TypeBody(BaseModel):
    """A type: one of the model's six, or an enrolled one."""

    type_id: str = Field(
        examples=["enrolled_12"],
        description="The id predictions name it by (class_id); enrolled_<n> for enrolled types.",
    )
    source: Source
    name_en: str
    name_th: str
    description: str = ""
    photos: int | None = Field(
        None, description="Enrolled photos (enrolled types); training photos (model types)."
    )
    published: bool = Field(False, description="Shown to every owner (set by an admin).")
    mine: bool = Field(False, description="Enrolled by the caller's owner.")
    created_at: datetime | None = None
    thumbnail_url: str | None = None
    photo_urls: list[str] = Field(default_factory=list)


class TypeList(BaseModel):
    """The six model types, then the enrolled ones the caller sees, oldest first."""

    items: list[TypeBody]


class EnrolResponse(TypeBody):
    """A type after enrolment or added photos, with the photos that were refused."""

    rejected: list[Rejected] = Field(default_factory=list)


class PublishRequest(BaseModel):
    published: bool


class SimilarHit(BaseModel):
    """One of the owner's photos and its distance to the photo sent."""

    kind: Literal["piece", "history", "type"]
    id: str = Field(description="The piece's, the history item's or the type's id.")
    side: Literal["front", "back"] | None = None
    photo_id: int
    distance: float = Field(
        description="sqrt(||a - b||^2 / D) between embeddings, the unknown score's scale."
    )
    thumbnail_url: str


class SimilarResponse(BaseModel):
    request_id: str
    results: list[SimilarHit]
    searched: int = Field(description="How many of the owner's photos were compared.")
    search_ms: float = Field(description="Time of the search itself (numpy, exact).")
