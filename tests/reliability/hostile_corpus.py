"""The hostile-input corpus: requests built to break the API, each with the answer it must get.

Every case is generated here (nothing is stored): broken and malicious images, files posing
as images, malformed multipart bodies, protocol abuse (lying Content-Length, over-size
chunked bodies, a stalled upload) and bad query values. Each names the exact status and
stable error ``code`` it must get; valid-but-odd photos (1x1, CMYK, 16-bit, animated, huge
EXIF) must get 200, which ``expect_code=None`` says.

The rules the expectations follow:

* no supported format recognisable in the bytes: 415 ``unsupported_media_type``;
* a supported format (by its magic number) whose data is damaged: 400 ``corrupt_image``;
* more pixels than ``AMULET_MAX_IMAGE_PIXELS`` (50 MP): 413 ``image_too_large``, before
  decoding; more bytes than the upload ceiling: 413 ``payload_too_large``;
* not ``multipart/form-data`` nor, on ``/v1/predict``, one photo as the raw body with an
  image media type: 415; a malformed or unfinished body: 400 ``invalid_input``;
* a missing, unknown or repeated field or a bad query value: 422 ``validation_error``;
* a JSON body that is not JSON: 422 ``validation_error``; one that is JSON-like but cannot
  be parsed (nested past the recursion limit, a 5,000-digit number, not UTF-8): 400
  ``invalid_input``;
* an upload that stalls: 408 ``request_timeout`` once the body read timeout passes;
* a request the HTTP parser refuses (two Content-Lengths, an unknown Transfer-Encoding or
  method, a URL over its limit): 400 ``invalid_input``, before the app sees it.

Run it to write the corpus to a folder (one ``.body`` file per request body plus
``manifest.json`` with the request line, headers and expected answer)::

    python tests/reliability/hostile_corpus.py /tmp/hostile
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import hostile_images as img
from PIL import Image

BOUNDARY = "amulet-hostile-7f3a"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
UPLOAD_CEILING_MB = 20  # the server's AMULET_MAX_UPLOAD_MB in the corpus run (the default)
ADMIN_KEY = "hostile-corpus-admin-key"  # the server's AMULET_ADMIN_KEY in the corpus run
_MB = 1024 * 1024

SendMode = Literal["plain", "chunked", "declared", "expect", "stall"]


@dataclass(frozen=True)
class HostileCase:
    """One hostile request and the one answer it must get.

    ``body`` builds the request body on demand (an iterable of pieces, so over-size bodies
    are never held whole). ``mode`` says how it is sent: ``plain`` with Content-Length,
    ``chunked`` without, ``declared`` with a Content-Length that lies, ``expect`` with
    ``Expect: 100-continue``, ``stall`` sending part of the body and then nothing.
    """

    name: str
    what: str
    expect_status: int
    expect_code: str | None
    body: Callable[[], Iterable[bytes]]
    path: str = "/v1/predict"
    method: str = "POST"
    query: str = ""
    content_type: str | None = MULTIPART
    headers: tuple[tuple[str, str], ...] = ()
    mode: SendMode = "plain"
    declared_length: int | None = None
    group: str = "image"
    finite: bool = field(default=True)
    # For a batch answered 200: each file's error code in order (None: classified).
    expect_items: tuple[str | None, ...] | None = None

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


# --- multipart by hand ------------------------------------------------------------------


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def part(
    name: bytes | str | None,
    content: bytes,
    *,
    filename: bytes | str | None = b"photo.jpg",
    content_type: bytes | None = b"image/jpeg",
    extra: Iterable[bytes] = (),
) -> bytes:
    """One multipart part; names and file names may be any bytes."""
    disposition = b"Content-Disposition: form-data"
    if name is not None:
        disposition += b'; name="' + _bytes(name) + b'"'
    if filename is not None:
        disposition += b'; filename="' + _bytes(filename) + b'"'
    lines = [disposition]
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    lines.extend(extra)
    return b"\r\n".join(lines) + b"\r\n\r\n" + content


def form(*parts: bytes, boundary: str = BOUNDARY, close: bool = True) -> bytes:
    """A multipart body of ``parts``, with the closing boundary unless ``close`` is false."""
    dash = b"--" + boundary.encode("ascii")
    body = b"".join(dash + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (dash + b"--\r\n" if close else b"")


def front(content: bytes, **options: object) -> Callable[[], Iterable[bytes]]:
    """A body with one ``front`` file part (built lazily)."""
    return lambda: [form(part("front", content, **options))]  # type: ignore[arg-type]


def lazy_front(make: Callable[[], bytes]) -> Callable[[], Iterable[bytes]]:
    return lambda: [form(part("front", make()))]


def _flood(
    prefix: bytes, total: int, suffix: bytes = b"", piece: int = 256 * 1024
) -> Iterator[bytes]:
    yield prefix
    sent = 0
    block = b"A" * piece
    while sent < total:
        yield block[: min(piece, total - sent)]
        sent += piece
    yield suffix


def _random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# --- the cases --------------------------------------------------------------------------


def _content_cases() -> list[HostileCase]:
    """Files in a well-formed form: what the bytes are decides the answer."""
    u, c, t, ok = "unsupported_media_type", "corrupt_image", "image_too_large", None

    def case(
        name: str, what: str, status: int, code: str | None, make: Callable[[], bytes]
    ) -> HostileCase:
        return HostileCase(name, what, status, code, lazy_front(make), group="image")

    jpeg_full = img.jpeg()
    png_full = img.png()
    return [
        case("empty_file", "a zero-byte file", 415, u, lambda: b""),
        case("one_byte", "a single byte", 415, u, lambda: b"\xff"),
        case("random_1k", "1 kB of random bytes", 415, u, lambda: _random(1024, 1)),
        case("random_1m", "1 MB of random bytes", 415, u, lambda: _random(_MB, 2)),
        case("zeros_64k", "64 kB of zero bytes", 415, u, lambda: b"\x00" * 65536),
        case(
            "jpeg_truncated_half",
            "a JPEG cut in half",
            400,
            c,
            lambda: jpeg_full[: len(jpeg_full) // 2],
        ),
        case(
            "jpeg_truncated_soi",
            "only the JPEG start marker FF D8 FF",
            400,
            c,
            lambda: jpeg_full[:3],
        ),
        case(
            "jpeg_truncated_header",
            "a JPEG cut inside its headers (20 bytes)",
            400,
            c,
            lambda: jpeg_full[:20],
        ),
        case(
            "jpeg_zero_width",
            "a JPEG frame header claiming width 0",
            400,
            c,
            lambda: img.jpeg_with_size(0, 16),
        ),
        case(
            "png_truncated_half",
            "a PNG cut in half",
            400,
            c,
            lambda: png_full[: len(png_full) // 2],
        ),
        case("png_signature_only", "only the 8-byte PNG signature", 400, c, lambda: png_full[:8]),
        case(
            "png_truncated_ihdr", "a PNG cut inside its IHDR chunk", 400, c, lambda: png_full[:20]
        ),
        case(
            "png_bad_header_crc",
            "a PNG whose IHDR checksum is wrong",
            400,
            c,
            lambda: (
                img.PNG_SIGNATURE
                + img.ihdr(10, 10)[:-4]
                + b"\0\0\0\0"
                + img.png_chunk(b"IEND", b"")
            ),
        ),
        case(
            "png_zero_width",
            "a PNG header claiming width 0",
            400,
            c,
            lambda: img.PNG_SIGNATURE + img.ihdr(0, 10) + img.png_chunk(b"IEND", b""),
        ),
        case("heic_ftyp_only", "only the ftyp box of a HEIC file", 400, c, img.heic_ftyp_only),
        case(
            "wrong_magic_png",
            "a PNG whose signature has one byte changed",
            415,
            u,
            lambda: b"\x89PNX" + png_full[4:],
        ),
        case(
            "wrong_magic_jpeg",
            "a JPEG with one junk byte in front",
            415,
            u,
            lambda: b"\x00" + jpeg_full,
        ),
        case(
            "html_as_jpeg",
            "an HTML page named photo.jpg, sent as image/jpeg",
            415,
            u,
            lambda: b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        ),
        case(
            "svg_as_image",
            "an SVG with an XML entity bomb",
            415,
            u,
            lambda: (
                b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                b'<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>'
            ),
        ),
        case(
            "pdf_as_image",
            "a PDF header",
            415,
            u,
            lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n",
        ),
        case(
            "zip_as_image",
            "a zip archive",
            415,
            u,
            lambda: b"PK\x03\x04" + b"\x14\x00" + _random(512, 3),
        ),
        case(
            "elf_as_image",
            "an ELF executable header",
            415,
            u,
            lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 57,
        ),
        case("json_as_image", "a JSON document", 415, u, lambda: b'{"front": "photo.jpg"}'),
        case(
            "gif_animated",
            "an animated GIF (a format the API does not take)",
            415,
            u,
            lambda: img.animated("GIF"),
        ),
        case("bmp", "a valid BMP", 415, u, lambda: img.other_format("BMP")),
        case("tiff", "a valid TIFF", 415, u, lambda: img.other_format("TIFF")),
        case("ico", "a valid ICO", 415, u, lambda: img.other_format("ICO")),
        case(
            "png_header_bomb_20000",
            "a 74-byte PNG claiming 20000x20000",
            413,
            t,
            lambda: img.png_header_bomb(20000, 20000),
        ),
        case(
            "png_header_bomb_2g_wide",
            "a PNG claiming 2147483647x1",
            413,
            t,
            lambda: img.png_header_bomb(2**31 - 1, 1),
        ),
        case(
            "jpeg_header_bomb_20000",
            "a JPEG frame header claiming 20000x20000",
            413,
            t,
            lambda: img.jpeg_with_size(20000, 20000),
        ),
        case(
            "jpeg_header_bomb_65535",
            "a JPEG frame header claiming 65535x65535",
            413,
            t,
            lambda: img.jpeg_with_size(65535, 65535),
        ),
        case(
            "png_decompression_bomb_100mp",
            "97 kB of PNG that inflates to 10000x10000 (100 MP)",
            413,
            t,
            lambda: img.png_zero_bomb(10000, 10000),
        ),
        case(
            "webp_canvas_bomb",
            "a WebP header declaring a 16384x16384 canvas",
            413,
            t,
            img.webp_canvas_bomb,
        ),
        case(
            "webp_49mp",
            "a 130 kB WebP of 7000x7000 (under the pixel ceiling; its decoder would hold 750 MB)",
            413,
            t,
            lambda: img.encode(Image.new("RGB", (7000, 7000), (150, 120, 60)), "WEBP", method=0),
        ),
        case(
            "png_ztxt_bomb",
            "a PNG text chunk that inflates to 64 MB",
            400,
            c,
            lambda: img.png_text_bomb(b"zTXt", 64),
        ),
        case(
            "png_iccp_bomb",
            "a PNG ICC profile that inflates to 64 MB",
            400,
            c,
            lambda: img.png_text_bomb(b"iCCP", 64),
        ),
        # Valid but odd: these are photos, and the API must answer them.
        case(
            "png_decompression_bomb_49mp",
            "48 kB of PNG that inflates to 7000x7000 grey (under the 50 MP ceiling)",
            200,
            ok,
            lambda: img.png_zero_bomb(7000, 7000),
        ),
        case(
            "jpeg_claims_7000_has_16",
            "a JPEG claiming 7000x7000 with 16x16 of data (libjpeg pads it)",
            200,
            ok,
            lambda: img.jpeg_with_size(7000, 7000),
        ),
        case("one_by_one_png", "a 1x1 PNG", 200, ok, lambda: img.png(1, 1)),
        case(
            "png_strip_1x20000",
            "a 6 kB 1x20000 PNG strip (enlarged whole it would be 3 GB)",
            200,
            ok,
            lambda: img.strip("PNG", 1, 20000),
        ),
        case(
            "jpeg_strip_1x65500",
            "a 1x65500 JPEG strip, the tallest JPEG allows",
            200,
            ok,
            lambda: img.strip("JPEG", 1, 65500),
        ),
        case(
            "png_strip_65500x2",
            "a 65500x2 PNG strip",
            200,
            ok,
            lambda: img.strip("PNG", 65500, 2),
        ),
        case("one_by_one_jpeg", "a 1x1 JPEG", 200, ok, lambda: img.jpeg(1, 1)),
        case("cmyk_jpeg", "a CMYK JPEG", 200, ok, img.cmyk_jpeg),
        case("gray16_png", "a 16-bit greyscale PNG", 200, ok, img.gray16_png),
        case("rgb48_png", "a 16-bit-per-channel RGB PNG", 200, ok, img.png_16bit_rgb),
        case(
            "animated_png",
            "an animated PNG (the first frame is used)",
            200,
            ok,
            lambda: img.animated("PNG"),
        ),
        case(
            "animated_webp",
            "an animated WebP (the first frame is used)",
            200,
            ok,
            lambda: img.animated("WEBP"),
        ),
        case(
            "palette_transparent_png",
            "a palette PNG with transparency",
            200,
            ok,
            img.palette_png_with_transparency,
        ),
        case("jpeg_huge_exif", "a JPEG with a 64 kB EXIF segment", 200, ok, img.jpeg_huge_exif),
        case(
            "jpeg_exif_orientation_9",
            "EXIF orientation 9 (out of range)",
            200,
            ok,
            lambda: img.jpeg_exif_orientation(9),
        ),
        case(
            "jpeg_exif_ifd_loop",
            "EXIF whose sub-IFD points back at itself",
            200,
            ok,
            img.jpeg_exif_loop,
        ),
        case(
            "jpeg_exif_out_of_range",
            "EXIF entry claiming 4 GB outside the segment",
            200,
            ok,
            img.jpeg_exif_out_of_range,
        ),
        case(
            "png_5mb_exif",
            "a PNG with a 5 MB eXIf chunk",
            200,
            ok,
            lambda: img.png_with_chunks(
                [
                    img.png_chunk(
                        b"eXIf", img.exif_blob([(0x9286, 7, 5_000_000, b"A" * 5_000_000)])[6:]
                    )
                ]
            ),
        ),
        case(
            "png_20000_text_chunks",
            "a PNG with 20,000 tEXt chunks",
            200,
            ok,
            lambda: img.png_with_chunks(
                [img.png_chunk(b"tEXt", b"k\x00" + b"v" * 10) for _ in range(20000)]
            ),
        ),
        case(
            "png_idat_bad_crc",
            "a PNG whose data chunk checksum is wrong (Pillow does not check it)",
            200,
            ok,
            lambda: (
                img.PNG_SIGNATURE
                + img.ihdr(10, 10)
                + img.png_chunk(b"IDAT", img.zero_rows(10, 10, 3), crc=1)
                + img.png_chunk(b"IEND", b"")
            ),
        ),
        case(
            "jpeg_trailing_garbage",
            "a valid JPEG followed by 1 MB of junk",
            200,
            ok,
            lambda: jpeg_full + _random(_MB, 4),
        ),
        case(
            "png_named_jpg",
            "a PNG sent as photo.jpg, image/jpeg (content decides)",
            200,
            ok,
            lambda: png_full,
        ),
    ]


def _form_cases() -> list[HostileCase]:
    """Well-formed HTTP, broken or unexpected multipart."""
    good = img.jpeg(64, 48, seed=9)
    v, inv = "validation_error", "invalid_input"

    def case(
        name: str,
        what: str,
        status: int,
        code: str | None,
        body: Callable[[], Iterable[bytes]],
        **kw: object,
    ) -> HostileCase:
        return HostileCase(name, what, status, code, body, group="form", **kw)  # type: ignore[arg-type]

    return [
        case(
            "no_boundary",
            "multipart/form-data without a boundary",
            400,
            inv,
            lambda: [form(part("front", good))],
            content_type="multipart/form-data",
        ),
        case(
            "boundary_mismatch",
            "a body written with another boundary",
            400,
            inv,
            lambda: [form(part("front", good), boundary="other-boundary")],
        ),
        case(
            "no_content_type",
            "no Content-Type header",
            415,
            "unsupported_media_type",
            lambda: [form(part("front", good))],
            content_type=None,
        ),
        case(
            "json_body",
            "a JSON body",
            415,
            "unsupported_media_type",
            lambda: [b'{"front": "aGVsbG8="}'],
            content_type="application/json",
        ),
        case(
            "raw_jpeg_body",
            "the photo as the raw body, image/jpeg (accepted: front only)",
            200,
            None,
            lambda: [good],
            content_type="image/jpeg",
        ),
        case(
            "raw_body_not_an_image",
            "1 kB of random bytes as the raw body, image/png",
            415,
            "unsupported_media_type",
            lambda: [_random(1024, 7)],
            content_type="image/png",
        ),
        case(
            "raw_body_empty",
            "an empty raw body, image/jpeg",
            422,
            "validation_error",
            lambda: [b""],
            content_type="image/jpeg",
        ),
        case(
            "raw_body_truncated_jpeg",
            "half a JPEG as the raw body",
            400,
            "corrupt_image",
            lambda: [good[: len(good) // 2]],
            content_type="image/jpeg",
        ),
        case(
            "raw_body_image_jpg_alias",
            "the photo as the raw body, image/jpg (an alias of image/jpeg)",
            200,
            None,
            lambda: [good],
            content_type="image/jpg",
        ),
        case(
            "raw_body_octet_stream",
            "the photo as the raw body, application/octet-stream (the bytes decide)",
            200,
            None,
            lambda: [good],
            content_type="application/octet-stream",
        ),
        case(
            "raw_body_octet_stream_not_an_image",
            "an HTML page as the raw body, application/octet-stream",
            415,
            "unsupported_media_type",
            lambda: [b"<!doctype html><html><body>" + b"x" * 2048 + b"</body></html>"],
            content_type="application/octet-stream",
        ),
        case(
            "raw_body_octet_stream_bomb",
            "a PNG that inflates to 10000x10000 as the raw body, application/octet-stream",
            413,
            "image_too_large",
            lambda: [img.png_zero_bomb(10_000, 10_000)],
            content_type="application/octet-stream",
        ),
        case(
            "raw_body_to_batch",
            "a raw image body sent to the batch route",
            415,
            "unsupported_media_type",
            lambda: [good],
            content_type="image/jpeg",
            path="/v1/predict/batch",
        ),
        case(
            "urlencoded_body",
            "an urlencoded form",
            415,
            "unsupported_media_type",
            lambda: [b"front=photo.jpg"],
            content_type="application/x-www-form-urlencoded",
        ),
        case(
            "multipart_mixed",
            "multipart/mixed instead of form-data",
            415,
            "unsupported_media_type",
            lambda: [form(part("front", good))],
            content_type=f"multipart/mixed; boundary={BOUNDARY}",
        ),
        case(
            "gzip_encoded_body",
            "a gzip Content-Encoding the API does not undo",
            400,
            inv,
            lambda: [gzip.compress(form(part("front", good)))],
            headers=(("Content-Encoding", "gzip"),),
        ),
        case("empty_body", "a multipart Content-Type with an empty body", 400, inv, lambda: [b""]),
        case(
            "no_parts",
            "only the closing boundary",
            422,
            v,
            lambda: [f"--{BOUNDARY}--\r\n".encode()],
        ),
        case(
            "unclosed_body",
            "a body that ends before its closing boundary",
            400,
            inv,
            lambda: [form(part("front", good), close=False)],
        ),
        case(
            "body_ends_inside_part",
            "a body that ends in the middle of the file",
            400,
            inv,
            lambda: [form(part("front", good))[:-400]],
        ),
        case(
            "wrong_field_name",
            "the photo under 'file' instead of 'front'",
            422,
            v,
            lambda: [form(part("file", good))],
        ),
        case("only_back", "a back photo and no front", 422, v, lambda: [form(part("back", good))]),
        case(
            "duplicate_front",
            "two 'front' parts",
            422,
            v,
            lambda: [form(part("front", good), part("front", good))],
        ),
        case(
            "duplicate_back",
            "a front and two 'back' parts",
            422,
            v,
            lambda: [form(part("front", good), part("back", good), part("back", good))],
        ),
        case(
            "extra_field",
            "front plus an unknown field",
            422,
            v,
            lambda: [
                form(
                    part("front", good), part("comment", b"hello", filename=None, content_type=None)
                )
            ],
        ),
        case(
            "tiny_parts_10000",
            "10,000 tiny 'front' parts",
            422,
            v,
            lambda: [form(*[part("front", b"x") for _ in range(10000)])],
        ),
        case(
            "tiny_parts_10000_batch",
            "10,000 tiny 'files' parts to the batch route",
            422,
            v,
            lambda: [form(*[part("files", b"x") for _ in range(10000)])],
            path="/v1/predict/batch",
        ),
        case(
            "batch_17_files",
            "17 files, one over the batch maximum of 16",
            422,
            v,
            lambda: [form(*[part("files", good) for _ in range(17)])],
            path="/v1/predict/batch",
        ),
        case(
            "batch_mixed_good_and_bad",
            "a batch of a good photo, a truncated JPEG, HTML, a header bomb and an empty file",
            200,
            None,
            lambda: [
                form(
                    *[
                        part("files", content)
                        for content in (
                            good,
                            good[: len(good) // 2],
                            b"<html></html>",
                            img.png_header_bomb(20000, 20000),
                            b"",
                        )
                    ]
                )
            ],
            path="/v1/predict/batch",
            expect_items=(
                None,
                "corrupt_image",
                "unsupported_media_type",
                "image_too_large",
                "unsupported_media_type",
            ),
        ),
        case(
            "batch_no_files",
            "a batch with no files",
            422,
            v,
            lambda: [form(part("front", good))],
            path="/v1/predict/batch",
        ),
        case(
            "part_without_disposition",
            "a part with no Content-Disposition",
            400,
            inv,
            lambda: [form(b"Content-Type: image/jpeg\r\n\r\n" + good)],
        ),
        case(
            "part_without_name",
            "a part whose disposition has no name",
            400,
            inv,
            lambda: [form(part(None, good))],
        ),
        case(
            "part_header_8k",
            "a part header line of 8 kB",
            400,
            inv,
            lambda: [form(part("front", good, extra=[b"X-Pad: " + b"p" * 8192]))],
        ),
        case(
            "part_headers_50",
            "a part with 50 headers",
            400,
            inv,
            lambda: [form(part("front", good, extra=[b"X-H%d: v" % i for i in range(50)]))],
        ),
        case(
            "nested_multipart",
            "a part whose content is itself a multipart body",
            415,
            "unsupported_media_type",
            lambda: [
                form(
                    part(
                        "front",
                        form(part("inner", good), boundary="inner-b"),
                        content_type=b"multipart/mixed; boundary=inner-b",
                    )
                )
            ],
        ),
        case(
            "text_field_as_front",
            "'front' sent as a text field, not a file",
            415,
            "unsupported_media_type",
            lambda: [form(part("front", b"photo.jpg", filename=None, content_type=None))],
        ),
        case(
            "filename_4000_chars",
            "a 4000-character file name (fits the header limit)",
            200,
            None,
            lambda: [form(part("front", good, filename="n" * 4000 + ".jpg"))],
        ),
        case(
            "filename_100k_chars",
            "a 100,000-character file name",
            400,
            inv,
            lambda: [form(part("front", good, filename="n" * 100_000 + ".jpg"))],
        ),
        case(
            "filename_not_utf8",
            "a file name of bytes that are not UTF-8",
            200,
            None,
            lambda: [form(part("front", good, filename=b"\xff\xfe\xc3(\x80photo.jpg"))],
        ),
        case(
            "filename_traversal",
            "a file name of ../../etc/passwd with NUL",
            200,
            None,
            lambda: [form(part("front", good, filename=b"../../etc/passwd\x00.jpg"))],
        ),
        case(
            "field_name_not_utf8",
            "a field name of bytes that are not UTF-8",
            422,
            v,
            lambda: [form(part(b"\xff\xfefront", good))],
        ),
    ]


def _query_cases() -> list[HostileCase]:
    good = img.jpeg(64, 48, seed=11)
    body = lambda: [form(part("front", good))]  # noqa: E731
    v = "validation_error"
    cases = [
        ("top_k_zero", "top_k=0"),
        ("top_k_negative", "top_k=-1"),
        ("top_k_seven", "top_k=7"),
        ("top_k_huge", "top_k=" + "9" * 40),
        ("top_k_text", "top_k=three"),
        ("top_k_float", "top_k=2.5"),
        ("explain_text", "explain=perhaps"),
    ]
    out = [HostileCase(n, f"query {q}", 422, v, body, query=q, group="query") for n, q in cases]
    out.append(
        HostileCase(
            "top_k_repeated",
            "top_k=1&top_k=6 (the last one wins)",
            200,
            None,
            body,
            query="top_k=1&top_k=6",
            group="query",
        )
    )
    out.append(
        HostileCase(
            "get_predict",
            "GET on the predict route",
            405,
            "method_not_allowed",
            lambda: [],
            method="GET",
            content_type=None,
            group="query",
        )
    )
    out.append(
        HostileCase(
            "put_predict",
            "PUT on the predict route",
            405,
            "method_not_allowed",
            body,
            method="PUT",
            group="query",
        )
    )
    out.append(
        HostileCase(
            "unknown_route",
            "POST to a route that does not exist",
            404,
            "not_found",
            body,
            path="/v1/predict/../../etc/passwd",
            group="query",
        )
    )
    return out


def _json_cases() -> list[HostileCase]:
    """JSON bodies to the routes that take one: unparseable is 400, ill-typed 422 (the admin
    route with its key; without it every one is 401, the key checked before the body)."""
    admin = (("X-Admin-Key", ADMIN_KEY),)
    routes = (
        ("feedback", "POST", "/v1/history/1/feedback", ()),
        ("piece_update", "PATCH", "/v1/pieces/1", ()),
        ("publish", "PUT", "/v1/types/1/published", admin),
    )
    bodies = (
        (
            "deep_array",
            "an array nested 100,000 deep",
            400,
            "invalid_input",
            b"[" * 100_000 + b"]" * 100_000,
        ),
        (
            "deep_object",
            "an object nested 50,000 deep",
            400,
            "invalid_input",
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        ),
        (
            "int_5000_digits",
            "an integer of 5,000 digits",
            400,
            "invalid_input",
            b'{"correct": 1' + b"0" * 5000 + b"}",
        ),
        (
            "not_utf8",
            "a string of bytes that are not UTF-8",
            400,
            "invalid_input",
            b'{"name": "\xff\xfe"}',
        ),
        ("malformed", "a body that is not JSON", 422, "validation_error", b"{not json"),
    )
    keyed = [
        HostileCase(
            f"json_{route}_{name}",
            f"{method} {path}: {what}",
            status,
            code,
            (lambda content=content: [content]),
            path=path,
            method=method,
            content_type="application/json",
            headers=headers,
            group="json",
        )
        for route, method, path, headers in routes
        for name, what, status, code, content in bodies
    ]
    unkeyed = [
        HostileCase(
            f"json_publish_no_admin_key_{name}",
            f"PUT /v1/types/1/published without X-Admin-Key: {what}",
            401,
            "unauthorized",
            (lambda content=content: [content]),
            path="/v1/types/1/published",
            method="PUT",
            content_type="application/json",
            group="json",
        )
        for name, what, _, _, content in bodies
    ]
    return keyed + unkeyed


def _protocol_cases() -> list[HostileCase]:
    """Body sizes and pacing: the streaming limits of a real server."""
    ceiling = UPLOAD_CEILING_MB * _MB
    head = form(part("front", b""), close=False)[:-2]  # up to the part's content
    too_big = ceiling + _MB
    p = "payload_too_large"
    return [
        HostileCase(
            "declared_length_1tb",
            "Content-Length of 1 TB, a few bytes sent",
            413,
            p,
            lambda: [head],
            mode="declared",
            declared_length=2**40,
            group="protocol",
        ),
        HostileCase(
            "expect_continue_over_ceiling",
            "Expect: 100-continue with a 100 MB Content-Length",
            413,
            p,
            lambda: [head],
            mode="expect",
            declared_length=100 * _MB,
            group="protocol",
        ),
        HostileCase(
            "file_over_ceiling",
            f"one {too_big // _MB} MB file with Content-Length",
            413,
            p,
            lambda: _flood(head, too_big, b"\r\n--" + BOUNDARY.encode() + b"--\r\n"),
            group="protocol",
            finite=False,
        ),
        HostileCase(
            "raw_body_over_ceiling",
            f"a {too_big // _MB} MB raw image/jpeg body with Content-Length",
            413,
            p,
            lambda: _flood(b"\xff\xd8\xff", too_big),
            content_type="image/jpeg",
            group="protocol",
            finite=False,
        ),
        HostileCase(
            "chunked_raw_body_over_ceiling",
            f"a {too_big // _MB} MB raw image/jpeg body, chunked",
            413,
            p,
            lambda: _flood(b"\xff\xd8\xff", too_big),
            content_type="image/jpeg",
            mode="chunked",
            group="protocol",
            finite=False,
        ),
        HostileCase(
            "chunked_file_over_ceiling",
            f"one {too_big // _MB} MB file, chunked (no Content-Length)",
            413,
            p,
            lambda: _flood(head, too_big),
            mode="chunked",
            group="protocol",
            finite=False,
        ),
        # python-multipart takes no preamble: the first bytes must be the boundary.
        HostileCase(
            "chunked_preamble_flood",
            "45 MB of preamble before the first boundary, chunked",
            400,
            "invalid_input",
            lambda: _flood(b"", 45 * _MB, form(part("front", b"x"))),
            mode="chunked",
            group="protocol",
            finite=False,
        ),
        HostileCase(
            "chunked_epilogue_flood",
            "a valid form, then 45 MB after its closing boundary",
            413,
            p,
            lambda: _flood(form(part("front", img.jpeg(64, 48))), 45 * _MB),
            mode="chunked",
            group="protocol",
            finite=False,
        ),
        # Requests the HTTP parser refuses before the app: the same envelope all the same.
        HostileCase(
            "content_length_twice",
            "two Content-Length headers that differ",
            400,
            "invalid_input",
            lambda: [form(part("front", b"x"))],
            headers=(("Content-Length", "5"),),
            group="protocol",
        ),
        HostileCase(
            "transfer_encoding_gzip",
            "Transfer-Encoding: gzip, which HTTP/1.1 servers need not know",
            400,
            "invalid_input",
            lambda: [form(part("front", b"x"))],
            headers=(("Transfer-Encoding", "gzip"),),
            group="protocol",
        ),
        HostileCase(
            "content_length_and_chunked",
            "Content-Length and Transfer-Encoding: chunked together (request smuggling)",
            400,
            "invalid_input",
            lambda: [form(part("front", b"x"))],
            headers=(("Transfer-Encoding", "chunked"),),
            group="protocol",
        ),
        HostileCase(
            "unknown_method",
            "a method HTTP does not have (FOO)",
            400,
            "invalid_input",
            lambda: [],
            method="FOO",
            content_type=None,
            group="protocol",
        ),
        HostileCase(
            "url_100k",
            "a 100 kB query string",
            400,
            "invalid_input",
            lambda: [],
            method="GET",
            path="/health",
            query="a=" + "b" * 100_000,
            content_type=None,
            group="protocol",
        ),
        HostileCase(
            "stalled_upload",
            "headers and half the body, then nothing (slowloris)",
            408,
            "request_timeout",
            lambda: [form(part("front", img.jpeg(64, 48)))],
            mode="stall",
            group="protocol",
        ),
    ]


def build_corpus() -> list[HostileCase]:
    """Every case, in a stable order."""
    cases = _content_cases() + _form_cases() + _query_cases() + _json_cases() + _protocol_cases()
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError("duplicate case names")
    return cases


def write_corpus(out_dir: Path) -> list[dict[str, object]]:
    """Write each case's body and a manifest to ``out_dir``; over-size bodies are described only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = []
    for case in build_corpus():
        entry: dict[str, object] = {
            "name": case.name,
            "what": case.what,
            "request": f"{case.method} {case.target}",
            "content_type": case.content_type,
            "headers": dict(case.headers),
            "mode": case.mode,
            "declared_length": case.declared_length,
            "expect": {"status": case.expect_status, "code": case.expect_code},
        }
        if case.finite:
            body = b"".join(case.body())
            (out_dir / f"{case.name}.body").write_bytes(body)
            entry["body_file"] = f"{case.name}.body"
            entry["body_bytes"] = len(body)
        manifest.append(entry)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the hostile-input corpus to a folder.")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    manifest = write_corpus(args.out_dir)
    sys.stdout.write(f"{len(manifest)} cases written to {os.fspath(args.out_dir)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
