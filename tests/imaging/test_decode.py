"""Decoding real and hostile files: every case is an image made here, in the test."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from amulet_ai.errors import CorruptImage, ImageTooLarge, UnsupportedMediaType
from amulet_ai.imaging.decode import (
    NEUTRAL_BACKGROUND,
    decode_footprint,
    decode_image,
    load_path,
    to_tensor,
)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def two_tone(width: int = 300, height: int = 200) -> Image.Image:
    """Left half red, right half blue: orientation shows in where the colours land."""
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, : width // 2] = (220, 20, 20)
    arr[:, width // 2 :] = (20, 20, 220)
    return Image.fromarray(arr)


def centre_pixel(data: bytes) -> tuple[int, int, int]:
    px = decode_image(data).image.getpixel((112, 112))
    assert isinstance(px, tuple)
    return (int(px[0]), int(px[1]), int(px[2]))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_supported_formats_decode_to_model_size(fmt: str) -> None:
    decoded = decode_image(encode(two_tone(), fmt))
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (224, 224)
    assert (decoded.width, decoded.height) == (300, 200)
    assert decoded.format == fmt


def test_format_is_decided_by_content_not_name() -> None:
    # PNG bytes in a file called .jpg are a PNG; HTML called .jpg is refused.
    assert decode_image(encode(two_tone(), "PNG")).format == "PNG"
    with pytest.raises(UnsupportedMediaType):
        decode_image(b"<!DOCTYPE html><html><body>not a photo</body></html>")


def test_exif_orientation_is_applied() -> None:
    img = two_tone(300, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    data = encode(img, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_image(data)
    assert (decoded.width, decoded.height) == (200, 300)
    arr = np.asarray(decoded.image, np.int32)
    top, bottom = arr[10, 112], arr[-10, 112]
    # After a clockwise turn, the left (red) half is on top.
    assert top[0] > 150 > top[2]
    assert bottom[2] > 150 > bottom[0]


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (240, 240), (0, 255, 255, 0))  # pure red in CMYK
    r, g, b = centre_pixel(encode(cmyk, "JPEG", quality=95))
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_grey_png_keeps_its_range() -> None:
    arr = np.full((240, 240), 32768, dtype=np.uint16)  # mid grey in 16 bits
    data = encode(Image.fromarray(arr), "PNG")
    r, g, b = centre_pixel(data)
    assert r == g == b
    assert 120 <= r <= 135  # Pillow's own convert would have clipped this to 255


def test_palette_with_transparency_is_flattened_on_neutral_grey() -> None:
    img = Image.new("P", (240, 240), 0)
    img.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    data = encode(img, "PNG", transparency=0)
    assert centre_pixel(data) == NEUTRAL_BACKGROUND


def test_rgba_half_transparent_blends_with_the_background() -> None:
    data = encode(Image.new("RGBA", (240, 240), (255, 255, 255, 0)), "PNG")
    assert centre_pixel(data) == NEUTRAL_BACKGROUND
    opaque = encode(Image.new("RGBA", (240, 240), (10, 200, 30, 255)), "PNG")
    assert centre_pixel(opaque) == (10, 200, 30)


@pytest.mark.parametrize("mode", ["L", "LA", "1", "I;16"])
def test_other_modes_become_rgb(mode: str) -> None:
    img = Image.new(mode, (240, 240), 1 if mode in ("1",) else 100)
    decoded = decode_image(encode(img, "PNG"))
    assert decoded.image.mode == "RGB"


def test_animated_image_uses_first_frame() -> None:
    frames = [Image.new("RGB", (240, 240), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    r, g, b = centre_pixel(buf.getvalue())
    assert r > 200 and b < 50


def test_truncated_files_are_corrupt() -> None:
    jpeg = encode(two_tone(640, 480), "JPEG")
    png = encode(two_tone(640, 480), "PNG")
    for data in (jpeg[: len(jpeg) // 2], png[: len(png) // 2]):
        with pytest.raises(CorruptImage):
            decode_image(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 64, np.random.default_rng(7).bytes(4096), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"],
    ids=["empty", "zeros", "random", "pdf"],
)
def test_non_images_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_image(data)


def test_gif_is_not_a_supported_format() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_image(encode(two_tone(), "GIF"))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size, with a tiny compressed body."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # Far past Pillow's own guard, and past ours only.
    with pytest.raises(ImageTooLarge):
        decode_image(_png_header_only(50_000, 50_000))
    with pytest.raises(ImageTooLarge) as info:
        decode_image(_png_header_only(10_000, 10_000))
    assert info.value.details == {"width": 10_000, "height": 10_000, "max_pixels": 50_000_000}


def test_pixel_ceiling_is_configurable() -> None:
    data = encode(two_tone(300, 200), "PNG")
    with pytest.raises(ImageTooLarge):
        decode_image(data, max_pixels=300 * 200 - 1)
    assert decode_image(data, max_pixels=300 * 200).width == 300


def test_large_jpeg_draft_decode_matches_full_decode() -> None:
    yy, xx = np.mgrid[0:3000, 0:4000]
    arr = np.stack([(xx // 16) % 256, (yy // 12) % 256, ((xx + yy) // 28) % 256], -1)
    data = encode(Image.fromarray(arr.astype(np.uint8)), "JPEG", quality=90)
    fast = decode_image(data, draft=True)
    full = decode_image(data, draft=False)
    assert (fast.width, fast.height) == (full.width, full.height) == (4000, 3000)
    diff = np.abs(np.asarray(fast.image, np.int32) - np.asarray(full.image, np.int32))
    assert diff.mean() < 8


def test_to_tensor_scales_like_efficientnet_lite() -> None:
    img = Image.new("RGB", (224, 224), (127, 255, 0))
    tensor = to_tensor(img)
    assert tensor.dtype == np.float32 and tensor.shape == (3, 224, 224)
    assert tensor[0, 0, 0] == 0.0
    assert tensor[1, 0, 0] == pytest.approx(1.0)
    assert tensor[2, 0, 0] == pytest.approx(-127 / 128)


def test_load_path_reads_files(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "photo.heic"  # type: ignore[operator]
    path.write_bytes(encode(two_tone(), "HEIF"))
    assert load_path(path).format == "HEIF"


def test_decode_footprint_bounds_one_decode_by_its_own_header() -> None:
    # A 16-bit greyscale PNG goes through a float copy: 2 + 8 + 1 + 4 bytes per pixel.
    buf = io.BytesIO()
    Image.fromarray(np.full((600, 800), 40000, dtype=np.uint16)).save(buf, "PNG")
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as img:
        assert decode_footprint(img) == 600 * 800 * (2 + 8 + 1 + 4)
    needed_mb = 600 * 800 * 15 / (1024 * 1024)
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, max_decode_mb=needed_mb * 0.9)
    assert caught.value.details["needed_mb"] == round(needed_mb, 1)
    assert decode_image(data, max_decode_mb=needed_mb * 1.1).width == 800


def test_decode_footprint_of_a_jpeg_is_taken_after_draft() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), "red").save(buf, "JPEG")
    # 12 MP at full size would need 36 MB; drafted for 224 px it decodes at 1/8 scale.
    assert decode_image(buf.getvalue(), max_decode_mb=2).width == 4000
