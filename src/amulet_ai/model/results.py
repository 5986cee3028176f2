"""What a classification returns: the shapes the API, the client and the page share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["model", "enrolled"]


class ClassScore(BaseModel):
    """One known type and its probability: one of the model's, or an enrolled type."""

    class_id: str = Field(examples=["somdej_pratanporn_buddhagavak"])
    name_en: str = Field(examples=["Somdej Pratanporn, Buddhagavak material"])
    name_th: str = Field(examples=["พระสมเด็จประธานพร เนื้อพุทธกวัก"])
    probability: float = Field(ge=0.0, le=1.0, examples=[0.93])
    source: Source = Field(
        "model",
        description="model: one of GET /v1/classes; enrolled: a type enrolled with "
        "POST /v1/types (class_id is then enrolled_<type_id>).",
    )


class UnknownVerdict(BaseModel):
    """Whether the photo looks like none of the known types.

    ``score`` grows with how unlike the known types the photo is; ``is_unknown`` is
    ``score > threshold``.
    """

    is_unknown: bool = Field(examples=[False])
    score: float = Field(examples=[18.2])
    threshold: float = Field(examples=[31.5])


class PhotoResult(BaseModel):
    """The verdict on one photo (front or back)."""

    predictions: list[ClassScore]
    unknown: UnknownVerdict
    width: int = Field(examples=[3024])
    height: int = Field(examples=[4032])
    format: str = Field(examples=["JPEG"])


class SideResults(BaseModel):
    front: PhotoResult
    back: PhotoResult | None = None


class Classification(BaseModel):
    """The verdict on a front photo, or on a front and back pair fused together."""

    top1: ClassScore
    predictions: list[ClassScore]
    unknown: UnknownVerdict
    images: SideResults
    heatmap: dict[str, str] | None = Field(
        None, description="PNG overlays as data URLs, per side, when asked for."
    )
