"""Wire models of enrolled types and similarity search (``/v1/types``, ``/v1/similar``).

Example::

    >>> Rejected(index=2, filename="x.jpg", reason="unreadable", message="Not an image.").reason
    'unreadable'
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from amulet_ai.model.results import ClassificationStatus, PhotoLocation, Source

RejectReason = Literal[
    "unreadable", "duplicate", "no_amulet", "too_small", "too_blurred", "not_an_amulet"
]


class Rejected(BaseModel):
    """A photo that was not enrolled, and why."""

    index: int = Field(description="Position among the request's photos, from 0.")
    filename: str | None = None
    reason: RejectReason = Field(
        description="unreadable: not a photo that can be decoded; duplicate: the same file "
        "twice; no_amulet, too_small, too_blurred: the photo's location status, a photo a "
        "prediction could not judge either (no amulet found on it; the amulet has too few "
        "pixels; too little detail), only with AMULET_LOCATE=auto; not_an_amulet: far "
        "from every known amulet photo (the six types and the enrolled ones)."
    )
    message: str = Field(
        description="What is wrong, in English; for a location status, how to take the photo again."
    )


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
    status: ClassificationStatus = Field(
        "ok",
        description="ok when every photo sent could be judged, else the first one's location "
        "status (the front's, then the back's), as a prediction's status: the results are "
        "still answered, from the whole photo, but they compare a photo without a judged "
        "amulet on it.",
    )
    locations: list[PhotoLocation] = Field(
        default_factory=list,
        description="Where the amulet was found on each photo sent, the front first (empty "
        "only from older servers).",
    )
