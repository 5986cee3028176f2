"""Photos that are not amulets, for measuring unknown detection without any download.

The sample photos shipped inside scikit-image and scikit-learn (people, animals, objects,
textures, scenes), each also as two crops, plus a few synthetic pictures (noise, gradients,
a checkerboard). Every picture goes through the serving decoder via PNG bytes.

Example::

    >>> images = non_amulet_images()  # doctest: +SKIP
    >>> len(images) > 40  # doctest: +SKIP
    True
"""

from __future__ import annotations

import io
import logging
from typing import Final

import numpy as np
from PIL import Image

from amulet_ai.imaging.decode import decode_image

logger = logging.getLogger(__name__)

SKIMAGE_PHOTOS: Final = (
    "astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "horse", "hubble_deep_field",
    "immunohistochemistry", "moon", "page", "text", "brick", "grass", "gravel", "retina",
    "colorwheel", "logo", "cell", "clock", "microaneurysms",
)  # fmt: skip


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == bool:
        return (arr * 255).astype(np.uint8)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        arr = 255 * (arr - arr.min()) / max(arr.max() - arr.min(), 1e-9)
    return arr.astype(np.uint8)


def _sample_arrays() -> list[np.ndarray]:
    arrays: list[np.ndarray] = []
    try:
        import skimage.data
    except ImportError:
        logger.warning("scikit-image is not installed; no skimage sample photos")
    else:
        for name in SKIMAGE_PHOTOS:
            loader = getattr(skimage.data, name, None)
            if loader is None:
                continue
            try:
                arrays.append(_to_uint8(np.asarray(loader())))
            except (OSError, ValueError) as exc:  # a sample missing from this install
                logger.info("skimage sample %s unavailable: %s", name, exc)
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        logger.warning("scikit-learn is not installed; no sklearn sample photos")
    else:
        arrays.extend(np.asarray(img) for img in load_sample_images().images)
    return arrays


def _synthetic(rng: np.random.Generator) -> list[np.ndarray]:
    ramp = np.linspace(0, 255, 256, dtype=np.float64)
    checker = ((np.indices((256, 256)) // 32).sum(0) % 2 * 255).astype(np.uint8)
    return [
        rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        np.stack([np.tile(ramp, (256, 1))] * 3, -1).astype(np.uint8),
        np.stack(
            [np.tile(ramp, (256, 1)), np.tile(ramp[:, None], (1, 256)), 128 + 0 * checker], -1
        ).astype(np.uint8),
        checker,
        np.full((256, 256, 3), (200, 30, 30), dtype=np.uint8),
    ]


def _crops(img: Image.Image) -> list[Image.Image]:
    width, height = img.size
    half_w, half_h = width // 2, height // 2
    return [img.crop((0, 0, half_w, half_h)), img.crop((half_w, half_h, width, height))]


def sample_pictures() -> list[Image.Image]:
    """The sample photos shipped inside scikit-image and scikit-learn, at their own size
    (what a collector would upload: scikit-image's ``coffee`` is 600 x 400)."""
    return [Image.fromarray(arr) for arr in _sample_arrays()]


def non_amulet_images(seed: int = 0) -> list[Image.Image]:
    """Decoded 224 px pictures that are not amulets (sample photos, crops, synthetic)."""
    pictures: list[Image.Image] = []
    for img in sample_pictures():
        pictures.append(img)
        pictures.extend(_crops(img))
    pictures.extend(Image.fromarray(arr) for arr in _synthetic(np.random.default_rng(seed)))
    decoded = []
    for picture in pictures:
        buf = io.BytesIO()
        picture.save(buf, "PNG")
        decoded.append(decode_image(buf.getvalue()).image)
    return decoded
