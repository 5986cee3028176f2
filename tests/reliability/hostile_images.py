"""Image bytes for the hostile corpus, built on the spot and cheap to build.

Valid photos of every odd kind (1x1, CMYK, 16-bit, animated, huge EXIF) come from Pillow;
the broken and malicious ones (header bombs, decompression bombs, bad checksums, text
bombs) are written chunk by chunk, so a "20000x20000" PNG costs a few hundred bytes and a
decompression bomb is compressed row by row without ever holding its inflated size.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def photo_array(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB picture (gradients), deterministic per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    fx, fy = rng.uniform(1.0, 4.0, size=2)
    red = 127 + 100 * np.sin(xx / max(width, 1) * fx * 6.28)
    green = 127 + 100 * np.cos(yy / max(height, 1) * fy * 6.28)
    blue = (red + green) / 2
    picture: np.ndarray = np.clip(np.stack([red, green, blue], -1), 0, 255).astype(np.uint8)
    return picture


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg(width: int = 96, height: int = 72, *, seed: int = 0, **options: object) -> bytes:
    """A valid baseline JPEG."""
    return encode(Image.fromarray(photo_array(width, height, seed)), "JPEG", quality=85, **options)


def png(width: int = 96, height: int = 72, *, seed: int = 0) -> bytes:
    """A valid RGB PNG."""
    return encode(Image.fromarray(photo_array(width, height, seed)), "PNG")


# --- PNG written by hand ----------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes, *, crc: int | None = None) -> bytes:
    """One PNG chunk; ``crc`` overrides the correct checksum (to break it)."""
    checksum = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum & 0xFFFFFFFF)


def ihdr(width: int, height: int, *, bit_depth: int = 8, color_type: int = 2) -> bytes:
    return png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    )


def zero_rows(width: int, height: int, bytes_per_pixel: int, *, rows: int | None = None) -> bytes:
    """zlib stream of ``rows`` (default all) scanlines of zeros, compressed row by row."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * bytes_per_pixel)  # filter byte + pixels
    out = [compressor.compress(row) for _ in range(height if rows is None else rows)]
    out.append(compressor.flush())
    return b"".join(out)


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` and whose data is one empty row."""
    return (
        PNG_SIGNATURE
        + ihdr(width, height)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + png_chunk(b"IEND", b"")
    )


def png_zero_bomb(width: int, height: int, *, color_type: int = 0) -> bytes:
    """A complete, valid PNG of zeros: a few kB on the wire, ``width * height`` pixels inflated."""
    channels = {0: 1, 2: 3}[color_type]
    return (
        PNG_SIGNATURE
        + ihdr(width, height, color_type=color_type)
        + png_chunk(b"IDAT", zero_rows(width, height, channels))
        + png_chunk(b"IEND", b"")
    )


def png_with_chunks(extra: list[bytes], *, width: int = 32, height: int = 24) -> bytes:
    """A valid small PNG with ``extra`` chunks inserted before its data."""
    return (
        PNG_SIGNATURE
        + ihdr(width, height)
        + b"".join(extra)
        + png_chunk(b"IDAT", zero_rows(width, height, 3))
        + png_chunk(b"IEND", b"")
    )


def png_text_bomb(kind: bytes = b"zTXt", inflated_mb: int = 64) -> bytes:
    """A PNG with a compressed text (or ICC profile) chunk that inflates to ``inflated_mb``."""
    compressor = zlib.compressobj(9)
    block = b"\x00" * (1024 * 1024)
    stream = b"".join(compressor.compress(block) for _ in range(inflated_mb)) + compressor.flush()
    # zTXt and iCCP alike: a keyword/name, a NUL, the compression method (0), the data.
    return png_with_chunks([png_chunk(kind, b"Comment\x00\x00" + stream)])


def png_16bit_rgb(width: int = 40, height: int = 30) -> bytes:
    """A 48-bit (16 bits per channel) RGB PNG."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += struct.pack(">HHH", x * 1500, y * 2000, 40000)
    return (
        PNG_SIGNATURE
        + ihdr(width, height, bit_depth=16, color_type=2)
        + png_chunk(b"IDAT", zlib.compress(bytes(rows)))
        + png_chunk(b"IEND", b"")
    )


# --- JPEG patched by hand ---------------------------------------------------------------


def jpeg_with_size(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is patched to claim another size."""
    data = bytearray(jpeg(16, 16))
    sof = data.find(b"\xff\xc0")
    if sof < 0:
        raise ValueError("no baseline frame header found")
    # FF C0, length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_app1(payload: bytes) -> bytes:
    """A valid JPEG with an extra APP1 segment right after SOI (at most 65533 bytes)."""
    base = jpeg(64, 48)
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return base[:2] + segment + base[2:]


def exif_blob(entries: list[tuple[int, int, int, bytes]], *, ifd_offset: int = 8) -> bytes:
    """``Exif\\0\\0`` + a little-endian TIFF header + one IFD of (tag, type, count, value)."""
    count = len(entries)
    data_start = ifd_offset + 2 + 12 * count + 4
    ifd = struct.pack("<H", count)
    tail = b""
    for tag, kind, n, value in entries:
        if len(value) <= 4:
            ifd += struct.pack("<HHI", tag, kind, n) + value.ljust(4, b"\x00")
        else:
            ifd += struct.pack("<HHII", tag, kind, n, data_start + len(tail))
            tail += value
    ifd += struct.pack("<I", 0)
    header = b"II*\x00" + struct.pack("<I", ifd_offset)
    return b"Exif\x00\x00" + header.ljust(ifd_offset, b"\x00") + ifd + tail


def jpeg_huge_exif() -> bytes:
    """A valid JPEG carrying the largest EXIF segment JPEG allows (64 kB of UserComment)."""
    comment = b"ASCII\x00\x00\x00" + b"A" * 65000
    return jpeg_with_app1(exif_blob([(0x9286, 7, len(comment), comment)]))


def jpeg_exif_orientation(value: int) -> bytes:
    return jpeg_with_app1(exif_blob([(0x0112, 3, 1, struct.pack("<H", value))]))


def jpeg_exif_loop() -> bytes:
    """EXIF whose ExifIFD pointer points back at its own IFD (a reference loop)."""
    return jpeg_with_app1(exif_blob([(0x8769, 4, 1, struct.pack("<I", 8))]))


def jpeg_exif_out_of_range() -> bytes:
    """EXIF whose entry claims a value far outside the segment."""
    entry = struct.pack("<HHII", 0x010F, 2, 4_000_000_000, 0x7FFFFFF0)
    body = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    return jpeg_with_app1(b"Exif\x00\x00" + body)


# --- valid but odd ----------------------------------------------------------------------


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (64, 48), (10, 200, 30, 0)), "JPEG")


def strip(fmt: str, width: int, height: int) -> bytes:
    """A one-colour picture of an extreme aspect ratio (a few kB whatever its length)."""
    return encode(Image.new("RGB", (width, height), (150, 120, 60)), fmt)


def gray16_png() -> bytes:
    ramp = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def frames(count: int = 3) -> list[Image.Image]:
    return [Image.new("RGB", (48, 48), (60 * i, 90, 200 - 50 * i)) for i in range(count)]


def animated(fmt: str) -> bytes:
    first, *rest = frames()
    return encode(first, fmt, save_all=True, append_images=rest, duration=100, loop=0)


def palette_png_with_transparency() -> bytes:
    img = Image.new("P", (40, 30), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return encode(img, "PNG", transparency=0)


def webp_canvas_bomb() -> bytes:
    """A WebP whose extended header (VP8X) declares a 16384 x 16384 canvas."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (16383).to_bytes(3, "little") + (16383).to_bytes(3, "little")
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def heic_ftyp_only() -> bytes:
    """Just the ``ftyp`` box of an HEIC file."""
    ftyp = b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    return struct.pack(">I", len(ftyp) + 4) + ftyp


def other_format(fmt: str) -> bytes:
    """A valid image in a format the API does not take (GIF, BMP, TIFF, ICO)."""
    return encode(Image.fromarray(photo_array(32, 32)), fmt)


ImageMaker = Callable[[], bytes]
