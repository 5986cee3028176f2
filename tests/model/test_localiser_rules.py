"""The localiser's decision rules and crop on hand-made logit grids and pictures (no model)."""

from __future__ import annotations

import resource
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from amulet_ai.imaging.decode import NEUTRAL_BACKGROUND, DecodedImage
from amulet_ai.model.localiser import (
    MAX_CROP_CANVAS,
    LocaliserMetadata,
    Location,
    carried_to,
    crop_square,
    letterbox,
    locate_from_logits,
    locate_with,
    region_mask,
    sharpness,
    square_crop,
)

META = LocaliserMetadata(name="test", version="0", size=320, stride=16, min_sharpness=0.12)


def _grid(*blobs: tuple[int, int, int, int, float]) -> np.ndarray:
    """A 20 x 20 grid of logits, -6 everywhere but +``value`` on each (r0, c0, r1, c1)."""
    grid = np.full((20, 20), -6.0, np.float32)
    for r0, c0, r1, c1, value in blobs:
        grid[r0:r1, c0:c1] = value
    return grid


def _textured(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_letterbox_centres_the_picture_on_neutral_grey() -> None:
    boxed = letterbox(Image.new("RGB", (400, 300), (255, 255, 255)), 320)
    assert (boxed.scale, boxed.left, boxed.top, boxed.width, boxed.height) == (0.8, 0, 40, 320, 240)
    assert boxed.tensor.shape == (3, 320, 320)
    assert boxed.tensor[:, 0, 0].tolist() == [0.0, 0.0, 0.0]  # the grey is the zero input
    assert boxed.tensor[:, 160, 160].min() > 0.99


def test_region_mask_keeps_the_strongest_region_only() -> None:
    mask, top = region_mask(_grid((2, 2, 6, 6, 4.0), (10, 10, 18, 18, 6.0)), 320, 0.5)
    ys, xs = np.nonzero(mask)
    assert 150 <= xs.min() <= 170 and 280 <= xs.max() <= 296
    assert top > 0.99
    empty, top = region_mask(_grid(), 320, 0.5)
    assert not empty.any() and top < 0.01


def test_the_box_is_reported_in_the_originals_pixels() -> None:
    # A 1000 x 750 decode of a 4000 x 3000 original; letterboxed at 320: 320 x 240, top 40.
    picture = DecodedImage(_textured(1000, 750), 4000, 3000, "JPEG")
    boxed = letterbox(picture.image, 320)
    # Cells 5..14 across (80..240 px) and 7..12 down (112..208 px, 72..168 inside the picture).
    loc = locate_from_logits(_grid((7, 5, 13, 15, 5.0)), boxed, picture, META)
    assert loc.status == "found", loc
    assert loc.box is not None and loc.mask is not None
    assert (loc.box.image_width, loc.box.image_height) == (4000, 3000)
    for got, want in (
        (loc.box.x, 1000),
        (loc.box.y, 900),
        (loc.box.width, 2000),
        (loc.box.height, 1200),
    ):
        assert abs(got - want) <= 0.04 * 4000, (got, want)
    assert loc.mask.shape == (750, 1000)


def test_nothing_above_threshold_is_no_amulet() -> None:
    picture = DecodedImage(_textured(640, 480), 640, 480, "JPEG")
    loc = locate_from_logits(_grid(), letterbox(picture.image, 320), picture, META)
    assert loc.status == "no_amulet" and loc.box is None and loc.mask is None


def test_a_one_cell_amulet_is_too_small() -> None:
    picture = DecodedImage(_textured(640, 480), 640, 480, "JPEG")
    loc = locate_from_logits(_grid((8, 8, 9, 9, 5.0)), letterbox(picture.image, 320), picture, META)
    assert loc.status == "too_small" and loc.box is not None


def test_a_smooth_amulet_is_too_blurred() -> None:
    # A 20 x 15 picture enlarged 32 times: strong contrast, no fine relief.
    smooth = _textured(20, 15).resize((640, 480), Image.Resampling.BICUBIC)
    picture = DecodedImage(smooth.filter(ImageFilter.GaussianBlur(3)), 640, 480, "JPEG")
    loc = locate_from_logits(
        _grid((5, 5, 15, 15, 5.0)), letterbox(picture.image, 320), picture, META
    )
    assert loc.status == "too_blurred"
    assert loc.sharpness is not None and loc.sharpness < META.min_sharpness


def test_sharpness_falls_with_blur_but_not_with_exposure() -> None:
    sharp = _textured(224, 224)
    assert sharpness(sharp.filter(ImageFilter.GaussianBlur(2))) < 0.2 * sharpness(sharp)
    darker = Image.eval(sharp, lambda v: v // 2)
    assert sharpness(darker) == pytest.approx(sharpness(sharp), rel=0.1)


def test_square_crop_greys_what_is_outside_the_mask_and_the_picture() -> None:
    image = Image.new("RGB", (400, 300), (250, 0, 0))
    mask = np.zeros((300, 400), bool)
    mask[0:100, 0:80] = True  # an amulet in the top-left corner
    ImageDraw.Draw(image).rectangle((0, 0, 79, 99), fill=(0, 0, 250))
    loc = Location("found", None, (0, 0, 80, 100), mask, 1.0)
    crop = np.asarray(square_crop(DecodedImage(image, 400, 300, "JPEG"), loc, margin=0.1))
    assert crop.shape == (224, 224, 3)
    assert tuple(crop[2, 2]) == NEUTRAL_BACKGROUND  # left of the picture: grey, not black
    assert tuple(crop[112, 112]) == (0, 0, 250)  # the amulet
    assert tuple(crop[112, 215]) == NEUTRAL_BACKGROUND  # red backdrop greyed out
    raw = np.asarray(square_crop(DecodedImage(image, 400, 300, "JPEG"), loc, grey_outside=False))
    assert raw[112, 215, 0] > 200  # without greying the backdrop stays


def _counting(grid: np.ndarray) -> tuple[list[int], Callable[[np.ndarray], np.ndarray]]:
    """A stand-in graph that answers ``grid`` for every draft and counts its runs."""
    runs: list[int] = []

    def logits(batch: np.ndarray) -> np.ndarray:
        runs.append(len(batch))
        return np.repeat(grid[None], len(batch), axis=0)

    return runs, logits


@pytest.mark.parametrize(
    ("blob", "min_zoom", "passes"),
    [
        ((7, 5, 13, 15, 5.0), 1.0, 2),  # half the width: the zoom sees it 1.3 x larger
        ((7, 5, 13, 15, 5.0), 1.5, 1),  # ... which is under 1.5 x: no second run
        ((4, 1, 16, 19, 5.0), 1.0, 1),  # it fills the picture: the zoom would see it smaller
        ((9, 9, 11, 12, 5.0), 1.5, 2),  # small: 3 x larger in the zoom
    ],
)
def test_the_zoom_pass_runs_only_where_it_sees_the_amulet_larger(
    blob: tuple[int, int, int, int, float], min_zoom: float, passes: int
) -> None:
    picture = DecodedImage(_textured(1000, 750), 4000, 3000, "JPEG")
    runs, logits = _counting(_grid(blob))
    location = locate_with(logits, picture, META, min_zoom=min_zoom)
    assert location.box is not None
    assert len(runs) == passes


def test_a_location_carried_to_a_larger_decode_keeps_its_box_and_scales_its_mask() -> None:
    draft = DecodedImage(_textured(500, 375, seed=1), 4000, 3000, "JPEG")
    detail = DecodedImage(_textured(1000, 750, seed=1), 4000, 3000, "JPEG")
    found = locate_from_logits(_grid((7, 5, 13, 15, 5.0)), letterbox(draft.image, 320), draft, META)
    carried = carried_to(found, draft, detail, META)
    assert carried.box == found.box  # in the original's pixels either way
    assert found.picture_box is not None and carried.picture_box is not None
    assert [round(v / 2) for v in carried.picture_box] == [round(v) for v in found.picture_box]
    assert carried.mask is not None and carried.mask.shape == (750, 1000)
    assert carried.sharpness is not None and carried.status == "found"


def _everywhere(batch: np.ndarray) -> np.ndarray:
    """A stand-in graph that marks every cell of every draft as the amulet."""
    grids = np.full((len(batch), batch.shape[2] // 16, batch.shape[3] // 16), 5.0, np.float32)
    return grids


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_strip_whose_box_is_its_length_is_cropped_without_a_canvas_that_long() -> None:
    # 20000 x 1: the box covers the strip, its crop's square is 23200 px a side; drawn on
    # a canvas of its own size the crop alone would take 1.6 GB.
    row = np.random.default_rng(3).integers(0, 256, (1, 20000, 3), dtype=np.uint8)
    picture = DecodedImage(Image.fromarray(row), 20000, 1, "PNG")
    before = _peak_rss_mb()
    location = locate_with(_everywhere, picture, META)
    crop = np.asarray(square_crop(picture, location))
    assert _peak_rss_mb() - before < 200
    assert location.status in ("found", "too_blurred") and location.box is not None
    assert (location.box.width, location.box.height) == (20000, 1)
    assert crop.shape == (224, 224, 3)
    assert tuple(crop[20, 112]) == NEUTRAL_BACKGROUND  # above the strip: grey
    assert not (crop[112, 30:190] == NEUTRAL_BACKGROUND).all()  # the strip, across the middle


@pytest.mark.parametrize("greyed", [False, True])
def test_a_square_over_the_canvas_bound_crops_as_the_canvas_would(greyed: bool) -> None:
    # 3000 x 100, boxed whole: a 3480 px square, over MAX_CROP_CANVAS, against the canvas
    # the crop was drawn on before the bound.
    image = _textured(3000, 100, seed=4).filter(ImageFilter.GaussianBlur(2))
    mask = np.zeros((100, 3000), bool)
    mask[10:90, 200:2800] = True
    box = (0, 0, 3000, 100)
    square = crop_square(box, 0.08)
    assert (square[2] - square[0]) ** 2 > MAX_CROP_CANVAS
    canvas = Image.new("RGB", (square[2] - square[0], square[3] - square[1]), NEUTRAL_BACKGROUND)
    keep = Image.fromarray(mask.astype(np.uint8) * 255) if greyed else None
    canvas.paste(image, (-square[0], -square[1]), keep)
    want = np.asarray(canvas.resize((224, 224), Image.Resampling.BILINEAR, reducing_gap=2.0))
    loc = Location("found", None, box, mask, 1.0)
    got = np.asarray(
        square_crop(DecodedImage(image, 3000, 100, "PNG"), loc, margin=0.08, grey_outside=greyed)
    )
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.mean() < 0.5
    assert (diff.max(axis=2) > 8).sum() <= 2 * 224  # the band's two edge rows at most


RULE = META.model_copy(update={"small_threshold": 0.2, "min_small_peak": 0.8})


@pytest.mark.parametrize(
    ("blob", "meta", "status"),
    [
        ((8, 8, 9, 10, -1.0), META, "no_amulet"),  # faint (0.27), nothing looked for under 0.5
        ((8, 8, 9, 10, -1.0), RULE, "too_small"),  # faint and small: far away, move closer
        ((4, 4, 16, 16, -1.0), RULE, "no_amulet"),  # faint and of an amulet's size
        ((8, 8, 9, 10, -2.0), RULE, "no_amulet"),  # under the lower threshold (0.12)
        ((8, 8, 9, 9, 0.5), META, "too_small"),  # small, weak (0.62)
        ((8, 8, 9, 9, 0.5), RULE, "no_amulet"),  # ... under min_small_peak
        ((8, 8, 9, 9, 5.0), RULE, "too_small"),  # small and strong (0.99)
        ((5, 5, 15, 15, 0.5), RULE, "found"),  # weak but large: judged as before
    ],
)
def test_small_and_faint_regions_are_told_apart(
    blob: tuple[int, int, int, int, float], meta: LocaliserMetadata, status: str
) -> None:
    picture = DecodedImage(_textured(640, 480), 640, 480, "JPEG")
    loc = locate_from_logits(_grid(blob), letterbox(picture.image, 320), picture, meta)
    assert loc.status == status, loc.confidence
    assert (loc.box is None) == (status == "no_amulet")
    if status == "too_small":
        assert loc.box is not None and loc.box.width < 0.1 * 640 + 32


def test_a_small_region_among_others_is_no_amulet_when_it_must_be_alone() -> None:
    picture = DecodedImage(_textured(640, 480), 640, 480, "JPEG")
    boxed = letterbox(picture.image, 320)
    alone = META.model_copy(update={"small_alone": True})
    two = _grid((8, 8, 9, 9, 5.0), (12, 14, 13, 15, 3.0))
    assert locate_from_logits(two, boxed, picture, META).status == "too_small"
    assert locate_from_logits(two, boxed, picture, alone).status == "no_amulet"
    one = _grid((8, 8, 9, 9, 5.0))
    assert locate_from_logits(one, boxed, picture, alone).status == "too_small"


@pytest.mark.parametrize(("value", "status"), [(3.0, "no_amulet"), (6.0, "too_small")])
def test_a_region_too_small_by_its_pixels_alone_needs_the_low_resolution_peak(
    value: float, status: str
) -> None:
    # 3 x 2 cells of a 224 px picture: 15 % of the frame across, but 34 px, under 112.
    picture = DecodedImage(_textured(224, 224), 224, 224, "PNG")
    boxed = letterbox(picture.image, 320)
    lowres = META.model_copy(update={"min_lowres_peak": 0.99})
    grid = _grid((8, 8, 10, 11, value))
    assert locate_from_logits(grid, boxed, picture, META).status == "too_small"
    assert locate_from_logits(grid, boxed, picture, lowres).status == status
    far = DecodedImage(_textured(640, 480), 4000, 3000, "JPEG")  # one cell: far, not low-res
    one = _grid((8, 8, 9, 9, value))
    assert locate_from_logits(one, letterbox(far.image, 320), far, lowres).status == "too_small"


def test_the_zoom_pass_answers_as_before_the_small_region_rules() -> None:
    # The first pass finds a mid-size region; the zoom pass sees a small one among others.
    # The small-region rules are the first pass's: the answer is the same with them.
    grids = iter([_grid((7, 5, 13, 15, 5.0)), _grid((9, 9, 10, 10, 5.0), (2, 2, 3, 3, 5.0))] * 2)

    def two_passes(batch: np.ndarray) -> np.ndarray:
        return next(grids)[None]

    picture = DecodedImage(_textured(1000, 750), 4000, 3000, "JPEG")
    rule = META.model_copy(update={"small_threshold": 0.3, "small_alone": True})
    plain = locate_with(two_passes, picture, META, min_zoom=1.0)
    ruled = locate_with(two_passes, picture, rule, min_zoom=1.0)
    assert plain.status == "too_small"  # the zoomed box is under 10 % of the draft
    assert (ruled.status, ruled.box) == (plain.status, plain.box)
