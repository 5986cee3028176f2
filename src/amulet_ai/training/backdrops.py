"""Generated backdrops for phone-style scenes: surfaces an amulet is photographed on.

Each family is a function ``(rng, width, height) -> uint8 [H, W, 3]``, drawn at a working
size of at most :data:`WORK_SIDE` pixels and scaled up by the caller: a table, a cloth or a
palm has no detail a 12 MP scene needs beyond that, and generating at full size would cost
seconds per scene. Families in :data:`TEST_FAMILIES` never appear in training scenes, so
the evaluation sees surfaces the models were not fitted on.

Example::

    >>> rng = np.random.default_rng(0)
    >>> backdrop("wood", rng, 320, 240).shape
    (240, 320, 3)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

WORK_SIDE: Final = 640
Family = Callable[[np.random.Generator, int, int], np.ndarray]


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return np.asarray(img.resize((width, height), Image.Resampling.BICUBIC))


def value_noise(
    rng: np.random.Generator, width: int, height: int, cells: float, octaves: int = 4
) -> np.ndarray:
    """Fractal value noise in ``[0, 1]``, float32 ``[H, W]``; ``cells`` across the width."""
    total = np.zeros((height, width), dtype=np.float32)
    weight, norm = 1.0, 0.0
    for octave in range(octaves):
        gx = max(2, round(cells * 2**octave))
        gy = max(2, round(gx * height / width))
        grid = rng.random((gy, gx)).astype(np.float32) * 255
        total += weight * _resize(grid, width, height).astype(np.float32) / 255
        norm += weight
        weight *= 0.5
    return total / norm


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> np.ndarray:
    return rng.uniform(lo, hi, 3).astype(np.float32)


def _tint(grey: np.ndarray, dark: np.ndarray, light: np.ndarray) -> np.ndarray:
    out: np.ndarray = dark + grey[..., None] * (light - dark)
    return out


def plain(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """One colour with a faint grain."""
    base = np.broadcast_to(_colour(rng), (height, width, 3))
    return base + rng.normal(0, 2, (height, width, 1)).astype(np.float32)


def lit(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """One surface under a lamp: a radial or linear fall-off of light."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if rng.random() < 0.5:
        cx, cy = rng.uniform(-0.2, 1.2) * width, rng.uniform(-0.2, 1.2) * height
        dist = np.hypot(xx - cx, yy - cy) / max(width, height)
        light = np.clip(1.2 - rng.uniform(0.5, 1.2) * dist, 0.25, 1.2)
    else:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / max(width, height)
        light = np.clip(0.6 + rng.uniform(0.3, 0.8) * (ramp - ramp.mean()), 0.2, 1.2)
    out: np.ndarray = _colour(rng, 40, 240) * light[..., None]
    return out


def fabric(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A cloth: blotchy value noise of two colours with a fine weave."""
    noise = value_noise(rng, width, height, rng.uniform(2, 8))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(2.5, 6)
    weave = 0.5 + 0.25 * (np.sin(2 * np.pi * xx / period) + np.sin(2 * np.pi * yy / period))
    grey = np.clip(0.75 * noise + 0.25 * weave, 0, 1)
    return _tint(grey, _colour(rng, 0, 150), _colour(rng, 80, 255))


def stripes(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Stripes or checks of two colours, at any angle (table cloths, mats)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(0.03, 0.2) * max(width, height)
    u = np.cos(angle) * xx + np.sin(angle) * yy
    pattern = (u // period) % 2
    if rng.random() < 0.5:
        v = -np.sin(angle) * xx + np.cos(angle) * yy
        pattern = (pattern + (v // period) % 2) % 2
    return _tint(pattern.astype(np.float32), _colour(rng), _colour(rng))


def wood(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Wood grain: warped rings along one axis in browns."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    warp = value_noise(rng, width, height, rng.uniform(1, 4), octaves=3)
    axis = yy if rng.random() < 0.5 else xx
    period = rng.uniform(0.015, 0.06) * max(width, height)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (axis / period + rng.uniform(2, 8) * warp))
    grey = np.clip(0.6 * rings**2 + 0.4 * value_noise(rng, width, height, 30, 2), 0, 1)
    dark = np.array([rng.uniform(40, 110), rng.uniform(20, 60), rng.uniform(5, 30)], np.float32)
    light = dark + np.array([rng.uniform(60, 120), rng.uniform(50, 90), rng.uniform(30, 60)])
    return _tint(grey, dark, light.astype(np.float32))


def clutter(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A busy surface: overlapping polygons and ellipses of random colours."""
    base = Image.fromarray(lit(rng, width, height).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(base)
    for _ in range(int(rng.integers(6, 30))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.03, 0.25) * max(width, height)
        fill = tuple(int(c) for c in _colour(rng, 0, 255))
        if rng.random() < 0.5:
            n = int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = radius * rng.uniform(0.4, 1.0, n)
            points = [
                (cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles, radii, strict=True)
            ]
            draw.polygon(points, fill=fill)
        else:
            ry = radius * rng.uniform(0.3, 1)
            draw.ellipse((cx - radius, cy - ry, cx + radius, cy + ry), fill=fill)
    return np.asarray(base, dtype=np.float32)


# --- test-only families ----------------------------------------------------------------
def stone(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Granite or concrete: grey speckle over veined noise."""
    veins = np.abs(value_noise(rng, width, height, rng.uniform(2, 5)) - 0.5) * 2
    speckle = rng.random((height, width)).astype(np.float32)
    grey = np.clip(0.55 * veins + 0.45 * speckle, 0, 1)
    tone = rng.uniform(60, 200)
    dark = np.full(3, tone * 0.4, np.float32) + rng.uniform(-10, 10, 3).astype(np.float32)
    return _tint(grey, dark, np.full(3, min(255.0, tone * 1.3), np.float32))


def paper(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Paper or card: an off-white with fibres and soft shading."""
    base = _colour(rng, 190, 250)
    shade = 0.85 + 0.15 * value_noise(rng, width, height, 2, 2)
    img = Image.fromarray((base * shade[..., None]).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(20, 80))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        dx, dy = rng.normal(0, 0.02 * width, 2)
        grey = int(rng.uniform(120, 200))
        draw.line((x, y, x + dx, y + dy), fill=(grey, grey, grey - 10), width=1)
    return np.asarray(img, dtype=np.float32)


def palm(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A hand's palm: a skin tone with soft shading and a few creases."""
    tone = np.array([rng.uniform(150, 235), 0, 0], np.float32)
    tone[1] = tone[0] * rng.uniform(0.65, 0.8)
    tone[2] = tone[0] * rng.uniform(0.5, 0.68)
    shade = 0.75 + 0.3 * value_noise(rng, width, height, 1.5, 3)
    img = Image.fromarray((tone * shade[..., None]).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    crease = tuple(int(c) for c in tone * 0.65)
    for _ in range(int(rng.integers(3, 7))):
        xs = np.linspace(rng.uniform(0, width), rng.uniform(0, width), 6)
        ys = np.linspace(rng.uniform(0, height), rng.uniform(0, height), 6) + rng.normal(
            0, 0.03 * height, 6
        )
        draw.line(list(zip(xs, ys, strict=True)), fill=crease, width=max(1, width // 150))
    return np.asarray(img, dtype=np.float32)


TEXTURE_SAMPLES: Final = ("brick", "grass", "gravel", "coffee", "rocket")


@functools.cache
def _texture(name: str) -> np.ndarray:
    import skimage.data

    arr = np.asarray(getattr(skimage.data, name)())
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    return arr[..., :3].astype(np.float32)


def texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A real texture or photo shipped with scikit-image, tinted and cropped at random."""
    source = _texture(TEXTURE_SAMPLES[int(rng.integers(len(TEXTURE_SAMPLES)))])
    h, w = source.shape[:2]
    scale = rng.uniform(0.5, 1.0)
    cw, ch = max(16, int(w * scale)), max(16, int(h * scale))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = source[top : top + ch, left : left + cw] * rng.uniform(0.7, 1.2, 3).astype(np.float32)
    return _resize(crop, width, height).astype(np.float32)


# --- training families of real texture (for the localiser) ------------------------------
# scikit-image's other shipped pictures: none of them is a test family's picture.
PICTURE_SAMPLES: Final = (
    "astronaut",
    "camera",
    "chelsea",
    "moon",
    "page",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "cell",
)


def picture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A crop of a real photograph shipped with scikit-image (not one of the texture
    family's), turned, tinted and cropped at random: edges and detail the generated
    families lack."""
    source = _texture(PICTURE_SAMPLES[int(rng.integers(len(PICTURE_SAMPLES)))])
    source = np.rot90(source, int(rng.integers(4)))
    h, w = source.shape[:2]
    scale = rng.uniform(0.3, 1.0)
    cw, ch = max(16, int(w * scale)), max(16, int(h * scale))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = source[top : top + ch, left : left + cw] * rng.uniform(0.6, 1.25, 3).astype(np.float32)
    return _resize(crop, width, height).astype(np.float32)


def rough(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A rough surface (sand, gravel, bark, pebbles): a fractal height map with fine
    grains, lit from one side so its relief shows, in one or two earthy colours."""
    height_map = value_noise(rng, width, height, rng.uniform(8, 40), octaves=5)
    if rng.random() < 0.5:  # pebbles: rounded cells of their own tone
        cells = value_noise(rng, width, height, rng.uniform(10, 30), octaves=1)
        height_map = 0.5 * height_map + 0.5 * np.round(cells * rng.uniform(3, 8)) / 8
    grain = rng.random((height, width)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gy, gx = np.gradient(height_map * rng.uniform(20, 80))
    shade = np.clip(0.6 + 0.4 * (np.cos(angle) * gx + np.sin(angle) * gy), 0, 1.2)
    grey = np.clip(0.55 * height_map + 0.2 * grain + 0.25 * shade, 0, 1)
    dark, light = _colour(rng, 0, 140), _colour(rng, 90, 255)
    out: np.ndarray = _tint(grey, dark, light) * shade[..., None].clip(0.5, 1.1)
    return out


TEXTURE_TRAIN_FAMILIES: Final[dict[str, Family]] = {"picture": picture, "rough": rough}
TRAIN_FAMILIES: Final[dict[str, Family]] = {
    "plain": plain,
    "lit": lit,
    "fabric": fabric,
    "stripes": stripes,
    "wood": wood,
    "clutter": clutter,
}
TEST_FAMILIES: Final[dict[str, Family]] = {
    "stone": stone,
    "paper": paper,
    "palm": palm,
    "texture": texture,
}
FAMILIES: Final[dict[str, Family]] = {**TRAIN_FAMILIES, **TEXTURE_TRAIN_FAMILIES, **TEST_FAMILIES}


def backdrop(family: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A ``family`` backdrop of ``width`` x ``height`` pixels, uint8 ``[H, W, 3]``.

    Drawn at most :data:`WORK_SIDE` pixels on its long side and scaled up.
    """
    scale = min(1.0, WORK_SIDE / max(width, height))
    work_w, work_h = max(8, round(width * scale)), max(8, round(height * scale))
    arr = FAMILIES[family](rng, work_w, work_h)
    if (work_w, work_h) != (width, height):
        return _resize(arr, width, height)
    return np.clip(arr, 0, 255).astype(np.uint8)
