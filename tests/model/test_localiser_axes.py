"""The localiser's grid and squares mapped back to pixels with each axis's own scale: on
pictures whose letterbox, zoom square or DCT draft rounds the two sides differently
(hand-made logit grids, no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amulet_ai.imaging.decode import DecodedImage, dct_scale
from amulet_ai.model.localiser import (
    ZOOM_MARGIN,
    Box,
    LocaliserMetadata,
    Location,
    crop_square,
    letterbox,
    locate_from_logits,
    locate_with,
)
from amulet_ai.serving.locating import DRAFT_SIDE, detail_side

FREE = LocaliserMetadata(name="test", version="0", size=320, multiple=32, run_size=256)


def _cells(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    """A grid of logits, -6 everywhere but +5 on the block ``rows`` x ``cols``: its region
    above 0.5 ends on the block's cell edges (bilinear, 16 px a cell)."""
    grid = np.full(shape, -6.0, np.float32)
    grid[rows, cols] = 5.0
    return grid


@pytest.mark.parametrize(
    ("size", "draft", "grid", "rows", "cols", "box"),
    [
        # 2000 x 50 at 256: 256 x 6 (y scale 8.33, x scale 7.81), padded to 32 rows, top 13.
        # Cells 4..11 across (64..192 px: 500..1500) and both rows, the strip's whole height.
        ((2000, 50), (256, 6), (2, 16), slice(0, 2), slice(4, 12), (500, 0, 1500, 50)),
        ((50, 2000), (6, 256), (16, 2), slice(4, 12), slice(0, 2), (0, 500, 50, 1500)),
        # 4:3: both scales 3.906, as before the per-axis scales.
        ((1000, 750), (256, 192), (12, 16), slice(3, 9), slice(4, 12), (250, 187, 750, 563)),
    ],
)
def test_the_box_takes_each_axiss_own_scale_from_the_letterbox(
    size: tuple[int, int],
    draft: tuple[int, int],
    grid: tuple[int, int],
    rows: slice,
    cols: slice,
    box: tuple[int, int, int, int],
) -> None:
    # Decoded at a quarter of the original: the box in original pixels is four times it.
    picture = DecodedImage(Image.new("RGB", size, (90, 90, 90)), 4 * size[0], 4 * size[1], "PNG")
    boxed = letterbox(picture.image, FREE.input_side(max(size)), FREE.multiple)
    assert (boxed.width, boxed.height) == draft
    assert boxed.tensor.shape[1:] == tuple(16 * n for n in grid)
    loc = locate_from_logits(_cells(grid, rows, cols), boxed, picture, FREE)
    assert loc.status == "found", loc
    assert loc.picture_box == box
    left, top, right, bottom = box
    assert loc.box == Box(
        4 * left, 4 * top, 4 * (right - left), 4 * (bottom - top), 4 * size[0], 4 * size[1]
    )
    assert loc.mask is not None and loc.mask.shape == (size[1], size[0])
    ys, xs = np.nonzero(loc.mask)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == box


@pytest.mark.parametrize(
    ("photo", "equal"),
    [
        ((4000, 3000), True),  # 12 MP 4:3 at its DCT eighth: 500 x 375 -> 320 x 240
        ((4032, 3024), True),
        ((3024, 4032), True),
        ((3024, 3024), True),
        ((4000, 2250), False),  # 16:9: 500 x 282 -> 320 x 180, y 1.5667 against x 1.5625
    ],
)
def test_a_phone_photos_draft_letterboxes_with_equal_scales_but_at_16_9(
    model_dir: Path, photo: tuple[int, int], equal: bool
) -> None:
    # Where the two scales are equal, the per-axis first-pass box is the one-scale box.
    meta = LocaliserMetadata.load(model_dir / "localiser.json")
    eighth = dct_scale(photo, DRAFT_SIDE)
    draft = (-(-photo[0] // eighth), -(-photo[1] // eighth))
    boxed = letterbox(Image.new("RGB", draft), meta.input_side(max(draft)), meta.multiple)
    assert (draft[0] / boxed.width == draft[1] / boxed.height) is equal


def test_the_zoom_pass_maps_back_with_its_squares_own_height() -> None:
    # The first box (125, 125, 313, 375) gives a zoom square 374 wide and 376 high: its
    # centre is on a pixel edge across and a pixel's middle down, rounded apart.
    picture = DecodedImage(Image.new("RGB", (1000, 750), (90, 90, 90)), 4000, 3000, "JPEG")
    first = _cells((12, 16), slice(2, 6), slice(2, 5))
    square = crop_square((125, 125, 313, 375), ZOOM_MARGIN)
    assert square == (32, 62, 406, 438)

    def logits_fn(batch: np.ndarray) -> np.ndarray:
        if batch.shape[2:] == (192, 256):  # the whole picture
            return first[None]
        assert batch.shape[2:] == (256, 256)  # the zoom square: the amulet fills it
        return np.full((1, 16, 16), 5.0, np.float32)

    loc = locate_with(logits_fn, picture, FREE)
    assert loc.status == "found", loc
    assert loc.picture_box == square
    assert loc.mask is not None
    ys, xs = np.nonzero(loc.mask)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == square


def test_detail_side_asks_for_size_px_along_the_axis_with_fewer() -> None:
    # A 4001 x 3000 JPEG at its DCT eighth is 501 x 375: 0.12522 px per pixel across, but
    # 0.125 down. A crop of 1543 * 1.16 = 1790 px is 224.1 px across there and 223.7 down.
    draft = DecodedImage(Image.new("RGB", (501, 375)), 4001, 3000, "JPEG")
    box = Box(x=1200, y=700, width=1543, height=1543, image_width=4001, image_height=3000)
    location = Location("found", box, (150, 87, 344, 280), None, 1.0)
    need = detail_side(location, draft, 224)
    assert need is not None and need > 375
