"""The evaluation report's pictures, drawn with Pillow from plain arrays and records.

Three figures: a confusion matrix (:func:`confusion_image`), a reliability diagram
(:func:`reliability_image`, bins from :func:`reliability_bins`) and a contact sheet of scene
crops with the true and the predicted box drawn (:func:`contact_sheet`). They take numbers
and small images, never a model, so they are tested on synthetic inputs and the evaluate
commands only hand over what they measured.

Example::

    >>> img = confusion_image([[3, 1], [0, 4]], ["a", "b"])
    >>> img.mode
    'RGB'
    >>> bins = reliability_bins(np.array([0.9, 0.6]), np.array([True, False]), bins=5)
    >>> [b.count for b in bins]
    [0, 0, 1, 0, 1]
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Box = tuple[int, int, int, int]  # left, top, right, bottom

WHITE: Final = (255, 255, 255)
OUTSIDE: Final = (230, 230, 230)  # a scene view's part beyond the scene's edge
INK: Final = (30, 30, 30)
TRUE_COLOUR: Final = (0, 200, 80)  # the true box
PREDICTED_COLOUR: Final = (255, 140, 0)  # the localiser's box
RIGHT_COLOUR: Final = (20, 150, 60)
WRONG_COLOUR: Final = (200, 30, 30)
# Fonts that draw Thai as well as Latin, tried in turn; Pillow's own font draws Latin only.
THAI_FONTS: Final = (
    "/usr/share/fonts/truetype/tlwg/Garuda.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansThai-Regular.ttf",
    "/usr/share/fonts/truetype/tlwg/Loma.ttf",
)


@functools.cache
def font(size: int, *, thai: bool = False) -> Font:
    """A TrueType font of ``size`` px: a Thai-capable one when asked and installed, else
    Pillow's bundled font."""
    if thai:
        for path in THAI_FONTS:
            if Path(path).is_file():
                return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def thai_font_available() -> bool:
    """Whether a font that draws Thai is installed (else the pictures name classes in
    English only and the HTML carries the Thai names)."""
    return any(Path(p).is_file() for p in THAI_FONTS)


def _text_width(draw: ImageDraw.ImageDraw, text: str, face: Font) -> float:
    return float(draw.textlength(text, font=face))


def confusion_image(
    confusion: Sequence[Sequence[int]] | np.ndarray,
    names: Sequence[str],
    *,
    cell: int = 56,
) -> Image.Image:
    """The confusion matrix as a heat map: rows the true class, columns the predicted one,
    each cell its count, shaded by its share of the row; ``names`` label both axes (rows by
    name, columns by number, with the number before each row name)."""
    counts = np.asarray(confusion, dtype=int)
    n = len(names)
    if counts.shape != (n, n):
        raise ValueError(f"confusion is {counts.shape}, expected {(n, n)} for {n} names")
    thai = any(ord(ch) > 0x0E00 and ord(ch) < 0x0E80 for name in names for ch in name)
    label_font, count_font = font(15, thai=thai), font(16)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels = [f"{i} {name}" for i, name in enumerate(names)]
    left = int(max(_text_width(probe, t, label_font) for t in labels)) + 24
    top, bottom = 56, 16
    width, height = left + n * cell + 16, top + n * cell + bottom
    img = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(img)
    draw.text((left + n * cell / 2, 4), "predicted", fill=INK, font=label_font, anchor="ma")
    draw.text((4, 4), "true", fill=INK, font=label_font)
    for j in range(n):
        x = left + j * cell + cell / 2
        draw.text((x, top - 6), str(j), fill=INK, font=label_font, anchor="md")
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        y = top + i * cell
        draw.text((left - 8, y + cell / 2), labels[i], fill=INK, font=label_font, anchor="rm")
        for j in range(n):
            x = left + j * cell
            shade = int(255 - 200 * shares[i, j])
            fill = (shade, shade, 255) if i == j else (255, shade, shade)
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=fill, outline=(200, 200, 200))
            ink = WHITE if shares[i, j] > 0.6 else INK
            draw.text(
                (x + cell / 2, y + cell / 2),
                str(counts[i, j]),
                fill=ink,
                font=count_font,
                anchor="mm",
            )
    return img


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One equal-width confidence bin: how many answers fell in it, their mean
    confidence and the share of them that were right (0 for an empty bin)."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def reliability_bins(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> list[ReliabilityBin]:
    """Equal-width bins of top-class ``confidence`` with the share ``correct`` in each,
    binned as :func:`amulet_ai.training.calibration.expected_calibration_error` bins."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        n = int(inside.sum())
        out.append(
            ReliabilityBin(
                float(lo),
                float(hi),
                n,
                float(confidence[inside].mean()) if n else 0.0,
                float(correct[inside].mean()) if n else 0.0,
            )
        )
    return out


def calibration_error(bins: Sequence[ReliabilityBin]) -> float:
    """Expected calibration error of the bins: their gaps weighted by their counts."""
    total = sum(b.count for b in bins)
    if not total:
        return 0.0
    return float(sum(b.count * abs(b.accuracy - b.confidence) for b in bins) / total)


def reliability_image(
    bins: Sequence[ReliabilityBin], ece: float, *, size: int = 360
) -> Image.Image:
    """Reliability diagram: per bin, a bar of the share right against the diagonal of
    perfect calibration, a gap marker to the bin's mean confidence, the count above the
    bar; the ECE in the title."""
    pad_l, pad_b, pad_t, pad_r = 48, 40, 52, 16
    img = Image.new("RGB", (pad_l + size + pad_r, pad_t + size + pad_b), WHITE)
    draw = ImageDraw.Draw(img)
    small, title = font(12), font(15)
    x0, y0 = pad_l, pad_t + size  # origin, bottom left

    def at(cx: float, cy: float) -> tuple[float, float]:
        return x0 + cx * size, y0 - cy * size

    draw.rectangle((*at(0, 1), *at(1, 0)), outline=INK)
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        draw.text((at(tick, 0)[0], y0 + 4), f"{tick:.2f}", fill=INK, font=small, anchor="ma")
        draw.text((x0 - 4, at(0, tick)[1]), f"{tick:.2f}", fill=INK, font=small, anchor="rm")
    for b in bins:
        if not b.count:
            continue
        left, right = at(b.low, 0)[0] + 1, at(b.high, 0)[0] - 1
        draw.rectangle((left, at(0, b.accuracy)[1], right, y0), fill=(90, 130, 220))
        gap_top, gap_bottom = sorted((at(0, b.accuracy)[1], at(0, b.confidence)[1]))
        if gap_bottom - gap_top >= 1:
            draw.rectangle((left, gap_top, right, gap_bottom), outline=WRONG_COLOUR)
        label_y = min(at(0, b.accuracy)[1], at(0, b.confidence)[1]) - 2
        draw.text(((left + right) / 2, label_y), str(b.count), fill=INK, font=small, anchor="md")
    draw.line((*at(0, 0), *at(1, 1)), fill=INK, width=1)
    draw.text((x0 + size / 2, 4), f"reliability (ECE {ece:.3f})", fill=INK, font=title, anchor="ma")
    draw.text((x0 + size / 2, y0 + 22), "confidence", fill=INK, font=small, anchor="ma")
    draw.text((4, 26), "share right", fill=INK, font=small)
    return img


@dataclass(frozen=True, slots=True)
class SceneTile:
    """One scene for the contact sheet: a small RGB view of it with both boxes in that
    view's pixels (``predicted`` is None when nothing was found), and its labels."""

    image: np.ndarray  # uint8 [H, W, 3]
    true_box: Box
    predicted_box: Box | None
    true_name: str
    predicted_name: str  # the class answered, or the localiser's status when not found
    right: bool
    note: str = ""  # e.g. "IoU 0.93, unknown 0.41"


def scene_view(
    image: Image.Image, true_box: Box, predicted_box: Box | None, *, size: int = 200
) -> tuple[np.ndarray, Box, Box | None]:
    """The square around both boxes (plus a fifth each side) of a scene, at ``size`` px,
    and the boxes in its pixels: what a :class:`SceneTile` holds, small enough to keep
    hundreds in memory."""
    boxes = [true_box] if predicted_box is None else [true_box, predicted_box]
    left = min(b[0] for b in boxes)
    top = min(b[1] for b in boxes)
    right = max(b[2] for b in boxes)
    bottom = max(b[3] for b in boxes)
    side = max(right - left, bottom - top, 1) * 1.4
    cx, cy = (left + right) / 2, (top + bottom) / 2
    square = (
        round(cx - side / 2),
        round(cy - side / 2),
        round(cx + side / 2),
        round(cy + side / 2),
    )
    scale = size / (square[2] - square[0])
    # Where the square leaves the scene: light grey (Pillow's crop would fill black).
    canvas = Image.new("RGB", (square[2] - square[0], square[3] - square[1]), OUTSIDE)
    inside = (
        max(0, square[0]),
        max(0, square[1]),
        min(image.size[0], square[2]),
        min(image.size[1], square[3]),
    )
    canvas.paste(image.convert("RGB").crop(inside), (inside[0] - square[0], inside[1] - square[1]))
    view = canvas.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)

    def moved(b: Box) -> Box:
        return (
            round((b[0] - square[0]) * scale),
            round((b[1] - square[1]) * scale),
            round((b[2] - square[0]) * scale),
            round((b[3] - square[1]) * scale),
        )

    return (
        np.asarray(view.convert("RGB")),
        moved(true_box),
        None if predicted_box is None else moved(predicted_box),
    )


def contact_sheet(tiles: Sequence[SceneTile], *, columns: int = 6, tile: int = 200) -> Image.Image:
    """The tiles in a grid, each with the true box (green) and the predicted box (orange)
    drawn, a frame green when the answer was right and red when wrong, and two caption
    lines: ``true -> answered`` and the note. Tiles are scaled to ``tile`` px wide."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    caption = font(12)
    line, pad = 15, 6
    cell_w, cell_h = tile + 2 * pad, tile + 2 * pad + 2 * line + 4
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    legend_h = 24
    sheet = Image.new("RGB", (cols * cell_w, legend_h + rows * cell_h), WHITE)
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 5), "true box", fill=TRUE_COLOUR, font=caption)
    draw.text((pad + 70, 5), "predicted box", fill=PREDICTED_COLOUR, font=caption)
    draw.text((pad + 175, 5), "frame: right / wrong", fill=INK, font=caption)
    for k, t in enumerate(tiles):
        x, y = (k % cols) * cell_w, legend_h + (k // cols) * cell_h
        view = Image.fromarray(t.image).convert("RGB")
        scale = tile / view.size[0]
        view = view.resize((tile, max(1, round(view.size[1] * scale))), Image.Resampling.BILINEAR)
        frame = RIGHT_COLOUR if t.right else WRONG_COLOUR
        draw.rectangle((x + 1, y + 1, x + cell_w - 2, y + cell_h - 2), outline=frame, width=3)
        sheet.paste(view, (x + pad, y + pad))
        for box, colour in ((t.true_box, TRUE_COLOUR), (t.predicted_box, PREDICTED_COLOUR)):
            if box is not None:
                left, top, right, bottom = (round(v * scale) for v in box)
                draw.rectangle(
                    (x + pad + left, y + pad + top, x + pad + right - 1, y + pad + bottom - 1),
                    outline=colour,
                    width=2,
                )
        text_y = y + pad + tile + 2
        verdict = "right" if t.right else "wrong"
        head = f"{verdict}: {t.true_name} -> {t.predicted_name}"
        draw.text((x + pad, text_y), _fit(draw, head, caption, tile), fill=frame, font=caption)
        draw.text(
            (x + pad, text_y + line), _fit(draw, t.note, caption, tile), fill=INK, font=caption
        )
    return sheet


def _fit(draw: ImageDraw.ImageDraw, text: str, face: Font, width: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` px."""
    if _text_width(draw, text, face) <= width:
        return text
    while text and _text_width(draw, text + "...", face) > width:
        text = text[:-1]
    return text + "..."
