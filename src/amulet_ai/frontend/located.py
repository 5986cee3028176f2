"""Where the amulet was found, drawn for a collector: the photo with its box, the judged crop,
and what to do when the photo could not be judged.

The API answers each photo's ``location`` (``status``, and a ``box`` in the pixels of the
oriented original: see the located-photo contract in README). Here the page's own copy of
the photo is decoded upright through the one decoding path
(:func:`~amulet_ai.imaging.decode.decode_picture`), the box is scaled to that decode, drawn
on it, and the square the classifier judged is cut from it with the serving path's own
:func:`~amulet_ai.model.localiser.square_crop` (box plus :data:`CROP_MARGIN`), so the page
shows the crop the model saw. For a model that greys the backdrop (``backdrop:
grey_outside_mask``) the page asks for the localiser's mask (``mask=true``), stretches it
onto its decode as the serving path does (:func:`~amulet_ai.imaging.masks.scaled_mask`) and
lets ``square_crop`` grey everything outside it, as the model read it. A photo judged whole
(``locate=off``, or a box that fills the frame: :func:`judged_whole`) shows the centre
square the classifier read instead. The API's heatmap is drawn on that same picture: the
crop, or the photo judged whole.

The box is a bright line between two dark ones: on a white table the dark edges show, on a
black cloth the bright core does, and it stays thin at the size a phone shows the photo
(:data:`SHOWN_WIDTH_PX` CSS pixels). Nothing here imports Streamlit.

Example::

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (4000, 3000), "white").save(buf, "JPEG")
    >>> box = PixelBox(x=1000, y=500, width=1600, height=2000, image_width=4000, image_height=3000)
    >>> shown = located_pictures(buf.getvalue(), "found", box)
    >>> Image.open(io.BytesIO(shown.photo)).size, Image.open(io.BytesIO(shown.crop)).size
    ((360, 270), (224, 224))
    >>> advice("too_small", "en")[1]
    'Move closer so the amulet fills most of the frame, then take the photo again.'
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
from PIL import Image, ImageDraw

from amulet_ai.errors import AmuletError
from amulet_ai.frontend.i18n import Language, text
from amulet_ai.imaging.decode import DecodedImage, decode_picture
from amulet_ai.imaging.masks import scaled_mask
from amulet_ai.model.localiser import FILLS_FRAME, Location, square_crop

PHOTO_PX: Final = 360  # long side of the photo drawn with its box (2x and more as shown)
CROP_PX: Final = 224  # the classifier's input size
CROP_MARGIN: Final = 0.08  # the serving path's margin around the box (the contract's)
SHOWN_WIDTH_PX: Final = 140  # how wide the page shows the photo beside its crop
CROP_SHOWN_PX: Final = 112  # and the crop (half its pixels: sharp on a phone's screen)
LINE_CSS_PX: Final = 1.5  # the bright core of the box, at that width
HALO_CSS_PX: Final = 1.0  # each dark edge
BOX_COLOUR: Final = (255, 200, 0)  # amber
HALO_COLOUR: Final = (16, 16, 16)
# Statuses whose photo was judged: its crop is shown. The others get retake advice.
JUDGED: Final = ("found", "whole_photo")
RETAKE: Final = ("no_amulet", "too_small", "too_blurred")


class BoxLike(Protocol):
    """A box in the oriented original's pixels, as the API's ``location.box`` has it."""

    @property
    def x(self) -> int: ...
    @property
    def y(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def image_width(self) -> int: ...
    @property
    def image_height(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PixelBox:
    """A plain :class:`BoxLike` (tests, and callers without the API's model at hand)."""

    x: int
    y: int
    width: int
    height: int
    image_width: int
    image_height: int


@dataclass(frozen=True, slots=True)
class LocatedPictures:
    """JPEGs for the page: the photo (with its box when one is drawn) and the judged crop;
    ``whole``: the photo was judged whole, so the crop is its centre square; ``greyed``:
    the crop's backdrop outside the localiser's mask is neutral grey, as the model read it."""

    photo: bytes
    crop: bytes | None
    boxed: bool
    whole: bool = False
    greyed: bool = False


def judged_whole(status: str, box: BoxLike | None) -> bool:
    """Whether the classifier judged the photo whole rather than the crop around its box:
    ``locate=off`` (``whole_photo``), or a ``found`` box that fills :data:`FILLS_FRAME` of
    the photo both ways (the serving path's rule: such a photo is already a tight crop, and
    its ``location`` still says ``found``).

    >>> judged_whole("found", PixelBox(10, 10, 600, 450, 640, 480))
    True
    >>> judged_whole("found", PixelBox(160, 120, 240, 200, 640, 480))
    False
    """
    if status == "whole_photo":
        return True
    if status != "found" or box is None:
        return False
    width = box.width / max(1, box.image_width)
    height = box.height / max(1, box.image_height)
    return min(width, height) >= FILLS_FRAME


def box_in_picture(box: BoxLike, picture: DecodedImage) -> tuple[int, int, int, int]:
    """``box`` in ``picture.image``'s pixels (left, top, right, bottom), kept inside it.

    The box is scaled by the ratio of the decode to the size the API reports, so a photo
    decoded smaller (or by another decoder) still gets its box in the right place.
    """
    pic_w, pic_h = picture.image.size
    sx = pic_w / max(1, box.image_width)
    sy = pic_h / max(1, box.image_height)
    left = min(pic_w - 1, max(0, round(box.x * sx)))
    top = min(pic_h - 1, max(0, round(box.y * sy)))
    right = min(pic_w, max(left + 1, round((box.x + box.width) * sx)))
    bottom = min(pic_h, max(top + 1, round((box.y + box.height) * sy)))
    return left, top, right, bottom


def stroke_px(image_width: int, shown_width: int = SHOWN_WIDTH_PX) -> tuple[int, int]:
    """The core and halo widths, in image pixels, that look :data:`LINE_CSS_PX` and
    :data:`HALO_CSS_PX` wide when the image is shown ``shown_width`` CSS pixels wide.

    >>> stroke_px(480), stroke_px(170), stroke_px(60)
    ((5, 3), (2, 1), (1, 1))
    """
    per_css = image_width / shown_width
    return max(1, round(LINE_CSS_PX * per_css)), max(1, round(HALO_CSS_PX * per_css))


def draw_box(
    image: Image.Image, rect: tuple[int, int, int, int], *, shown_width: int = SHOWN_WIDTH_PX
) -> Image.Image:
    """A copy of ``image`` with ``rect`` (left, top, right, bottom) outlined: an amber core
    between two dark edges, thin at ``shown_width`` (see the module docstring)."""
    core, halo = stroke_px(image.size[0], shown_width)
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    left, top, right, bottom = rect
    right, bottom = right - 1, bottom - 1  # PIL's rectangle includes its far corner
    # Centred on the box's edge: the dark band, then the bright core inside it.
    outer = halo + (core + 1) // 2
    draw.rectangle(
        (left - outer, top - outer, right + outer, bottom + outer),
        outline=HALO_COLOUR,
        width=2 * halo + core,
    )
    inner = (core + 1) // 2
    draw.rectangle(
        (left - inner, top - inner, right + inner, bottom + inner),
        outline=BOX_COLOUR,
        width=core,
    )
    return out


def _jpeg(image: Image.Image, quality: int = 88) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def judged_crop(
    picture: DecodedImage,
    box: BoxLike | None,
    *,
    mask: np.ndarray | None = None,
    size: int = CROP_PX,
    margin: float = CROP_MARGIN,
) -> Image.Image:
    """The square the classifier judged: ``box`` plus ``margin`` from ``picture``, as the
    serving path's :func:`~amulet_ai.model.localiser.square_crop` cuts it; the centre
    square without a box (what ``locate=off`` classifies). With ``mask`` (the API's
    ``location.mask``, bool over the whole photo at any resolution) every pixel outside it
    is neutral grey, by that same function on the mask stretched onto ``picture``."""
    rect = box_in_picture(box, picture) if box is not None else None
    on_picture = None if mask is None or rect is None else scaled_mask(mask, picture.image.size)
    location = Location("found", None, rect, on_picture, 1.0)
    grey = on_picture is not None
    return square_crop(picture, location, size=size, margin=margin, grey_outside=grey)


def located_pictures(
    photo: bytes,
    status: str,
    box: BoxLike | None,
    *,
    mask: np.ndarray | None = None,
    long_side: int = PHOTO_PX,
) -> LocatedPictures | None:
    """The photo with its box (none for ``no_amulet`` or the whole photo) and, when the
    photo was judged, its crop (the centre square where it was :func:`judged_whole`); None
    when the photo cannot be decoded (the API says why). With ``mask`` (for a model that
    greys the backdrop) a crop around the box is greyed outside it (:func:`judged_crop`).
    """
    try:
        picture = decode_picture(photo)
    except AmuletError:
        return None
    crop = None
    whole = judged_whole(status, box)
    greyed = mask is not None and status == "found" and not whole and box is not None
    if status in JUDGED:
        crop = _jpeg(judged_crop(picture, None if whole else box, mask=mask if greyed else None))
    image = picture.image
    scale = long_side / max(image.size)
    if scale < 1.0:
        shown = image.resize(
            (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))),
            Image.Resampling.BILINEAR,
            reducing_gap=2.0,
        )
    else:
        shown = image
    small = DecodedImage(shown, picture.width, picture.height, picture.format)
    boxed = box is not None and status not in ("no_amulet", "whole_photo")
    if boxed and box is not None:
        shown = draw_box(shown, box_in_picture(box, small))
    return LocatedPictures(photo=_jpeg(shown), crop=crop, boxed=boxed, whole=whole, greyed=greyed)


def advice(status: str, language: Language) -> tuple[str, str]:
    """What went wrong and what to do, for a status that could not be judged.

    Raises:
        KeyError: ``status`` is not one of :data:`RETAKE`.
    """
    if status not in RETAKE:
        raise KeyError(status)
    return text(f"retake_{status}_title", language), text(f"retake_{status}", language)
