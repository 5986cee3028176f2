"""Phone-style scenes: cut-out amulets composited on generated backdrops, in memory.

A scene is one amulet (a :class:`~amulet_ai.training.cutout.CutOut`) on a backdrop family
from :mod:`amulet_ai.training.backdrops`, at 25-95 % of the canvas's short side, anywhere
in the frame, turned by a quarter turn plus a small angle, in mild perspective, with a
cast shadow, then white balance, exposure, blur, sensor noise and JPEG compression of the
whole frame. Canvases are 12 MP (4000 x 3000, either way up), phone (2000 x 1500), small
(320 - 1600 px) or draft (320 - 480 px).
Every scene knows the amulet's true mask and box in its own pixels.

Scenes are seeded by ``(seed, photo index, scene number)``, so the same arguments give the
same JPEG bytes whatever else is generated. Nothing is written to disk: callers keep the
scenes in memory or cache features under a git-ignored folder.

Example::

    >>> scene = make_scene(cut, photo=3, number=0, family="wood", seed=0)  # doctest: +SKIP
    >>> scene.box, scene.image.size  # doctest: +SKIP
    ((812, 455, 2270, 2318), (4000, 3000))
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from amulet_ai.training.backdrops import FAMILIES, backdrop
from amulet_ai.training.cutout import CutOut

SIZE_RANGE: Final = (0.25, 0.95)  # amulet's long side / canvas short side
MAX_TILT_DEG: Final = 25.0
PERSPECTIVE: Final = 0.06  # corner jitter, share of the amulet's size
TWELVE_MP: Final = (4000, 3000)
SMALL_LONG_SIDE: Final = (320, 1600)
ASPECTS: Final = (4 / 3, 16 / 9, 1.0, 3 / 2)
# "phone": 2000 x 1500, whose quarter-scale decode has the same pixels as a 12 MP photo's
# (what the crop is taken from) at a quarter of the cost to generate.
PHONE: Final = (2000, 1500)
# The scenes command's test scenes (command C) are seeded with its seed plus this.
TEST_SCENE_SEED_OFFSET: Final = 2
Canvas = Literal["12mp", "phone", "small", "draft"]


@dataclass(frozen=True, slots=True)
class Scene:
    """One generated photo: its JPEG bytes, the decoded picture and the amulet's truth."""

    jpeg: bytes
    image: Image.Image  # RGB, as decoded from ``jpeg``
    mask: np.ndarray  # bool [H, W]: amulet pixels
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive)
    photo: int  # index of the source photo, -1 for a scene without an amulet
    family: str
    fraction: float  # amulet's long side / canvas short side


def _canvas_size(rng: np.random.Generator, canvas: Canvas) -> tuple[int, int]:
    if canvas in ("12mp", "phone"):
        width, height = TWELVE_MP if canvas == "12mp" else PHONE
    else:
        lo, hi = (320, 480) if canvas == "draft" else SMALL_LONG_SIDE
        width = int(rng.integers(lo, hi + 1))
        height = round(width / ASPECTS[int(rng.integers(len(ASPECTS)))])
    return (height, width) if rng.random() < 0.4 else (width, height)


def _perspective_coeffs(src: np.ndarray, dst: np.ndarray) -> list[float]:
    """PIL PERSPECTIVE coefficients mapping output points ``dst`` to input points ``src``."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.array(rows, np.float64), src.reshape(-1).astype(np.float64))
    return [float(c) for c in solution]


def _pose_amulet(cut: CutOut, rng: np.random.Generator) -> Image.Image:
    """The cut-out as RGBA, cropped to its mask, turned, tilted and in mild perspective."""
    left, top, right, bottom = cut.box
    alpha = Image.fromarray((cut.mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))
    rgba = Image.fromarray(cut.image).convert("RGBA")
    rgba.putalpha(alpha)
    rgba = rgba.crop((left, top, right, bottom))
    quarter = int(rng.integers(4))
    if quarter:
        rgba = rgba.rotate(90 * quarter, expand=True)
    rgba = rgba.rotate(
        float(rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG)), Image.Resampling.BICUBIC, expand=True
    )
    w, h = rgba.size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    moved = corners + rng.uniform(-PERSPECTIVE, PERSPECTIVE, (4, 2)) * (w, h)
    moved -= moved.min(axis=0)
    out_w, out_h = (int(np.ceil(v)) for v in moved.max(axis=0))
    coeffs = _perspective_coeffs(corners, moved)
    return rgba.transform(
        (out_w, out_h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC
    )


def _place(
    amulet: Image.Image,
    size: tuple[int, int],
    rng: np.random.Generator,
    size_range: tuple[float, float] = SIZE_RANGE,
) -> tuple[Image.Image, tuple[int, int], float]:
    width, height = size
    fraction = float(rng.uniform(*size_range))
    scale = fraction * min(width, height) / max(amulet.size)
    scale = min(scale, 0.98 * width / amulet.size[0], 0.98 * height / amulet.size[1])
    new = (max(4, round(amulet.size[0] * scale)), max(4, round(amulet.size[1] * scale)))
    amulet = amulet.resize(new, Image.Resampling.BICUBIC)
    x = int(rng.integers(0, width - new[0] + 1))
    y = int(rng.integers(0, height - new[1] + 1))
    return amulet, (x, y), max(new) / min(width, height)


def _shadow(
    base: Image.Image, alpha: Image.Image, xy: tuple[int, int], rng: np.random.Generator
) -> Image.Image:
    size = max(alpha.size)
    dx, dy = (int(v) for v in rng.uniform(-0.06, 0.06, 2) * size)
    shadow = Image.new("L", base.size, 0)
    shadow.paste(alpha, (xy[0] + dx, xy[1] + dy))
    shadow = shadow.filter(
        ImageFilter.GaussianBlur(max(1.0, size * float(rng.uniform(0.01, 0.05))))
    )
    dark = ImageEnhance.Brightness(base).enhance(float(rng.uniform(0.3, 0.75)))
    return Image.composite(dark, base, shadow)


def _camera(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """White balance, exposure, optional blur and sensor noise of the whole frame."""
    gains = rng.uniform(0.82, 1.18, 3) * rng.uniform(0.6, 1.35)
    gamma = float(rng.uniform(0.8, 1.25))
    ramp = np.arange(256, dtype=np.float64) / 255
    lut: list[int] = []
    for gain in gains:
        lut.extend(np.clip(255 * (ramp * gain) ** gamma, 0, 255).round().astype(int).tolist())
    img = img.point(lut)
    short = min(img.size)
    if rng.random() < 0.35:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5)) * short / 1000))
    sigma = float(rng.uniform(1, 10))
    # Seeded luminance noise (Pillow's effect_noise draws from an unseeded C generator).
    grain = rng.standard_normal((img.size[1], img.size[0]), dtype=np.float32) * sigma + 128
    noise = Image.fromarray(np.clip(grain, 0, 255).astype(np.uint8)).convert("RGB")
    return ImageChops.add(img, noise, 1.0, -128)


def _encode(img: Image.Image, rng: np.random.Generator) -> tuple[bytes, Image.Image]:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(rng.integers(40, 96)))
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as decoded:
        return data, decoded.convert("RGB")


def make_scene(
    cut: CutOut | None,
    *,
    photo: int,
    number: int,
    family: str,
    seed: int,
    canvas: Canvas = "small",
    size_range: tuple[float, float] = SIZE_RANGE,
) -> Scene:
    """One seeded scene of ``cut`` (or of the bare backdrop when ``cut`` is None).

    ``size_range``: the amulet's long side over the canvas's short side is drawn from it
    (the default is the training range; smaller amulets measure the localiser's statuses
    below it, ``bench.bench_locstatus``). The same seed draws the same numbers whatever the
    range, so only the amulet's size changes."""
    if family not in FAMILIES:
        raise ValueError(f"unknown backdrop family {family!r}")
    rng = np.random.default_rng([seed, photo + 1, number, canvas == "12mp"])
    size = _canvas_size(rng, canvas)
    base = Image.fromarray(backdrop(family, rng, *size))
    mask = np.zeros((size[1], size[0]), dtype=bool)
    fraction = 0.0
    if cut is not None:
        amulet, xy, fraction = _place(_pose_amulet(cut, rng), size, rng, size_range)
        alpha = amulet.getchannel("A")
        base = _shadow(base, alpha, xy, rng)
        base.paste(amulet.convert("RGB"), xy, alpha)
        inside = np.asarray(alpha) >= 128
        mask[xy[1] : xy[1] + inside.shape[0], xy[0] : xy[0] + inside.shape[1]] = inside
    jpeg, image = _encode(_camera(base, rng), rng)
    if mask.any():
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    else:
        box = (0, 0, 0, 0)
    return Scene(jpeg, image, mask, box, photo if cut is not None else -1, family, fraction)


def scene_specs(
    photos: list[int], families: tuple[str, ...], per_photo: int
) -> list[tuple[int, int, str]]:
    """``(photo, number, family)`` for ``per_photo`` scenes of each photo, families in turn."""
    return [(p, k, families[(p + k) % len(families)]) for p in photos for k in range(per_photo)]
