"""Cut-outs: each development photo's amulet keyed out of its red or black studio cloth.

Every development photo shows one amulet on a plain red (or, twice, black) cloth. The cloth
colour is the median of the photo's border; a pixel belongs to the amulet when its colour is
far from the cloth's (a per-photo threshold above the border's own spread). The largest
connected region, with its holes filled and its edge smoothed, is the mask.

A photo does not key cleanly when the mask is implausible for one amulet: too small or
almost the whole frame, ragged (low solidity: the cloth leaked in or the amulet was cut),
or touching much of the frame (the amulet is cut off by the crop). :func:`cut_out_all`
reports those photos with the reason; callers drop them from scene generation, and the
train command prints the list.

Example::

    >>> cut = cut_out(Image.open("front.jpg"))  # doctest: +SKIP
    >>> cut.mask.shape, cut.ok, cut.reason  # doctest: +SKIP
    ((224, 224), True, '')
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image
from scipy import ndimage

from amulet_ai.training.data import Photo

logger = logging.getLogger(__name__)

BORDER: Final = 4  # pixels of each edge that sample the cloth
MIN_DISTANCE: Final = 60.0  # RGB distance from the cloth that is always amulet
MIN_AREA: Final = 0.12  # mask share of the frame
MAX_AREA: Final = 0.97
MIN_SOLIDITY: Final = 0.90  # mask area / convex hull area
MAX_EDGE_CONTACT: Final = 0.35  # share of the frame's edge pixels inside the mask


@dataclass(frozen=True, slots=True)
class CutOut:
    """An RGB photo, its amulet mask (bool ``[H, W]``) and whether it keyed cleanly."""

    image: np.ndarray  # uint8 [H, W, 3]
    mask: np.ndarray  # bool [H, W]
    cloth: str  # "red", "black" or "other"
    ok: bool
    reason: str  # why it did not key cleanly ("" when ok)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the mask, right and bottom exclusive."""
        ys, xs = np.nonzero(self.mask)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _border_pixels(rgb: np.ndarray) -> np.ndarray:
    b = BORDER
    return np.concatenate(
        [rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3),
         rgb[b:-b, :b].reshape(-1, 3), rgb[b:-b, -b:].reshape(-1, 3)]
    ).astype(np.float32)  # fmt: skip


def _cloth_name(colour: np.ndarray) -> str:
    r, g, b = (float(v) for v in colour)
    if r > 100 and r > 1.8 * max(g, b):
        return "red"
    if max(r, g, b) < 60:
        return "black"
    return "other"


def _solidity(mask: np.ndarray) -> float:
    from scipy.spatial import ConvexHull, QhullError

    ys, xs = np.nonzero(mask)
    try:
        hull = ConvexHull(np.column_stack([xs, ys]).astype(np.float64))
    except QhullError:
        return 0.0
    # A hull of pixel centres misses half a pixel all round: add its perimeter / 2 + 1.
    hull_area = hull.volume + hull.area / 2 + 1
    return float(mask.sum() / hull_area)


def key_mask(rgb: np.ndarray) -> tuple[np.ndarray, str]:
    """The amulet mask of ``rgb`` (uint8 ``[H, W, 3]``) and the cloth's colour name."""
    border = _border_pixels(rgb)
    cloth = np.median(border, axis=0)
    border_dist = np.linalg.norm(border - cloth, axis=1)
    # Where the amulet reaches the edge, border pixels are amulet: the spread comes from
    # the border pixels near the cloth colour only.
    cloth_like = border_dist[border_dist < 2 * MIN_DISTANCE]
    spread = float(np.quantile(cloth_like, 0.95)) if len(cloth_like) else 0.0
    threshold = max(MIN_DISTANCE, 1.5 * spread)
    dist = np.linalg.norm(rgb.astype(np.float32) - cloth, axis=2)
    mask = dist > threshold
    mask = ndimage.binary_opening(mask, iterations=2)
    labels, count = ndimage.label(mask)
    if count == 0:
        return np.zeros(rgb.shape[:2], dtype=bool), _cloth_name(cloth)
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    mask = labels == (int(np.argmax(sizes)) + 1)
    mask = ndimage.binary_closing(mask, iterations=3, border_value=0)
    mask = ndimage.binary_fill_holes(mask)
    return np.asarray(mask, dtype=bool), _cloth_name(cloth)


def _judge(mask: np.ndarray) -> str:
    area = float(mask.mean())
    if area < MIN_AREA:
        return f"mask covers {area:.0%} of the frame"
    if area > MAX_AREA:
        return f"mask covers {area:.0%} of the frame (no cloth left)"
    edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    contact = float(edge.mean())
    if contact > MAX_EDGE_CONTACT:
        return f"amulet touches {contact:.0%} of the frame's edge (cut off)"
    solidity = _solidity(mask)
    if solidity < MIN_SOLIDITY:
        return f"ragged mask (solidity {solidity:.2f})"
    return ""


def cut_out(image: Image.Image) -> CutOut:
    """Key one photo; ``ok`` is False (with ``reason``) when the mask is not trustworthy."""
    rgb = np.asarray(image.convert("RGB"))
    mask, cloth = key_mask(rgb)
    reason = "" if cloth != "other" else "the backdrop is not a red or black cloth"
    reason = reason or _judge(mask)
    return CutOut(image=rgb, mask=mask, cloth=cloth, ok=not reason, reason=reason)


def cut_out_all(photos: Sequence[Photo]) -> tuple[list[CutOut], list[tuple[Path, str]]]:
    """Cut-outs of ``photos`` in order, and the photos that did not key cleanly."""
    cuts, rejected = [], []
    for photo in photos:
        with Image.open(photo.path) as img:
            cut = cut_out(img)
        cuts.append(cut)
        if not cut.ok:
            rejected.append((photo.path, cut.reason))
            logger.info("cut-out rejected %s: %s", photo.path.name, cut.reason)
    return cuts, rejected
