"""The box drawn on the photo, the judged crop and the retake advice, on generated images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from amulet_ai.frontend.i18n import text
from amulet_ai.frontend.located import (
    BOX_COLOUR,
    CROP_MARGIN,
    HALO_COLOUR,
    PHOTO_PX,
    RETAKE,
    SHOWN_WIDTH_PX,
    PixelBox,
    advice,
    box_in_picture,
    draw_box,
    judged_crop,
    located_pictures,
    stroke_px,
)
from amulet_ai.imaging.decode import NEUTRAL_BACKGROUND, decode_picture
from amulet_ai.imaging.masks import scaled_mask
from amulet_ai.model.localiser import crop_square

BACKDROPS = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "grey": (127, 127, 127),
    "amber": BOX_COLOUR,
    "near_black": HALO_COLOUR,
    "red_cloth": (150, 20, 25),
}


def encoded(image: Image.Image, orientation: int = 1, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    image.save(buffer, fmt, quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def scene(size: tuple[int, int], rect: tuple[int, int, int, int]) -> Image.Image:
    """A textured backdrop with a flat blue "amulet" filling ``rect`` (left, top, right, bottom)."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(180, 230, (size[1], size[0], 3), dtype=np.uint8)
    pixels[rect[1] : rect[3], rect[0] : rect[2]] = (30, 60, 200)
    return Image.fromarray(pixels)


def difference(a: np.ndarray, b: tuple[int, int, int]) -> np.ndarray:
    summed: np.ndarray = np.abs(a.astype(np.int16) - np.asarray(b, np.int16)).sum(-1)
    return summed


@pytest.mark.parametrize("backdrop", list(BACKDROPS))
def test_the_box_shows_all_round_on_any_backdrop_and_touches_nothing_else(backdrop: str) -> None:
    colour = BACKDROPS[backdrop]
    image = Image.new("RGB", (PHOTO_PX, 270), colour)
    rect = (60, 50, 300, 220)
    drawn = np.asarray(draw_box(image, rect))
    core, halo = stroke_px(PHOTO_PX)
    band = core + 2 * halo
    changed = difference(drawn, colour) > 0
    # Along every edge, at every position, some pixel across the line stands out strongly.
    left, top, right, bottom = rect
    reach = band // 2 + 1
    across_top = difference(drawn[top - reach : top + reach, left:right], colour).max(axis=0)
    across_left = difference(drawn[top:bottom, left - reach : left + reach], colour).max(axis=1)
    across_bottom = difference(drawn[bottom - reach : bottom + reach, left:right], colour)
    across_right = difference(drawn[top:bottom, right - reach : right + reach], colour)
    for edge in (across_top, across_left, across_bottom.max(axis=0), across_right.max(axis=1)):
        assert edge.min() >= 200, backdrop
    # Thin: nothing changed farther than the band from the box's edge.
    ys, xs = np.nonzero(changed)
    assert xs.min() >= left - band and xs.max() <= right + band
    assert ys.min() >= top - band and ys.max() <= bottom + band
    inner = changed[top + band : bottom - band, left + band : right - band]
    assert not inner.any(), "the amulet inside the box is left as it was"


def test_the_line_is_thin_where_a_phone_shows_the_photo() -> None:
    # At the width a phone shows the photo, the whole line is a few CSS pixels.
    core, halo = stroke_px(PHOTO_PX)
    css_px = (core + 2 * halo) * SHOWN_WIDTH_PX / PHOTO_PX
    assert 2.0 <= css_px <= 5.0
    assert stroke_px(60) == (1, 1), "never thinner than a pixel"


def test_the_box_lands_on_the_amulet_of_a_photo_turned_by_its_exif() -> None:
    # Stored sideways (EXIF 6: turn 90 degrees clockwise to show): the API's box is in the
    # upright photo's pixels, 3000 x 4000, and so is the page's decode.
    upright_rect = (900, 1200, 2100, 2800)
    upright = scene((3000, 4000), upright_rect)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the camera wrote
    photo = encoded(stored, orientation=6)
    box = PixelBox(900, 1200, 1200, 1600, image_width=3000, image_height=4000)
    shown = located_pictures(photo, "found", box)
    assert shown is not None and shown.boxed
    picture = Image.open(io.BytesIO(shown.photo))
    assert picture.size == (PHOTO_PX * 3 // 4, PHOTO_PX)
    pixels = np.asarray(picture)
    scale = PHOTO_PX * 3 / 4 / 3000
    left, top = round(900 * scale), round(1200 * scale)
    right, bottom = round(2100 * scale), round(2800 * scale)
    # The amber core sits on the edges of the blue region, which is inside the box.
    assert difference(pixels[(top + bottom) // 2, left - 1 : left + 2], BOX_COLOUR).min() < 90
    assert difference(pixels[top - 1 : top + 2, (left + right) // 2], BOX_COLOUR).min() < 90
    middle = pixels[(top + bottom) // 2, (left + right) // 2]
    assert difference(middle[None], (30, 60, 200)).item() < 60

    crop = np.asarray(Image.open(io.BytesIO(shown.crop or b"")))
    assert crop.shape == (224, 224, 3)
    # The crop is the box plus the margin, square: the amulet fills its middle.
    assert difference(crop[112, 112][None], (30, 60, 200)).item() < 60
    long_side = 1600 * (1 + 2 * CROP_MARGIN)
    amulet_columns = 224 * 1200 / long_side
    row = difference(crop[112], (30, 60, 200)) < 90
    assert abs(int(row.sum()) - amulet_columns) <= 4


def test_the_crop_is_the_servers_square_around_the_box() -> None:
    rect = (300, 200, 700, 500)
    picture = decode_picture(encoded(scene((1000, 800), rect)))
    box = PixelBox(300, 200, 400, 300, image_width=1000, image_height=800)
    assert box_in_picture(box, picture) == rect
    crop = np.asarray(judged_crop(picture, box))
    blue = difference(crop, (30, 60, 200)) < 90
    ys, xs = np.nonzero(blue)
    side = 400 * (1 + 2 * CROP_MARGIN)  # the long side and its margins fill 224 px
    assert abs((xs.max() - xs.min() + 1) - 224 * 400 / side) <= 3
    assert abs((ys.max() - ys.min() + 1) - 224 * 300 / side) <= 3
    assert (
        abs((xs.min() + xs.max()) / 2 - 111.5) <= 2 and abs((ys.min() + ys.max()) / 2 - 111.5) <= 2
    )


def _in_crop(mask: np.ndarray, rect: tuple[int, int, int, int], size: int = 224) -> np.ndarray:
    """``mask`` (the picture's pixels) sampled at each pixel centre of the judged crop."""
    left, top, right, _ = crop_square(rect, CROP_MARGIN)
    centres = left + (np.arange(size) + 0.5) * (right - left) / size
    rows = top + (np.arange(size) + 0.5) * (right - left) / size
    xs = np.clip(centres.astype(int), 0, mask.shape[1] - 1)
    ys = np.clip(rows.astype(int), 0, mask.shape[0] - 1)
    inside = (centres >= 0) & (centres < mask.shape[1])
    inside_rows = (rows >= 0) & (rows < mask.shape[0])
    sampled: np.ndarray = mask[ys][:, xs] & inside_rows[:, None] & inside[None, :]
    return sampled


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.filter(ImageFilter.MaxFilter(2 * pixels + 1))) > 0


def test_the_crop_is_greyed_outside_the_mask_as_the_model_read_it() -> None:
    rect = (300, 200, 700, 500)
    picture = decode_picture(encoded(scene((1000, 800), rect)))
    box = PixelBox(300, 200, 400, 300, image_width=1000, image_height=800)
    # The API's mask, at a quarter of the photo (its draft): the amulet's left part only,
    # as if the localiser had cut off its right side.
    mask = np.zeros((200, 250), dtype=bool)
    mask[50:125, 75:140] = True
    greyed = np.asarray(judged_crop(picture, box, mask=mask))
    plain = np.asarray(judged_crop(picture, box))
    on_picture = scaled_mask(mask, picture.image.size)
    far_off = ~_in_crop(_grown(on_picture, 6), rect)
    well_in = _in_crop(~_grown(~on_picture, 6), rect)
    assert far_off.mean() > 0.4 and well_in.mean() > 0.2
    assert (greyed[far_off] == NEUTRAL_BACKGROUND).all(), "outside: the neutral grey exactly"
    assert np.abs(greyed[well_in].astype(int) - plain[well_in]).max() <= 1, "inside: the photo"
    # The cut-off part of the amulet is grey on the page, as the model saw it.
    cut_off = difference(plain, (30, 60, 200)) < 90
    assert (greyed[cut_off & far_off] == NEUTRAL_BACKGROUND).all() and (cut_off & far_off).any()


def test_a_mask_greys_only_a_crop_around_a_found_box() -> None:
    photo = encoded(scene((1000, 800), (300, 200, 700, 500)))
    mask = np.zeros((200, 250), dtype=bool)
    mask[50:125, 75:175] = True
    box = PixelBox(300, 200, 400, 300, image_width=1000, image_height=800)
    found = located_pictures(photo, "found", box, mask=mask)
    plain = located_pictures(photo, "found", box)
    assert found is not None and plain is not None
    assert found.greyed and not plain.greyed and found.crop != plain.crop
    # Judged whole (the box fills the frame): the centre square as the model read it.
    filling = PixelBox(20, 20, 960, 760, image_width=1000, image_height=800)
    whole = located_pictures(photo, "found", filling, mask=mask)
    whole_plain = located_pictures(photo, "found", filling)
    assert whole is not None and whole_plain is not None
    assert whole.whole and not whole.greyed and whole.crop == whole_plain.crop
    # Nothing judged: no crop to grey.
    small = located_pictures(photo, "too_small", box, mask=mask)
    assert small is not None and small.crop is None and not small.greyed


def test_a_box_from_a_smaller_decode_of_the_same_photo_is_scaled() -> None:
    # The page decodes at its own size; the API's box says the size it is in.
    picture = decode_picture(encoded(scene((4000, 3000), (1000, 1000, 3000, 2500))))
    assert picture.image.size == (1000, 750)
    box = PixelBox(1000, 1000, 2000, 1500, image_width=4000, image_height=3000)
    assert box_in_picture(box, picture) == (250, 250, 750, 625)
    outside = PixelBox(3900, 2900, 500, 500, image_width=4000, image_height=3000)
    left, top, right, bottom = box_in_picture(outside, picture)
    assert right <= 1000 and bottom <= 750 and left < right and top < bottom


def test_no_box_is_drawn_where_none_was_found_and_nothing_judged_has_no_crop() -> None:
    plain = Image.new("RGB", (800, 600), (200, 200, 200))
    photo = encoded(plain)
    nothing = located_pictures(photo, "no_amulet", None)
    assert nothing is not None and not nothing.boxed and nothing.crop is None
    assert difference(np.asarray(Image.open(io.BytesIO(nothing.photo))), (200, 200, 200)).max() < 8
    small = PixelBox(380, 280, 40, 40, image_width=800, image_height=600)
    too_small = located_pictures(photo, "too_small", small)
    assert too_small is not None and too_small.boxed and too_small.crop is None
    whole = PixelBox(0, 0, 800, 600, image_width=800, image_height=600)
    judged_whole = located_pictures(photo, "whole_photo", whole)
    assert judged_whole is not None and not judged_whole.boxed
    assert Image.open(io.BytesIO(judged_whole.crop or b"")).size == (224, 224)
    assert located_pictures(b"not a photo", "found", small) is None


@pytest.mark.parametrize("status", RETAKE)
def test_retake_advice_is_concrete_in_both_languages(status: str) -> None:
    for language in ("th", "en"):
        title, what_to_do = advice(status, language)
        assert title and what_to_do and title != what_to_do
    # The advice names the thing to do, not the status.
    said = " ".join(advice(status, "en"))
    expected = {
        "no_amulet": "whole amulet in the frame, on a plain surface",
        "too_small": "Move closer so the amulet fills most of the frame",
        "too_blurred": "tap the amulet on the screen to focus",
    }[status]
    assert expected in said and status not in said
    thai = " ".join(advice(status, "th"))
    assert not any(c.isascii() and c.isalpha() for c in thai)


def test_found_is_not_a_retake() -> None:
    with pytest.raises(KeyError):
        advice("found", "th")
    assert text("retake_side", "en", side="Back", title="x") == "Back: x"
