"""Turning what a caller holds (bytes, a path, an open file) into one multipart upload.

The bytes are read once, up front, so a retried request sends exactly the same content and
a file object is never left half consumed.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

UploadSource = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]

# The API decides the format by content; the declared type is only a courtesy.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"RIFF", "image/webp"),
    (b"GIF8", "image/gif"),
)


@dataclass(frozen=True, slots=True)
class Upload:
    """One file ready for multipart: its name, its bytes and a declared content type."""

    filename: str
    content: bytes
    content_type: str

    def as_multipart(self) -> tuple[str, bytes, str]:
        return (self.filename, self.content, self.content_type)


def _sniff(content: bytes, filename: str) -> str:
    for signature, content_type in _SIGNATURES:
        if content.startswith(signature):
            return content_type
    if content[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1"):
        return "image/heic"
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def read_upload(source: UploadSource, default_name: str) -> Upload:
    """Read ``source`` into an :class:`Upload`.

    >>> read_upload(b"\\xff\\xd8\\xff\\xe0rest", "front.jpg").content_type
    'image/jpeg'
    """
    if isinstance(source, bytes | bytearray | memoryview):
        content = bytes(source)
        filename = default_name
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        content = path.read_bytes()
        filename = path.name
    else:
        raw = source.read()
        if not isinstance(raw, bytes):
            raise TypeError("file objects must be opened in binary mode ('rb')")
        content = raw
        name = getattr(source, "name", None)
        filename = Path(name).name if isinstance(name, str) and name else default_name
    return Upload(filename=filename, content=content, content_type=_sniff(content, filename))
