"""StreamingFileHandler on real files: flat RSS on 120 MB, the size ceiling, exact SHA-256."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
from starlette.datastructures import UploadFile

from amulet_ai.runtime import PayloadTooLarge, StreamingFileHandler

MB = 1024 * 1024
T = TypeVar("T")


def measure_peak_growth(fn: Callable[[], T], interval_s: float = 0.002) -> tuple[T, float]:
    """Run ``fn`` while a thread samples this process's RSS; return its result and the
    peak growth over the RSS before it started, in MB."""
    process = psutil.Process()
    start = process.memory_info().rss
    peak = start
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            stop.wait(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = fn()
    finally:
        stop.set()
        sampler.join()
    peak = max(peak, process.memory_info().rss)
    return result, (peak - start) / MB


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 120 MB file of varied bytes and its SHA-256, computed independently."""
    path = tmp_path_factory.mktemp("streaming") / "big.bin"
    block = os.urandom(MB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(120):
            chunk = i.to_bytes(4, "little") + block[4:]
            out.write(chunk)
            digest.update(chunk)
    return path, digest.hexdigest()


def file_chunks(path: Path, size: int = MB) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk


def test_large_file_is_memory_mapped_with_flat_rss(big_file: tuple[Path, str]) -> None:
    path, expected = big_file
    handler = StreamingFileHandler()
    streamed, growth = measure_peak_growth(lambda: handler.read_file(path))
    with streamed:
        assert growth <= 20, f"peak RSS grew by {growth:.1f} MB"
        assert streamed.sha256 == expected
        assert streamed.size == 120 * MB
        assert streamed.memory_mapped and not streamed.in_memory
        with streamed.view() as view:
            assert view[4:16] == next(file_chunks(path))[4:16]
            assert view[MB : MB + 4] == (1).to_bytes(4, "little")


def test_large_upload_stream_spools_to_disk_with_flat_rss(big_file: tuple[Path, str]) -> None:
    path, expected = big_file
    handler = StreamingFileHandler(max_bytes=200 * MB)
    streamed, growth = measure_peak_growth(lambda: handler.read_stream(file_chunks(path)))
    with streamed:
        assert growth <= 20, f"peak RSS grew by {growth:.1f} MB"
        assert (streamed.sha256, streamed.size) == (expected, 120 * MB)
        assert streamed.memory_mapped  # over the 50 MB threshold
        assert (
            hashlib.sha256(streamed.fileobj().read(MB)).digest()
            == hashlib.sha256(next(file_chunks(path))).digest()
        )


def test_size_ceiling_raises_as_soon_as_crossed(big_file: tuple[Path, str]) -> None:
    path, _ = big_file
    consumed = 0

    def counting() -> Iterator[bytes]:
        nonlocal consumed
        for chunk in file_chunks(path):
            consumed += 1
            yield chunk

    handler = StreamingFileHandler(max_bytes=5 * MB)
    with pytest.raises(PayloadTooLarge) as caught:
        handler.read_stream(counting())
    assert consumed == 6  # the sixth megabyte crosses the ceiling; nothing more is read
    assert (caught.value.status_code, caught.value.code) == (413, "payload_too_large")
    with pytest.raises(PayloadTooLarge):
        handler.read_file(path)


def test_small_content_stays_in_memory_medium_spills_to_a_file(tmp_path: Path) -> None:
    handler = StreamingFileHandler(spool_bytes=MB, mmap_bytes=4 * MB)
    small = os.urandom(100_000)
    with handler.read_stream([small[:50_000], memoryview(small)[50_000:]]) as streamed:
        assert streamed.in_memory and streamed.read_bytes() == small
        assert streamed.sha256 == hashlib.sha256(small).hexdigest()

    medium = os.urandom(3 * MB)
    chunks = [medium[i : i + 256 * 1024] for i in range(0, len(medium), 256 * 1024)]
    with handler.read_stream(chunks) as streamed:
        assert not streamed.in_memory and not streamed.memory_mapped
        assert streamed.fileobj().read() == medium
        with streamed.view() as view:  # mapped on demand
            assert view.tobytes() == medium

    path = tmp_path / "medium.bin"
    path.write_bytes(medium)
    with handler.read_file(path) as streamed:
        assert streamed.sha256 == hashlib.sha256(medium).hexdigest()
        assert streamed.fileobj().read() == medium


async def test_async_upload_file_is_hashed_and_capped(tmp_path: Path) -> None:
    payload = os.urandom(3 * MB + 17)
    handler = StreamingFileHandler(max_bytes=4 * MB, spool_bytes=MB)
    upload = UploadFile(io.BytesIO(payload), filename="photo.jpg")
    with await handler.read_async(upload) as streamed:
        assert streamed.sha256 == hashlib.sha256(payload).hexdigest()
        assert streamed.read_bytes() == payload

    async def body() -> AsyncIterator[bytes]:
        for _ in range(6 * 16):
            yield bytes(64 * 1024)

    with pytest.raises(PayloadTooLarge):
        await handler.read_async(body())


@pytest.mark.parametrize("total", [100 * 1024, 700 * 1024, 3 * MB + 5])
async def test_async_stream_of_reused_buffers_keeps_every_byte(total: int) -> None:
    # A producer that refills one bytearray for every chunk (as a socket reader may):
    # chunks held for a batch hashed off the loop must be copies, not views of the buffer.
    payload = os.urandom(total)
    handler = StreamingFileHandler(max_bytes=4 * MB, spool_bytes=MB)

    async def body() -> AsyncIterator[bytearray]:
        buffer = bytearray(48 * 1024)
        for start in range(0, total, len(buffer)):
            piece = payload[start : start + len(buffer)]
            buffer[: len(piece)] = piece
            yield buffer if len(piece) == len(buffer) else buffer[: len(piece)]

    with await handler.read_async(body()) as streamed:
        assert streamed.size == total
        assert streamed.in_memory == (total <= MB)
        assert streamed.sha256 == hashlib.sha256(payload).hexdigest()
        assert streamed.read_bytes() == payload
