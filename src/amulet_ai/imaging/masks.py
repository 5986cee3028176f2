"""The localiser's mask as a small PNG, and back: how it travels in an answer.

A mask is a bool array ``[height, width]`` over the whole oriented photo, at the draft
decode's resolution (a 12 MP JPEG's eighth, 500 x 375). :func:`mask_png` writes it as a
1-bit PNG (a blob of an amulet compresses to a kilobyte or two);
:func:`mask_from_png` reads one back (any PNG mode: a pixel at 128 or more is inside), and
:func:`scaled_mask` stretches a mask onto a picture of another size the way the serving
path does before it greys the backdrop (bilinear, then at least half way).

Example::

    >>> import numpy as np
    >>> mask = np.zeros((3, 4), dtype=bool)
    >>> mask[1, 1:3] = True
    >>> back = mask_from_png(mask_png(mask))
    >>> back.shape, bool((back == mask).all())
    ((3, 4), True)
    >>> scaled_mask(mask, (8, 6)).shape
    (6, 8)
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Final

import numpy as np
from PIL import Image, UnidentifiedImageError

PNG_DATA_URL: Final = "data:image/png;base64,"
# A mask PNG bigger than this many pixels is not one the API sends (its draft is about
# 500 x 375): reading one is refused rather than decoded.
MAX_MASK_PIXELS: Final = 4096 * 4096


def mask_png(mask: np.ndarray) -> bytes:
    """``mask`` (bool ``[height, width]``) as a 1-bit PNG: white inside, black outside."""
    buffer = io.BytesIO()
    # Pillow's default compression: ``optimize`` saves few bytes of a mask at many times
    # the time, paid on the inference worker.
    Image.fromarray(np.ascontiguousarray(mask, dtype=bool)).save(buffer, "PNG")
    return buffer.getvalue()


def mask_from_png(data: bytes) -> np.ndarray:
    """The bool mask of a PNG made by :func:`mask_png` (or any greyscale PNG of one).

    Raises:
        ValueError: ``data`` is not a PNG of at most :data:`MAX_MASK_PIXELS` pixels.
    """
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.size[0] * image.size[1] > MAX_MASK_PIXELS:
                raise ValueError(f"a mask of {image.size[0]} x {image.size[1]} is too large")
            return np.asarray(image.convert("L")) >= 128
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError("not a PNG mask") from exc


def mask_data_url(mask: np.ndarray) -> str:
    """``mask`` as a ``data:image/png;base64,`` URL (:func:`mask_png`)."""
    return PNG_DATA_URL + base64.b64encode(mask_png(mask)).decode("ascii")


def mask_from_data_url(url: str) -> np.ndarray:
    """The bool mask of a ``data:image/png;base64,`` URL from :func:`mask_data_url`.

    Raises:
        ValueError: ``url`` is not such a data URL of a PNG mask.
    """
    if not url.startswith(PNG_DATA_URL):
        raise ValueError("not a data:image/png;base64 URL")
    try:
        data = base64.b64decode(url[len(PNG_DATA_URL) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("the mask's base64 is invalid") from exc
    return mask_from_png(data)


def scaled_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``mask`` stretched to ``size`` (width, height): resized bilinear as 0 / 255, then a
    pixel of at least 128 is inside (how a located crop's mask is carried to a finer
    decode of the photo before its backdrop is greyed)."""
    scaled = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(scaled) >= 128
