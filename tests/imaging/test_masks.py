"""The localiser's mask as a PNG data URL: written small, read back exactly, bad input refused."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from amulet_ai.imaging.masks import (
    PNG_DATA_URL,
    mask_data_url,
    mask_from_data_url,
    mask_png,
    scaled_mask,
)


def _blob(width: int = 500, height: int = 375) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.asarray(((xx - 260) / 120) ** 2 + ((yy - 180) / 150) ** 2 < 1, dtype=bool)


def test_a_draft_mask_is_a_one_bit_png_of_a_few_hundred_bytes_read_back_exactly() -> None:
    mask = _blob()
    png = mask_png(mask)
    assert Image.open(io.BytesIO(png)).mode == "1"
    assert len(png) < 2_000
    url = mask_data_url(mask)
    assert url.startswith(PNG_DATA_URL)
    assert np.array_equal(mask_from_data_url(url), mask)


def test_a_greyscale_png_reads_at_half_way() -> None:
    grey = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "PNG")
    url = PNG_DATA_URL + base64.b64encode(buffer.getvalue()).decode()
    assert mask_from_data_url(url).tolist() == [[False, False, True, True]]


@pytest.mark.parametrize(
    "url",
    [
        "data:image/jpeg;base64,AAAA",
        PNG_DATA_URL + "not base64!",
        PNG_DATA_URL + base64.b64encode(b"GIF89a" + bytes(32)).decode(),
    ],
)
def test_what_is_not_a_png_mask_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        mask_from_data_url(url)


def test_scaling_keeps_the_shape_and_where_it_lies() -> None:
    mask = _blob()
    big = scaled_mask(mask, (2000, 1500))
    assert big.shape == (1500, 2000)
    assert big[720, 1040] and not big[10, 10]
    assert abs(big.mean() - mask.mean()) < 0.01
