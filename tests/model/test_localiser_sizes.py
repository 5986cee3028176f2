"""The localiser's free-size letterbox, its input-side rule and the serving path's cost
cuts (greying the crop's square only, no decode that would repeat the draft): on hand-made
grids and pictures, and on the committed graph through onnxruntime."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amulet_ai.imaging.decode import (
    NEUTRAL_BACKGROUND,
    DecodedImage,
    center_square,
    decode_image,
    decode_picture,
)
from amulet_ai.model.localiser import (
    Localiser,
    LocaliserMetadata,
    Location,
    letterbox,
    locate_with,
    square_crop,
)
from amulet_ai.serving.locating import DRAFT_SIDE, decodes_alike, detail_side

FREE = LocaliserMetadata(
    name="test", version="0", size=320, multiple=32, run_size=256, min_sharpness=0.12
)


def _textured(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("size", "side", "shape", "at"),
    [
        ((1000, 750), 256, (192, 256), (0, 0)),  # 4:3: exactly 256 x 192, no grey
        ((750, 1000), 256, (256, 192), (0, 0)),
        ((500, 260), 256, (160, 256), (0, 13)),  # 256 x 133 padded to 160 rows
        ((224, 224), 224, (224, 224), (0, 0)),
    ],
)
def test_a_free_letterbox_keeps_the_pictures_shape_padded_to_the_multiple(
    size: tuple[int, int], side: int, shape: tuple[int, int], at: tuple[int, int]
) -> None:
    boxed = letterbox(Image.new("RGB", size, (255, 255, 255)), side, 32)
    assert boxed.tensor.shape == (3, *shape)
    assert (boxed.left, boxed.top) == at
    assert boxed.tensor[:, shape[0] // 2, shape[1] // 2].min() > 0.99
    if at != (0, 0):
        assert boxed.tensor[:, 0, 0].tolist() == [0.0, 0.0, 0.0]  # padded with the grey


def test_the_input_side_is_the_run_size_or_a_small_pictures_own() -> None:
    assert [FREE.input_side(n) for n in (4000, 500, 257, 224, 200, 64)] == [
        256,
        256,
        256,
        224,
        224,
        192,
    ]
    fixed = LocaliserMetadata(name="test", version="0", size=320)  # a fixed-size graph
    assert [fixed.input_side(n) for n in (4000, 224)] == [320, 320]


def test_both_passes_run_at_the_free_shape_and_the_box_maps_to_the_original() -> None:
    picture = DecodedImage(_textured(1000, 750), 4000, 3000, "JPEG")
    shapes: list[tuple[int, ...]] = []

    def logits(batch: np.ndarray) -> np.ndarray:
        shapes.append(batch.shape)
        grid = np.full((batch.shape[2] // 16, batch.shape[3] // 16), -6.0, np.float32)
        if len(shapes) == 1:
            grid[3:9, 4:12] = 5.0  # 64..192 px across, 48..144 down of 256 x 192
        else:
            grid[4:12, 3:13] = 5.0  # the zoom: 43..213 px across, 64..192 down of 256
        return grid[None]

    location = locate_with(logits, picture, FREE, min_zoom=1.0)
    assert shapes == [(1, 3, 192, 256), (1, 3, 256, 256)]
    assert location.status == "found" and location.box is not None
    box = location.box
    for got, want in ((box.x, 1000), (box.y, 750), (box.width, 2000), (box.height, 1500)):
        assert abs(got - want) <= 0.06 * 4000, (got, want)


def test_the_greyed_crop_equals_greying_the_whole_picture_first() -> None:
    image = _textured(500, 375, seed=3)
    mask = np.zeros((375, 500), bool)
    mask[20:300, 310:499] = True  # near the right edge: the square leaves the picture
    loc = Location("found", None, (310, 20, 499, 300), mask, 1.0)
    greyed = square_crop(DecodedImage(image, 4000, 3000, "JPEG"), loc)
    grey = Image.new("RGB", image.size, NEUTRAL_BACKGROUND)
    whole = Image.composite(image, grey, Image.fromarray(mask.astype(np.uint8) * 255))
    want = square_crop(DecodedImage(whole, 4000, 3000, "JPEG"), loc, grey_outside=False)
    assert np.array_equal(np.asarray(greyed), np.asarray(want))


def test_no_finer_decode_is_asked_of_a_photo_decoded_at_full_size() -> None:
    from amulet_ai.model.localiser import Box

    small = DecodedImage(_textured(224, 224), 224, 224, "JPEG")
    box = Box(x=30, y=30, width=150, height=160, image_width=224, image_height=224)
    location = Location("found", box, (30, 30, 180, 190), None, 1.0)
    assert detail_side(location, small, 224) is None  # the crop is 186 px, but all there is
    draft = DecodedImage(_textured(500, 375), 4000, 3000, "JPEG")
    far = Box(x=1800, y=1300, width=400, height=400, image_width=4000, image_height=3000)
    tiny = Location("found", far, (225, 162, 275, 212), None, 1.0)
    need = detail_side(tiny, draft, 224)
    assert need is not None and 375 < need < 3000


def test_the_committed_graph_answers_one_cell_per_16_px_at_every_free_shape(
    model_dir: Path,
) -> None:
    localiser = Localiser.load(model_dir)
    meta = localiser.metadata
    assert meta.multiple == 32 and meta.input_side(4000) == meta.run_size
    for height, width in ((192, 256), (256, 192), (224, 224), (320, 320)):
        out = localiser.logits(np.zeros((1, 3, height, width), np.float32))
        assert out.shape == (1, height // 16, width // 16)


@pytest.mark.parametrize(
    ("size", "fmt", "alike"),
    [
        ((224, 224), "JPEG", True),  # a tight photo: the draft is the photo itself
        ((300, 400), "PNG", True),
        ((460, 460), "JPEG", False),  # the draft is full size, the 224 px decode a half
        ((1000, 750), "JPEG", True),  # both at half scale, 500 x 375
        ((4000, 3000), "JPEG", True),  # 12 MP: both at an eighth
        ((1500, 1000), "PNG", False),  # the draft is the full raster reduced
    ],
)
def test_a_whole_photo_is_taken_from_the_draft_only_where_the_decode_would_match(
    size: tuple[int, int], fmt: str, alike: bool
) -> None:
    buf = io.BytesIO()
    _textured(*size, seed=5).save(buf, fmt)
    data = buf.getvalue()
    draft = decode_picture(data, min_side=DRAFT_SIDE)
    assert decodes_alike(draft, 224) is alike
    if alike:
        whole = center_square(draft.image, 224)
        assert np.array_equal(np.asarray(whole), np.asarray(decode_image(data).image))
