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
    class_id: str | None = Field(
        None,
        description="The class this photo stands for: a piece's confirmed class, else the one "
        "it was classified as; a history item's class as its feedback corrected it, else the "
        "one it was classified as; an enrolled type's own id. Null when the answer was not a "
        "known type (and nothing confirmed or corrected it), or the feedback named no class; "
        "absent from servers before it was added.",
        examples=["phra_sivali"],
    )
    name_en: str | None = Field(
        None,
        description="The class's English name, from the model's metadata or the enrolled "
        "type; null without a class, or for a class the model and the caller's types no "
        "longer have.",
        examples=["Phra Sivali"],
    )
    name_th: str | None = Field(
        None,
        description="The class's Thai name (an enrolled type without one: its English name).",
        examples=["พระสีวลี"],
    )
    alike: bool = Field(
        False,
        description="distance <= the response's alike_distance: within the distance at which "
        "the model still calls a photo one of its known types. Photos of one type are often "
        "farther apart than that and photos of two types sometimes closer (README, 'Similar "
        "photos', has the figures): alike means 'looks like it', not 'the same type'. False "
        "from servers before it was added.",
    )


class SimilarResponse(BaseModel):
    request_id: str
    results: list[SimilarHit]
    searched: int = Field(description="How many of the owner's photos were compared.")
    alike_distance: float | None = Field(
        None,
        description="The model's unknown threshold (metadata.json unknown.threshold): the "
        "largest unknown score at which a prediction still names a known type. A hit no "
        "farther than this is alike; send it as max_distance to receive only those. "
        "Null only from servers before it was added.",
        examples=[1.0179],
    )
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
