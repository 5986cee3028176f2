"""What is kept of an uploaded photo: a re-encoded JPEG and a thumbnail, never the upload.

The upload is decoded with the same checks as for the model (format by content, pixel
ceiling), turned upright by its EXIF orientation, brought to RGB, scaled so its longest side
is at most :data:`FULL_SIDE` px, and written as a fresh JPEG without EXIF, ICC or any other
metadata (GPS positions in phone photos stay with the phone). The thumbnail is the same at
:data:`THUMB_SIDE` px.

Example::

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (3000, 2000), "red").save(buf, "PNG")
    >>> kept = keep_photo(buf.getvalue())
    >>> (kept.width, kept.height), Image.open(io.BytesIO(kept.thumb_jpeg)).size
    ((1024, 683), (256, 171))
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from struct import error as struct_error
from typing import Final

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from amulet_ai.errors import CorruptImage, ImageTooLarge, UnsupportedMediaType
from amulet_ai.imaging.decode import DEFAULT_MAX_PIXELS, SUPPORTED_FORMATS

pillow_heif.register_heif_opener()

FULL_SIDE: Final = 1024
THUMB_SIDE: Final = 256
FULL_QUALITY: Final = 88
THUMB_QUALITY: Final = 80


@dataclass(frozen=True, slots=True)
class KeptPhoto:
    """The two JPEGs stored for one photo, the kept size, and the upload's SHA-256."""

    full_jpeg: bytes
    thumb_jpeg: bytes
    width: int
    height: int
    source_sha256: str


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    # No exif=, icc_profile= or comment=: Pillow then writes none of them.
    img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _scaled(img: Image.Image, side: int) -> Image.Image:
    out = img.copy()
    out.thumbnail((side, side), Image.Resampling.LANCZOS)
    return out


def _upright_rgb(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise UnsupportedMediaType("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
            if img.width * img.height > max_pixels:
                raise ImageTooLarge(f"The image has more than {max_pixels:,} pixels.")
            img.seek(0)
            if img.format == "JPEG":
                # Decode at a reduced DCT scale when the photo is far larger than kept.
                img.draft("RGB", (FULL_SIDE, FULL_SIDE))
            img.load()
            upright = ImageOps.exif_transpose(img)
    except UnidentifiedImageError as exc:
        raise UnsupportedMediaType() from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge() from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct_error) as exc:
        raise CorruptImage() from exc
    if upright.mode in ("RGBA", "LA", "PA", "P"):
        rgba = upright.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return upright.convert("RGB")


def keep_photo(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> KeptPhoto:
    """Re-encode ``data`` for storage (CPU work: run it on a worker thread).

    Raises:
        UnsupportedMediaType, CorruptImage, ImageTooLarge: as for a prediction.
    """
    rgb = _upright_rgb(data, max_pixels)
    full = _scaled(rgb, FULL_SIDE)
    thumb = _scaled(full, THUMB_SIDE)
    return KeptPhoto(
        full_jpeg=_jpeg(full, FULL_QUALITY),
        thumb_jpeg=_jpeg(thumb, THUMB_QUALITY),
        width=full.width,
        height=full.height,
        source_sha256=hashlib.sha256(data).hexdigest(),
    )
