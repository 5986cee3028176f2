"""decode_draft_and_detail: one decode giving the localiser's draft and the crop's detail,
each the size decode_picture gives alone, within the pixel ceiling and memory bound."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from amulet_ai.errors import ImageTooLarge
from amulet_ai.imaging.decode import decode_draft_and_detail, decode_picture


def _photo(width: int, height: int, fmt: str = "JPEG", **save: object) -> bytes:
    """A textured photo (smooth gradients plus grain), so that scales differ in detail."""
    rng = np.random.default_rng(width * 7 + height)
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    base = 255 * np.concatenate([x * np.ones_like(y), y * np.ones_like(x), (x + y) / 2], axis=2)
    pixels = np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("size", "fmt"),
    [
        ((4000, 3000), "JPEG"),  # draft 1/8, detail 1/4
        ((3264, 2448), "JPEG"),  # 8 MP: the same
        ((1600, 1200), "JPEG"),  # 2 MP: draft 1/4, detail 1/2
        ((1152, 864), "JPEG"),  # 1 MP: a full decode would be the detail; both at 1/2
        ((224, 224), "JPEG"),  # a tight photo: both the photo itself
        ((1500, 1000), "PNG"),  # no draft mode: the full raster reduced, as alone
    ],
)
def test_each_picture_has_the_size_the_single_decode_gives(size: tuple[int, int], fmt: str) -> None:
    data = _photo(*size, fmt=fmt)
    draft, detail = decode_draft_and_detail(data, draft_side=240, detail_side=480)
    alone = decode_picture(data, min_side=240)
    assert draft.image.size == alone.image.size
    assert (draft.width, draft.height, draft.format) == (alone.width, alone.height, fmt)
    assert (detail.width, detail.height) == size
    if size == (1152, 864):
        assert detail.image.size == draft.image.size  # never a full decode of a 1 MP photo
    else:
        assert detail.image.size == decode_picture(data, min_side=480).image.size
    a, b = np.asarray(draft.image, np.int16), np.asarray(alone.image, np.int16)
    if fmt == "PNG" or size == (224, 224) or size == (1152, 864):
        assert np.array_equal(a, b)  # read from the same raster
    else:  # the finer DCT scale reduced against the coarser DCT scale
        assert np.abs(a - b).mean() < 1.5 and np.abs(a - b).max() <= 12


def test_a_turned_photo_gives_both_pictures_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _photo(4000, 3000, exif=exif.tobytes())
    draft, detail = decode_draft_and_detail(data, draft_side=240, detail_side=480)
    assert (draft.image.size, detail.image.size) == ((375, 500), (750, 1000))
    assert (detail.width, detail.height) == (3000, 4000)


def test_the_memory_bound_drops_the_finer_decode_then_refuses() -> None:
    data = _photo(4000, 3000)
    # RGB (4 bytes a pixel in Pillow) at 1/4: 1000 x 750 x 4 bytes = 2.9 MB; at 1/8: 0.72 MB.
    draft, detail = decode_draft_and_detail(
        data, draft_side=240, detail_side=480, max_decode_mb=1.0
    )
    assert draft.image.size == detail.image.size == (500, 375)
    assert decode_draft_and_detail(data, draft_side=240, detail_side=480, max_decode_mb=3.5)[
        1
    ].image.size == (1000, 750)
    with pytest.raises(ImageTooLarge):
        decode_draft_and_detail(data, draft_side=240, detail_side=480, max_decode_mb=0.3)


def test_the_pixel_ceiling_holds() -> None:
    with pytest.raises(ImageTooLarge):
        decode_draft_and_detail(
            _photo(2000, 1500), draft_side=240, detail_side=480, max_pixels=1_000_000
        )
