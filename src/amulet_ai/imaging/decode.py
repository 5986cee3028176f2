"""Decoding untrusted image bytes into the model's input.

One path serves the API, training and evaluation: :func:`decode_image` turns bytes (or a
file) into an upright RGB picture at model size, and :func:`to_tensor` scales it the way
EfficientNet-Lite expects, ``(x - 127) / 128``. The format is decided by content alone.

Example::

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (640, 480), "red").save(buf, "JPEG")
    >>> decoded = decode_image(buf.getvalue())
    >>> decoded.image.size, decoded.width, decoded.height, decoded.format
    ((224, 224), 640, 480, 'JPEG')
    >>> to_tensor(decoded.image).shape
    (3, 224, 224)
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from struct import error as struct_error
from typing import IO, Final

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from amulet_ai.errors import CorruptImage, ImageTooLarge, UnsupportedMediaType
from amulet_ai.imaging.budget import MemoryBudget

pillow_heif.register_heif_opener()

MODEL_INPUT_SIZE: Final = 224
INPUT_MEAN: Final = 127.0
INPUT_SCALE: Final = 128.0
# Fully transparent pixels become this grey, which the model sees as zero input.
NEUTRAL_BACKGROUND: Final = (127, 127, 127)
SUPPORTED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF")
DEFAULT_MAX_PIXELS: Final = 50_000_000
DEFAULT_MAX_DECODE_MB: Final = 512.0
# Shorter side of the whole-picture decode that the localiser and the crop read.
DETAIL_SIDE: Final = 640
_EXIF_ORIENTATION: Final = 0x0112
# ISO-BMFF brands of HEIF/HEIC files (bytes 8-12, after "ftyp").
_HEIF_BRANDS: Final = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")

ImageSource = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An upright RGB picture at model size, with what the original looked like."""

    image: Image.Image
    width: int
    height: int
    format: str


def _head(source: ImageSource, size: int = 16) -> bytes:
    """The first bytes of ``source``, leaving a file object where it was."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:size])
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return fh.read(size)
    position = source.tell()
    try:
        source.seek(0)
        return source.read(size)
    finally:
        source.seek(position)


def _is_supported_format(head: bytes) -> bool:
    """True when the magic number is that of JPEG, PNG, WebP or HEIF."""
    return (
        head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS)
    )


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise UnsupportedMediaType("The file is empty.")
        fp: IO[bytes] | str | os.PathLike[str] = io.BytesIO(source)
    else:
        fp = source
    try:
        with warnings.catch_warnings():
            # Pillow warns (rather than raises) between 1x and 2x its own pixel ceiling; we
            # apply our own ceiling right after opening, so its warning carries no news.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp, formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError as exc:
        # Pillow cannot tell "not an image" from "a PNG with a broken header": the magic can.
        if _is_supported_format(_head(source)):
            raise CorruptImage("The image header is damaged.") from exc
        raise UnsupportedMediaType() from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge() from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise CorruptImage("The image header could not be read.") from exc


def _check_pixels(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise CorruptImage("The image has no pixels.")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels.",
            details={"width": width, "height": height, "max_pixels": max_pixels},
        )


# Pillow keeps one- and 16-bit-one-band images in 1 and 2 bytes a pixel, and every other
# mode (RGB and LA included) in 4.
_BYTES_PER_PIXEL: Final = {
    **dict.fromkeys(("1", "L", "P"), 1),
    **dict.fromkeys(("I;16", "I;16B", "I;16L", "I;16N"), 2),
}
_RGB: Final = 4
# What a format's decoder holds beside the raster at its peak, bytes a pixel: for WebP
# (Pillow reads every WebP with the animation decoder) two RGBA canvases and the RGBA frame
# it hands over; for HEIF libheif's own raster. tests/imaging/test_decode_memory.py
# measures each decode's peak RSS against decode_footprint.
_DECODER_BYTES_PER_PIXEL: Final = {"WEBP": 13, "HEIF": 6}
_WIDE_MODES: Final = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_ALPHA_MODES: Final = ("RGBA", "LA", "PA", "RGBa", "La")


def decode_footprint(img: Image.Image, orientation: int = 1) -> int:
    """Bytes that decoding ``img`` (opened, not loaded) to upright RGB will hold at its peak.

    Read from the header alone: the raster at the size it will decode at (after ``draft``),
    what the format's decoder holds beside it (WebP: three times the raster more), the
    copies :func:`_to_rgb` makes on the way to RGB (the float copy of 16-bit and float
    images, the RGBA composite of transparent ones), plus the turned copy an EXIF
    orientation needs. The model-size picture that follows is small next to these.
    """
    pixels = img.size[0] * img.size[1]
    mode = img.mode
    decoder = _DECODER_BYTES_PER_PIXEL.get(img.format or "", 0)
    total = pixels * (_BYTES_PER_PIXEL.get(mode, 4) + decoder)
    if mode in _WIDE_MODES:
        total += pixels * (8 + 1 + _RGB)  # float64 copy, 8-bit grey, RGB
    elif mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
        total += pixels * (4 + 4 + 4 + _RGB)  # RGBA, its background, the composite, RGB
    elif mode != "RGB":
        total += pixels * _RGB
    if orientation != 1:
        total += pixels * _RGB
    return total


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is flattened onto a neutral grey."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit data spans 0..65535; Pillow's own convert would clip it to white.
        top = 65535.0 if mode != "F" or arr.max(initial=0.0) > 255.0 else 255.0
        gray = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode == "RGB":
            return img
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*NEUTRAL_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _check_footprint(img: Image.Image, orientation: int, max_decode_mb: float) -> int:
    """The decode's footprint, refused over ``max_decode_mb``."""
    needed = decode_footprint(img, orientation)
    if needed > max_decode_mb * 1024 * 1024:
        needed_mb = needed / (1024 * 1024)
        raise ImageTooLarge(
            f"Decoding this image would take {needed_mb:.0f} MB; the limit is "
            f"{max_decode_mb:g} MB per image.",
            details={"needed_mb": round(needed_mb, 1), "max_decode_mb": max_decode_mb},
        )
    return needed


def center_square(img: Image.Image, size: int) -> Image.Image:
    """``img`` with its shorter side scaled to ``size`` and the centre square cut out (what
    :func:`decode_image` does after decoding)."""
    return _resize_center_crop(img, size)


def _resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    width, height = img.size
    scale = size / min(width, height)
    new_w = max(size, round(width * scale))
    new_h = max(size, round(height * scale))
    left = (new_w - size) // 2
    top = (new_h - size) // 2
    if scale > 1:
        # Enlarging: resample only the centre square's source box. Enlarging the whole
        # picture first would cost its long side times ``size`` again: a 6 kB 1 x 20000
        # PNG would become a 224 x 4,480,000 (3 GB) raster on the way to 224 x 224.
        sx, sy = new_w / width, new_h / height
        box = (left / sx, top / sy, (left + size) / sx, (top + size) / sy)
        return img.resize((size, size), Image.Resampling.BILINEAR, box=box)
    if (new_w, new_h) != (width, height):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return img.crop((left, top, left + size, top + size))


@dataclass(frozen=True, slots=True)
class Drafted:
    """A JPEG drafted before decoding: its stored size and the DCT scale's denominator."""

    size: tuple[int, int]
    scale: int


def dct_scale(size: tuple[int, int], request: int) -> int:
    """The JPEG DCT scale denominator (1, 2, 4 or 8) Pillow's ``draft`` takes for a picture
    of ``size`` asked for at least ``request`` px both ways.

    >>> dct_scale((4000, 3000), 240), dct_scale((4000, 3000), 480), dct_scale((224, 224), 240)
    (8, 4, 1)
    """
    scale = min(size[0] // request, size[1] // request)
    return next((s for s in (8, 4, 2, 1) if scale >= s), 1)


def _scaled_footprint(img: Image.Image, orientation: int, scale: int) -> float:
    """:func:`decode_footprint` of ``img`` were it drafted at DCT scale ``1 / scale``."""
    width, height = img.size
    scaled = -(-width // scale) * -(-height // scale)
    return decode_footprint(img, orientation) * scaled / (width * height)


def _decode_upright(
    source: ImageSource,
    draft_size: int,
    max_pixels: int,
    draft: bool,
    finish: Callable[[Image.Image, Drafted | None], Image.Image],
    max_decode_mb: float | None = None,
    fallback_size: int | None = None,
    budget: MemoryBudget | None = None,
) -> DecodedImage:
    """``finish`` applied to the upright RGB picture (JPEG drafted to at least
    ``draft_size`` on both sides) and, for a drafted JPEG, its size and scale
    (:class:`Drafted`), with the original's oriented width, height and format.

    With ``fallback_size``, a JPEG is drafted to ``fallback_size`` instead where its decode
    at ``draft_size`` would hold more than ``max_decode_mb`` (and refused only if that is
    over the bound too), or would be the full size where ``fallback_size`` gets a reduced
    scale (a 1 MP photo: a full decode costs more than the reduced second decode the few
    small amulets need).

    With ``budget``, the decode holds its footprint from it while it runs (waiting for it
    first), so decodes at once hold no more than the budget together.

    ``finish`` runs before the file is closed: an upright RGB JPEG is the opened image
    itself, and closing it first would leave nothing to resize (what ``finish`` returns
    unchanged is copied)."""
    img = _open(source)
    try:
        fmt = img.format or "UNKNOWN"
        _check_pixels(img, max_pixels)
        width, height = img.size
        try:
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            drafted = None
            if img.format == "JPEG" and draft:
                # Orientation may swap the axes, so ask for at least ``draft_size`` on both.
                side = draft_size
                if fallback_size is not None:
                    fine, coarse = dct_scale(img.size, side), dct_scale(img.size, fallback_size)
                    over = (
                        max_decode_mb is not None
                        and _scaled_footprint(img, orientation, fine) > max_decode_mb * 1024**2
                    )
                    if over or (fine == 1 and coarse > 1):
                        side = fallback_size
                drafted = Drafted(img.size, dct_scale(img.size, side))
                img.draft("RGB", (side, side))
            needed = 0
            if max_decode_mb is not None:
                needed = _check_footprint(img, orientation, max_decode_mb)
            with budget.hold(needed) if budget is not None else nullcontext():
                img.seek(0)  # animated images: the first frame
                img.load()
                # exif_transpose copies even an upright picture; most photos need no turn.
                upright = img if orientation == 1 else ImageOps.exif_transpose(img)
                image = finish(_to_rgb(upright), drafted)
                if image is img:  # closing the file below would take its pixels with it
                    image = image.copy()
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge() from exc
        except (OSError, ValueError, SyntaxError, EOFError, struct_error) as exc:
            raise CorruptImage() from exc
    finally:
        img.close()
    return DecodedImage(image=image, width=width, height=height, format=fmt)


def decode_image(
    source: ImageSource,
    *,
    size: int = MODEL_INPUT_SIZE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_mb: float | None = None,
    draft: bool = True,
    budget: MemoryBudget | None = None,
) -> DecodedImage:
    """Decode one image and bring it to ``size`` x ``size`` upright RGB.

    The shorter side is scaled to ``size`` and the centre cropped. JPEGs larger than needed
    decode at a reduced DCT scale first (``draft``), which is several times faster on phone
    photos and leaves the result within a pixel level of a full decode. ``max_decode_mb``
    bounds the memory this one decode may hold (:func:`decode_footprint`, from the header),
    whatever other decodes run meanwhile; with ``budget`` the decode also waits for its
    footprint to be free in it (:class:`~amulet_ai.imaging.budget.MemoryBudget`).

    Raises:
        UnsupportedMediaType: empty, not an image, or not JPEG, PNG, WebP or HEIC/HEIF.
        CorruptImage: truncated or damaged data.
        ImageTooLarge: more than ``max_pixels`` pixels, or a decode that would need more
            than ``max_decode_mb`` (both checked before decoding).
    """
    return _decode_upright(
        source,
        size,
        max_pixels,
        draft,
        lambda rgb, _drafted: _resize_center_crop(rgb, size),
        max_decode_mb,
        budget=budget,
    )


def decode_picture(
    source: ImageSource,
    *,
    min_side: int = DETAIL_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_mb: float | None = None,
    budget: MemoryBudget | None = None,
) -> DecodedImage:
    """Decode the whole picture, upright, with its shorter side between ``min_side`` and
    about twice that (never enlarged): enough detail to crop an amulet from, at a fraction
    of a full decode's cost (a 12 MP JPEG decodes at a quarter scale, 1000 x 750).

    ``width`` and ``height`` are the oriented original's, so a box found on ``image`` maps
    to the original by the ratio of the sizes. Raises what :func:`decode_image` raises.

    Example::

        >>> import io
        >>> buf = io.BytesIO()
        >>> Image.new("RGB", (4000, 3000), "red").save(buf, "JPEG")
        >>> decoded = decode_picture(buf.getvalue())
        >>> decoded.image.size, (decoded.width, decoded.height)
        ((1000, 750), (4000, 3000))
    """

    def finish(rgb: Image.Image, _drafted: Drafted | None) -> Image.Image:
        return _reduced(rgb, min_side)

    return _decode_upright(source, min_side, max_pixels, True, finish, max_decode_mb, budget=budget)


def _reduced(rgb: Image.Image, min_side: int) -> Image.Image:
    """``rgb`` reduced by the largest integer factor that keeps its shorter side at least
    ``min_side`` (what :func:`decode_picture` does after the JPEG draft, and in its place
    for formats without one: PNG, HEIF)."""
    factor = min(rgb.size) // min_side
    return rgb.reduce(factor) if factor >= 2 else rgb


def decode_draft_and_detail(
    source: ImageSource,
    *,
    draft_side: int,
    detail_side: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_mb: float | None = None,
    budget: MemoryBudget | None = None,
) -> tuple[DecodedImage, DecodedImage]:
    """One decode of the whole picture giving two: a draft as
    :func:`decode_picture` gives at ``min_side=draft_side`` (the same size; for a JPEG the
    finer decode reduced by the ratio of the two DCT scales, within a few levels of the
    coarser DCT decode, and the very same pixels where both decode at full size), and the
    detail :func:`decode_picture` gives at ``min_side=detail_side``.

    A JPEG decodes at the finer scale once instead of twice (Huffman decoding dominates, so
    one scale finer costs far less than a second decode). Where the finer decode would hold
    more than ``max_decode_mb``, or be the full size of a photo the draft reduces, it
    falls back to the draft's scale (both are then read from that decode). Raises what
    :func:`decode_image` raises.

    Example::

        >>> import io
        >>> buf = io.BytesIO()
        >>> Image.new("RGB", (4000, 3000), "red").save(buf, "JPEG")
        >>> draft, detail = decode_draft_and_detail(buf.getvalue(), draft_side=240,
        ...                                         detail_side=480)
        >>> draft.image.size, detail.image.size, (detail.width, detail.height)
        ((500, 375), (1000, 750), (4000, 3000))
    """
    drafts: list[Image.Image] = []

    def finish(rgb: Image.Image, drafted: Drafted | None) -> Image.Image:
        step = 1
        if drafted is not None:
            # The draft's own DCT scale, reached from this finer one by a power-of-two
            # reduction (both round their sizes up alike).
            step = max(1, dct_scale(drafted.size, draft_side) // drafted.scale)
        coarse = rgb.reduce(step) if step > 1 else rgb
        drafts.append(_reduced(coarse, draft_side))
        return _reduced(rgb, detail_side)

    detail = _decode_upright(
        source,
        detail_side,
        max_pixels,
        True,
        finish,
        max_decode_mb,
        fallback_size=draft_side,
        budget=budget,
    )
    draft_image = drafts[0]
    if draft_image.size == detail.image.size:
        return detail, detail  # one picture: the same object twice
    return DecodedImage(draft_image, detail.width, detail.height, detail.format), detail


def to_tensor(image: Image.Image) -> np.ndarray:
    """RGB picture to a float32 ``(3, H, W)`` array scaled as ``(x - 127) / 128``."""
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise CorruptImage("The decoded image is not RGB.")
    # One pass from the uint8 pixels into the CHW float buffer, then one in-place scale:
    # four times faster than float-convert, subtract, divide and transpose-copy, and equal
    # to it bit for bit (the scale is a power of two).
    tensor = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
    np.subtract(pixels.transpose(2, 0, 1), np.float32(INPUT_MEAN), out=tensor, dtype=np.float32)
    tensor *= np.float32(1.0 / INPUT_SCALE)
    return tensor


def load_path(path: str | Path, *, size: int = MODEL_INPUT_SIZE) -> DecodedImage:
    """Decode an image file from disk (training, evaluation and the benchmarks use this)."""
    with open(path, "rb") as fh:
        return decode_image(fh.read(), size=size)
