"""What a classification returns: the shapes the API, the client and the page share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["model", "enrolled"]
# locate=auto: find the amulet on the photo and judge its crop; off: judge the whole photo.
LocateMode = Literal["auto", "off"]
LocationStatus = Literal["found", "no_amulet", "too_small", "too_blurred", "whole_photo"]
LocationMethod = Literal["localiser", "off"]
ClassificationStatus = Literal["ok", "no_amulet", "too_small", "too_blurred"]


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


class PhotoBox(BaseModel):
    """A box in pixels of the original photo after its EXIF orientation; ``image_width``
    and ``image_height`` are that oriented photo's size."""

    x: int = Field(ge=0, examples=[812])
    y: int = Field(ge=0, examples=[1020])
    width: int = Field(ge=0, examples=[1400])
    height: int = Field(ge=0, examples=[1900])
    image_width: int = Field(gt=0, examples=[3024])
    image_height: int = Field(gt=0, examples=[4032])


class PhotoMask(BaseModel):
    """The localiser's mask over the whole oriented photo, at the draft's small resolution.

    ``image`` is a 1-bit PNG of ``width`` x ``height`` pixels: white is the amulet, black
    the backdrop. It covers the same photo as the box, stretched: mask pixel ``(i, j)``
    lies over photo pixel ``(i * image_width / width, j * image_height / height)`` of the
    box's ``image_width`` x ``image_height``. The serving path scales it to the decode it
    crops from bilinear and keeps pixels of at least half; a model whose ``backdrop`` is
    ``grey_outside_mask`` (``GET /v1/model``) judges the crop with everything outside it
    neutral grey (127, 127, 127).
    """

    image: str = Field(
        examples=["data:image/png;base64,iVBORw0KGgo..."],
        description="A data:image/png;base64 URL of the 1-bit mask.",
    )
    width: int = Field(gt=0, examples=[500])
    height: int = Field(gt=0, examples=[375])


class PhotoLocation(BaseModel):
    """Where the amulet was found on one photo, and whether it can be judged.

    ``found``: the crop around ``box`` was classified. ``no_amulet``: nothing looks like an
    amulet (``box`` is null). ``too_small`` / ``too_blurred``: something was found (``box``)
    but with too few pixels or too little detail to judge: retake the photo closer or
    steadier. ``whole_photo``: ``locate=off``, the whole photo was classified (``box`` is
    the whole image).
    """

    status: LocationStatus = Field(examples=["found"])
    method: LocationMethod = Field(
        examples=["localiser"], description="localiser: found by the localiser; off: locate=off."
    )
    box: PhotoBox | None = None
    confidence: float | None = Field(
        None, ge=0.0, le=1.0, examples=[0.97], description="The localiser's; null with off."
    )
    mask: PhotoMask | None = Field(
        None,
        exclude_if=lambda mask: mask is None,
        description="Only with mask=true, where the localiser found something (a box, "
        "method localiser): absent otherwise, and with locate=off or no_amulet.",
    )

    @property
    def judged(self) -> bool:
        """Whether the classifier's verdict on this photo may be shown as one."""
        return self.status in ("found", "whole_photo")


class PhotoResult(BaseModel):
    """The verdict on one photo (front or back)."""

    predictions: list[ClassScore]
    unknown: UnknownVerdict
    width: int = Field(examples=[3024])
    height: int = Field(examples=[4032])
    format: str = Field(examples=["JPEG"])
    location: PhotoLocation | None = Field(
        None, description="Where the amulet is on the photo (null only from older servers)."
    )


class SideResults(BaseModel):
    front: PhotoResult
    back: PhotoResult | None = None


class Classification(BaseModel):
    """The verdict on a front photo, or on a front and back pair fused together."""

    status: ClassificationStatus = Field(
        "ok",
        description="ok: every photo sent was judged. Otherwise the front's problem if it "
        "has one, else the back's; unknown.is_unknown is then true and the predictions "
        "(from the whole photo) must not be shown as a verdict.",
    )
    top1: ClassScore
    predictions: list[ClassScore]
    unknown: UnknownVerdict
    images: SideResults
    heatmap: dict[str, str] | None = Field(
        None, description="PNG overlays as data URLs, per side, when asked for."
    )
