"""Wire models of saved work: history, feedback and pieces (``/v1/history``, ``/v1/pieces``).

Every text a caller sends has a length limit here (the same limits as the database
columns); text with control characters (NUL included) is refused, so nothing reaches the
database that it would reject.

Example::

    >>> FeedbackRequest.model_validate({"correct": False, "class_id": "waek_man"}).class_id
    'waek_man'
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator

from amulet_ai.model.results import ClassificationStatus, ClassScore
from amulet_ai.store.models import CLASS_ID_MAX, NAME_MAX, NOTES_MAX, TYPE_NAME_MAX

Side = Literal["front", "back"]
PhotoSize = Literal["thumb", "full"]

_ALLOWED_CONTROLS = frozenset("\n\r\t")


def clean_text(value: str, *, multiline: bool = False) -> str:
    """``value`` stripped; ``ValueError`` when it holds control characters.

    >>> clean_text("  Somdej  ")
    'Somdej'
    >>> clean_text("a\\x00b")
    Traceback (most recent call last):
    ...
    ValueError: control characters are not allowed
    """
    allowed = _ALLOWED_CONTROLS if multiline else frozenset()
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value):
        raise ValueError("control characters are not allowed")
    return value.strip()


def _line(value: str) -> str:
    cleaned = clean_text(value)
    if not cleaned:
        raise ValueError("must not be blank")
    return cleaned


def _lines(value: str) -> str:
    return clean_text(value, multiline=True)


Line = Annotated[str, AfterValidator(_line)]
Lines = Annotated[str, AfterValidator(_lines)]


class ModelUsed(BaseModel):
    """The model that gave a saved answer."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str


class FeedbackRequest(BaseModel):
    """``POST /v1/history/{id}/feedback``: the answer was right, or what it should have been.

    ``{"correct": true}``, ``{"correct": false, "class_id": "<a class>"}`` or
    ``{"correct": false, "type_name": "<another type, free text>"}``.
    """

    model_config = ConfigDict(extra="forbid")

    correct: StrictBool
    class_id: Line | None = Field(None, min_length=1, max_length=CLASS_ID_MAX)
    type_name: Line | None = Field(None, min_length=1, max_length=TYPE_NAME_MAX)

    @model_validator(mode="after")
    def _one_answer(self) -> FeedbackRequest:
        given = [name for name in ("class_id", "type_name") if getattr(self, name)]
        if self.correct and given:
            raise ValueError("with correct: true, send neither class_id nor type_name")
        if not self.correct and len(given) != 1:
            raise ValueError("with correct: false, send exactly one of class_id or type_name")
        return self


class FeedbackBody(BaseModel):
    """The feedback kept for a history item."""

    correct: bool
    class_id: str | None = None
    type_name: str | None = None
    updated_at: datetime


class HistoryEntry(BaseModel):
    """One saved check, as the history list shows it."""

    model_config = ConfigDict(protected_namespaces=())

    id: int
    created_at: datetime
    model: ModelUsed
    top1: ClassScore
    is_unknown: bool
    status: ClassificationStatus = Field(
        "ok",
        description="The saved answer's status: ok, or why its photo was not judged "
        "(no_amulet, too_small, too_blurred; then is_unknown is true and no type is named).",
    )
    filename: str | None = None
    has_back: bool = Field(description="The check had a back photo.")
    photos: list[Side] = Field(
        description="Sides whose photo is kept (none with AMULET_HISTORY=results)."
    )
    thumbnail_url: str | None = Field(None, examples=["/v1/history/12/photo?size=thumb"])
    feedback: FeedbackBody | None = None


class HistoryItemBody(HistoryEntry):
    """``GET /v1/history/{id}``: the entry and the whole answer it saved."""

    result: dict[str, Any] = Field(description="The classification as it was answered.")


class HistoryPage(BaseModel):
    """``GET /v1/history``: newest first; pass ``next_before`` as ``before`` for more."""

    items: list[HistoryEntry]
    next_before: int | None = Field(None, description="None: this is the last page.")


class PieceUpdate(BaseModel):
    """``PATCH /v1/pieces/{id}``: any of these; ``confirmed_class_id: null`` clears it."""

    model_config = ConfigDict(extra="forbid")

    name: Line | None = Field(None, min_length=1, max_length=NAME_MAX)
    notes: Lines | None = Field(None, max_length=NOTES_MAX)
    confirmed_class_id: Line | None = Field(None, min_length=1, max_length=CLASS_ID_MAX)


class PieceBody(BaseModel):
    """A collector's piece: its photos, name, notes, the answer it got and a confirmed type."""

    model_config = ConfigDict(protected_namespaces=())

    id: int
    name: str
    notes: str
    created_at: datetime
    updated_at: datetime
    model: ModelUsed
    top1: ClassScore
    status: ClassificationStatus = Field(
        "ok", description="The saved answer's status, as in a history entry."
    )
    confirmed_class_id: str | None = None
    photos: list[Side]
    thumbnail_url: str = Field(examples=["/v1/pieces/3/photo/front?size=thumb"])
    result: dict[str, Any] = Field(description="The classification it got when saved.")


class PiecePage(BaseModel):
    """``GET /v1/pieces``: newest first; pass ``next_before`` as ``before`` for more."""

    items: list[PieceBody]
    next_before: int | None = None
