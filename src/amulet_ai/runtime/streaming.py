"""Read uploads and files in chunks, hashing as they arrive, without holding them whole.

:class:`StreamingFileHandler` consumes a sync or async byte stream (an upload, an HTTP
body) or a file path. Every chunk updates a running SHA-256 and the byte count; crossing
``max_bytes`` raises :class:`~amulet_ai.runtime.errors.PayloadTooLarge` at once, before
the rest is read. A stream stays in memory up to ``spool_bytes`` and then spills to an
anonymous temporary file. Anything over ``mmap_bytes`` is handed out memory-mapped rather
than read into memory, and is hashed through the mapping window by window, each window
released after hashing, so RSS stays flat however large the file.

Example::

    >>> handler = StreamingFileHandler(max_bytes=1024)
    >>> with handler.read_stream([b"amu", b"let"]) as streamed:
    ...     streamed.size, streamed.sha256[:12], streamed.read_bytes()
    (6, '68fa89afe3e5', b'amulet')
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import mmap
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, runtime_checkable

from amulet_ai.runtime.errors import PayloadTooLarge

logger = logging.getLogger(__name__)

_MB = 1024 * 1024
# Chunks at least this large are hashed on a worker thread so the event loop stays free
# (hashlib releases the GIL for large buffers).
_OFFLOAD_BYTES = 256 * 1024

Chunk = bytes | bytearray | memoryview
"""One piece of a stream; it is consumed before the next is asked for, so a producer may
reuse its buffer."""


@runtime_checkable
class AsyncReadable(Protocol):
    """Anything with ``async read(size)``, such as Starlette's ``UploadFile``."""

    async def read(self, size: int = -1) -> bytes: ...


class StreamedFile:
    """The result of a streaming read: ``sha256``, ``size`` and access to the bytes.

    Small content is held as bytes; larger content lives in a temporary file or the source
    file. Over the mmap threshold the content is a read-only memory map (``view()``).
    Close it (or use ``with``) to release the file, the map and the temporary file.
    """

    def __init__(
        self,
        sha256: str,
        size: int,
        *,
        data: bytes | None = None,
        file: IO[bytes] | None = None,
        mapped: mmap.mmap | None = None,
        path: Path | None = None,
    ) -> None:
        self.sha256 = sha256
        self.size = size
        self.path = path
        self._data = data
        self._file = file
        self._mapped = mapped

    @property
    def in_memory(self) -> bool:
        """True when the content is held as bytes."""
        return self._data is not None

    @property
    def memory_mapped(self) -> bool:
        """True when the content is reached through a memory map."""
        return self._mapped is not None

    def fileobj(self) -> IO[bytes]:
        """A binary file object over the content, rewound; owned by this object."""
        if self._data is not None:
            return io.BytesIO(self._data)
        if self._file is None:
            raise ValueError("the streamed file is closed")
        self._file.seek(0)
        return self._file

    def view(self) -> memoryview:
        """A zero-copy view of the content; file-backed content is memory-mapped for it.

        Release the view (``with streamed.view() as v: ...``) before closing.
        """
        if self._data is not None:
            return memoryview(self._data)
        if self._mapped is None:
            if self._file is None:
                raise ValueError("the streamed file is closed")
            self._mapped = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        return memoryview(self._mapped)

    def read_bytes(self) -> bytes:
        """The whole content as bytes (copies; meant for small content)."""
        if self._data is not None:
            return self._data
        return self.fileobj().read()

    def close(self) -> None:
        """Release the map and the file; a temporary file is deleted."""
        mapped, self._mapped = self._mapped, None
        file, self._file = self._file, None
        self._data = None
        try:
            if mapped is not None:
                mapped.close()  # BufferError while a view() is still held
        finally:
            if file is not None:
                file.close()

    def __enter__(self) -> StreamedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Sink:
    """Hashes, counts and spools chunks; raises as soon as the ceiling is crossed."""

    def __init__(self, max_bytes: int | None, spool_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.spool_bytes = spool_bytes
        self.digest = hashlib.sha256()
        self.size = 0
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=spool_bytes)

    def check(self, incoming: int) -> None:
        if self.max_bytes is not None and self.size + incoming > self.max_bytes:
            self.spool.close()
            raise PayloadTooLarge(
                f"The upload exceeds {self.max_bytes} bytes.",
                details={"max_bytes": self.max_bytes},
            )

    def write(self, chunk: Chunk) -> None:
        self.digest.update(chunk)
        self.spool.write(chunk)
        self.size += len(chunk)

    def abort(self) -> None:
        self.spool.close()


class StreamingFileHandler:
    """Chunked, hashed, size-capped reading with spill-to-disk and memory mapping.

    Sizes default to the settings' defaults: 2 MB in memory, memory-map over 50 MB.

    Example::

        >>> handler = StreamingFileHandler(max_bytes=20 * 1024 * 1024)
        >>> async def upload(file):  # file: fastapi.UploadFile
        ...     with await handler.read_async(file) as streamed:
        ...         return streamed.sha256
    """

    def __init__(
        self,
        *,
        max_bytes: int | None = None,
        chunk_bytes: int = 1 * _MB,
        spool_bytes: int = 2 * _MB,
        mmap_bytes: int = 50 * _MB,
    ) -> None:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        # Windows are page aligned so each hashed window can be released exactly.
        self.chunk_bytes = max(mmap.PAGESIZE, chunk_bytes - chunk_bytes % mmap.PAGESIZE)
        self.max_bytes = max_bytes
        self.spool_bytes = spool_bytes
        self.mmap_bytes = mmap_bytes

    def read_stream(self, chunks: Iterable[Chunk]) -> StreamedFile:
        """Consume an iterable of byte chunks (bytes, bytearray or memoryview)."""
        sink = _Sink(self.max_bytes, self.spool_bytes)
        try:
            for chunk in chunks:
                sink.check(len(chunk))
                sink.write(chunk)
        except BaseException:
            sink.abort()
            raise
        return self._finish(sink)

    async def read_async(self, source: AsyncReadable | AsyncIterable[Chunk]) -> StreamedFile:
        """Consume an object with ``async read(size)`` or an async iterable of chunks."""
        sink = _Sink(self.max_bytes, self.spool_bytes)
        try:
            async for chunk in self._chunks_of(source):
                sink.check(len(chunk))
                if len(chunk) >= _OFFLOAD_BYTES:
                    await asyncio.to_thread(sink.write, chunk)
                else:
                    sink.write(chunk)
        except BaseException:
            sink.abort()
            raise
        if sink.size <= self.spool_bytes:
            return self._finish(sink)  # still in memory: nothing here can block
        return await asyncio.to_thread(self._finish, sink)

    async def _chunks_of(
        self, source: AsyncReadable | AsyncIterable[Chunk]
    ) -> AsyncIterator[Chunk]:
        if isinstance(source, AsyncReadable):
            while data := await source.read(self.chunk_bytes):
                yield data
        else:
            async for chunk in source:
                yield chunk

    def _finish(self, sink: _Sink) -> StreamedFile:
        spool = sink.spool
        spool.seek(0)
        if sink.size <= self.spool_bytes:
            data = spool.read()
            spool.close()
            return StreamedFile(sink.digest.hexdigest(), sink.size, data=data)
        mapped = None
        if sink.size > self.mmap_bytes:
            mapped = mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ)
        return StreamedFile(sink.digest.hexdigest(), sink.size, file=spool, mapped=mapped)

    def read_file(self, path: str | os.PathLike[str]) -> StreamedFile:
        """Hash a file on disk; above ``mmap_bytes`` it is memory-mapped, never read whole."""
        path = Path(path)
        file = path.open("rb")
        try:
            size = os.fstat(file.fileno()).st_size
            if self.max_bytes is not None and size > self.max_bytes:
                raise PayloadTooLarge(
                    f"The file exceeds {self.max_bytes} bytes.",
                    details={"max_bytes": self.max_bytes, "size": size},
                )
            if size > self.mmap_bytes:
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                digest = self._hash_mapped(mapped, size)
                return StreamedFile(digest, size, file=file, mapped=mapped, path=path)
            digest = self._hash_file(file)
            file.seek(0)
            if size <= self.spool_bytes:
                data = file.read()
                file.close()
                return StreamedFile(digest, size, data=data, path=path)
            return StreamedFile(digest, size, file=file, path=path)
        except BaseException:
            file.close()
            raise

    def _hash_file(self, file: io.BufferedReader) -> str:
        digest = hashlib.sha256()
        buffer = bytearray(self.chunk_bytes)
        view = memoryview(buffer)
        while n := file.readinto(buffer):
            digest.update(view[:n])
        return digest.hexdigest()

    def _hash_mapped(self, mapped: mmap.mmap, size: int) -> str:
        digest = hashlib.sha256()
        release = getattr(mmap, "MADV_DONTNEED", None)
        with memoryview(mapped) as whole:
            for start in range(0, size, self.chunk_bytes):
                length = min(self.chunk_bytes, size - start)
                digest.update(whole[start : start + length])
                if release is not None:
                    # Drop this window's pages from our address space (they stay in the
                    # page cache); without it RSS would grow by the whole file.
                    mapped.madvise(release, start, length)
        return digest.hexdigest()
