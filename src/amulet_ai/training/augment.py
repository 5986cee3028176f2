"""Photo augmentation for training views, applied to the decoded 224 px PIL picture.

Views of one photo: view 0 is the photo as served (no change), view 1 its mirror image,
and the rest random: mirror, rotation, resized crop, light and colour changes, slight blur.
A mirrored amulet is still the same type, so mirroring is a fair view.

Example::

    >>> from PIL import Image
    >>> rng = np.random.default_rng(0)
    >>> view = random_view(Image.new("RGB", (224, 224), "gray"), rng)
    >>> view.size
    (224, 224)
"""

from __future__ import annotations

from typing import Final

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

MAX_ROTATION_DEG: Final = 20.0
CROP_SCALE: Final = (0.6, 1.0)
CROP_RATIO: Final = (0.85, 1.18)
JITTER: Final = 0.25
BLUR_PROBABILITY: Final = 0.2


def _border_colour(img: Image.Image) -> tuple[int, int, int]:
    arr = np.asarray(img)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    r, g, b = (int(v) for v in np.median(border, axis=0))
    return r, g, b


def _resized_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = img.size
    area = width * height * rng.uniform(*CROP_SCALE)
    ratio = float(np.exp(rng.uniform(np.log(CROP_RATIO[0]), np.log(CROP_RATIO[1]))))
    crop_w = min(width, round(np.sqrt(area * ratio)))
    crop_h = min(height, round(np.sqrt(area / ratio)))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    box = (left, top, left + crop_w, top + crop_h)
    return img.resize((width, height), Image.Resampling.BILINEAR, box=box)


def random_view(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One random training view of ``img`` (same size, RGB)."""
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    angle = float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    # Fill the corners with the photo's own border colour, not a black wedge the model
    # would never see in a real photo.
    img = img.rotate(angle, Image.Resampling.BILINEAR, fillcolor=_border_colour(img))
    img = _resized_crop(img, rng)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        img = enhancer(img).enhance(float(rng.uniform(1 - JITTER, 1 + JITTER)))
    if rng.random() < BLUR_PROBABILITY:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.2))))
    return img


def views(img: Image.Image, count: int, rng: np.random.Generator) -> list[Image.Image]:
    """``count`` views: the photo itself, its mirror image, then random views."""
    out = [img]
    if count > 1:
        out.append(ImageOps.mirror(img))
    out.extend(random_view(img, rng) for _ in range(count - 2))
    return out
