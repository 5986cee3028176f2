"""The photos the benchmarks send, all made here: on the spot, photo-like, one per seed.

    small_photos(n)      n different 224 x 224 JPEGs (about 10 KB each), the model's own size
    scene_jpeg(w, h)     a photo-like JPEG of any size
    phone_jpeg()         a 12 MP (4000 x 3000) JPEG of about 1.5 MB, like a phone's photo
    large_upload_jpeg()  a 24 MP JPEG just under the 20 MB upload ceiling, for the RSS run
    with_comment(j, n)   the same picture with a JPEG comment holding ``n``: new bytes (a
                         cache miss), identical pixels

A phone photo is smooth shapes and shading with a little sensor grain, so it compresses like
one (about 1 bit per pixel at quality 90); pure noise would not.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

PHONE_SIZE = (4000, 3000)
LARGE_SIZE = (6000, 4000)


def small_photos(count: int) -> list[bytes]:
    """``count`` different 224 px photo-like JPEGs, the model's own size."""
    return [photo_jpeg(seed) for seed in range(count)]


def photo_jpeg(seed: int, size: int = 224) -> bytes:
    """A smooth photo-like square JPEG, different for each seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    channels = [
        127 + 100 * np.sin(xx / size * rng.uniform(1, 6) * 6.28) * np.cos(yy / size * 6.28)
        for _ in range(3)
    ]
    image = np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)
    return _encode(image, 90)


def scene_jpeg(width: int, height: int, seed: int = 7) -> bytes:
    """A photo-like JPEG of any size: the scene of :func:`phone_jpeg`, quality 90."""
    return _encode(_scene(width, height, seed), 90)


def _scene(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth shading and soft blobs at 1/8 scale, enlarged: the content of a photo."""
    rng = np.random.default_rng(seed)
    lw, lh = width // 8, height // 8
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    img = np.empty((lh, lw, 3), np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(1, 4), rng.uniform(1, 3), rng.uniform(0, 6.28)
        img[..., c] = 110 + 60 * np.sin(xx / lw * fx * 6.28 + phase) * np.cos(yy / lh * fy * 6.28)
    for _ in range(40):
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        rx, ry = rng.uniform(10, lw / 4), rng.uniform(10, lh / 4)
        blob = np.exp(-((((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) ** 2))
        img += blob[..., None] * rng.uniform(-80, 80, 3).astype(np.float32)
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(small.resize((width, height), Image.Resampling.BICUBIC))


def _encode(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def phone_jpeg(seed: int = 1) -> bytes:
    """A 12 MP phone-like JPEG of about 1.5 MB: a scene plus fine grey grain, quality 90."""
    width, height = PHONE_SIZE
    rng = np.random.default_rng(seed + 1000)
    grain = rng.normal(0.0, 2.8, (height, width, 1)).astype(np.int16)
    pixels = np.clip(_scene(width, height, seed).astype(np.int16) + grain, 0, 255)
    return _encode(pixels.astype(np.uint8), 90)


def large_upload_jpeg(seed: int = 2, *, max_bytes: int = 20 * 1024 * 1024) -> bytes:
    """A 24 MP JPEG of 19-20 MiB (heavy colour grain, quality 95): the largest accepted upload."""
    width, height = LARGE_SIZE
    rng = np.random.default_rng(seed + 1000)
    scene = _scene(width, height, seed).astype(np.int16)
    for amplitude in (52, 48, 44, 40):
        grain = rng.integers(-amplitude, amplitude + 1, scene.shape, dtype=np.int16)
        data = _encode(np.clip(scene + grain, 0, 255).astype(np.uint8), 95)
        if len(data) <= max_bytes - 64 * 1024:  # room for the multipart headers
            return data
    raise RuntimeError(f"could not make a JPEG under {max_bytes} bytes")


def with_comment(jpeg: bytes, n: int | str) -> bytes:
    """``jpeg`` with a COM segment after SOI holding ``n``: different bytes, same pixels."""
    text = f"amulet-bench {n}".encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + jpeg[2:]
