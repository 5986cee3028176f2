"""Reading ``multipart/form-data`` uploads as they stream in, against hard limits.

The request body is fed chunk by chunk from the ASGI ``receive`` into python-multipart's
incremental parser; each file part's bytes go straight into a
:class:`~amulet_ai.runtime.streaming.StreamingFileHandler`, which counts them as they pass,
hashes them (SHA-256, the cache key) off the event loop and spills large parts to a
temporary file. A part that stays in memory is hashed in one hop once it is complete and
joined only when something reads it, so an upload answered from the result cache costs
the loop little more than receiving it. Nothing waits for the whole body, and nothing
holds more than one part's ceiling in memory.

Limits, each a clean 4xx in the error envelope:

* a declared ``Content-Length`` over the body ceiling: 413 before a byte is read;
* the body (chunked or not) crossing the ceiling, or a part crossing ``max_file_bytes``:
  413 as soon as it happens; where a route takes files one by one (``file_errors``, the
  batch), an oversized part is skipped and kept as its own :class:`RejectedFile` instead,
  and only the body ceiling refuses the whole request;
* not ``multipart/form-data`` (nor, where the route takes one, a photo sent as the raw
  body as one of :data:`RAW_BODY_TYPES`): 415; no boundary, a malformed body, oversized or too many
  part headers, a body that ends early: 400 ``invalid_input``;
* a field the route does not take, a file field sent too often ("at most N files"), a text
  field sent twice ("repeated", ``details.repeated``), a required field missing: 422
  ``validation_error`` naming the field in ``details.field``, before the next part is read;
* no piece of the body for ``idle_timeout_s`` (a stalled or slowloris client): 408
  ``request_timeout``, so a silent connection does not hold a request open for ever.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from amulet_ai.config import Settings
from amulet_ai.errors import (
    InvalidInput,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    ValidationFailed,
)
from amulet_ai.runtime.streaming import StreamedFile, StreamingFileHandler, human_size

_MB = 1024 * 1024
# Room for boundaries and part headers on top of the files themselves.
_BODY_OVERHEAD_BYTES = 64 * 1024
_MAX_PART_HEADERS = 8
_MAX_PART_HEADER_BYTES = 4096
_MAX_FILENAME_CHARS = 255


@dataclass(frozen=True, slots=True)
class FormRules:
    """What a route accepts: field name -> most parts of that name, and which are required."""

    fields: Mapping[str, int]
    required: frozenset[str]
    max_file_bytes: int
    # Fields that carry one text value, not files: sent twice is "repeated", not "too many files".
    text: frozenset[str] = frozenset()
    spool_bytes: int = 2 * 1024 * 1024
    mmap_bytes: int = 50 * 1024 * 1024
    idle_timeout_s: float | None = None
    # An oversized file becomes its own RejectedFile rather than a 413 for the request.
    file_errors: bool = False

    @property
    def max_body_bytes(self) -> int:
        return sum(self.fields.values()) * self.max_file_bytes + _BODY_OVERHEAD_BYTES

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        fields: Mapping[str, int],
        required: Iterable[str],
        *,
        text: Iterable[str] = (),
        file_errors: bool = False,
    ) -> FormRules:
        """A route's form with the upload limits of ``settings``; ``text`` names the fields
        that hold one text value each."""
        return cls(
            fields=fields,
            required=frozenset(required),
            text=frozenset(text),
            file_errors=file_errors,
            max_file_bytes=settings.max_upload_bytes,
            spool_bytes=int(settings.stream_spool_mb * _MB),
            mmap_bytes=int(settings.stream_mmap_mb * _MB),
            idle_timeout_s=settings.upload_idle_timeout_s,
        )


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part: its field, the client's file name, and the streamed content."""

    field: str
    filename: str | None
    content: StreamedFile


@dataclass(frozen=True, slots=True)
class RejectedFile:
    """A file part refused on its own (too large), its bytes skipped; the rest go on."""

    field: str
    filename: str | None
    error: PayloadTooLarge


@dataclass(slots=True)
class Form:
    """The parsed form; close it to release spooled temporary files."""

    files: dict[str, list[UploadedFile]] = field(default_factory=dict)
    # Every part in the order sent, refused ones included.
    parts: dict[str, list[UploadedFile | RejectedFile]] = field(default_factory=dict)

    def one(self, name: str) -> UploadedFile | None:
        found = self.files.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[UploadedFile]:
        return list(self.files.get(name, ()))

    def entries(self, name: str) -> list[UploadedFile | RejectedFile]:
        """The parts of ``name`` in the order sent, each read or refused."""
        if name in self.parts:
            return list(self.parts[name])
        return list(self.files.get(name, []))

    def add(self, part: UploadedFile | RejectedFile) -> None:
        self.parts.setdefault(part.field, []).append(part)
        if isinstance(part, UploadedFile):
            self.files.setdefault(part.field, []).append(part)

    def close(self) -> None:
        for parts in self.files.values():
            for part in parts:
                part.content.close()


def _boundary(content_type: str | None) -> bytes:
    media_type, params = parse_options_header(content_type or "")
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaType("Send the photos as multipart/form-data.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("The multipart/form-data body has no boundary.")
    return boundary


def _check_declared_length(request: Request, ceiling: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > ceiling:
        raise PayloadTooLarge(
            f"The request body is larger than {human_size(ceiling)}.",
            details={"max_bytes": ceiling},
        )


def _clean_filename(raw: bytes | None) -> str | None:
    if not raw:
        return None
    name = raw.decode("utf-8", errors="replace").replace("\\", "/")
    name = posixpath.basename(name).strip()
    return name[:_MAX_FILENAME_CHARS] or None


class _PartEvents:
    """Collects the parser's callbacks as events: ("begin"|"headers"|"data"|"end"|"done")."""

    def __init__(self) -> None:
        self.queue: deque[tuple[str, Any]] = deque()
        self._headers: dict[bytes, bytes] = {}
        self._name = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self.queue.append(("begin", None))

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._name).lower()] = bytes(self._value)
        self._name.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        self.queue.append(("headers", self._headers))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        # A part that fills the whole chunk is the chunk itself (bytes slicing shares it).
        self.queue.append(("data", data[start:end]))

    def _part_end(self) -> None:
        self.queue.append(("end", None))

    def _end(self) -> None:
        self.queue.append(("done", None))


class _IdleWatch:
    """Cancels the reading task once it has waited ``idle_s`` for the next body chunk.

    One timer per request, re-armed only when it fires (a timer per chunk costs the event
    loop more than the chunk itself): the time counted is the time spent waiting for the
    client, never the time the reader spends on what it received.
    """

    def __init__(self, idle_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._idle_s = idle_s
        self._waiting_since: float | None = None
        self.expired = False
        self._timer = self._loop.call_later(idle_s, self._check)

    def waiting(self) -> None:
        self._waiting_since = self._loop.time()

    def arrived(self) -> None:
        self._waiting_since = None

    def _check(self) -> None:
        if self._task.done():
            return
        now = self._loop.time()
        since = self._waiting_since
        if since is not None and now - since >= self._idle_s:
            self.expired = True
            self._task.cancel()
            return
        due = self._idle_s if since is None else since + self._idle_s - now
        self._timer = self._loop.call_later(due, self._check)

    def timed_out(self) -> bool:
        """After a ``CancelledError``: True when it was this watch's (and nobody else's)."""
        return self.expired and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        self._timer.cancel()


async def _body(request: Request, idle_timeout_s: float | None) -> AsyncIterator[bytes]:
    """The request body's chunks; ``RequestTimeout`` when the next one is too long coming.

    Read from the ASGI ``receive`` itself; raises ``ClientDisconnect`` as Starlette does.
    """
    receive = request.receive
    watch = _IdleWatch(idle_timeout_s) if idle_timeout_s is not None else None
    try:
        while True:
            if watch is not None:
                watch.waiting()
            try:
                message = await receive()
            except asyncio.CancelledError:
                if watch is not None and watch.timed_out():
                    raise RequestTimeout(
                        f"No part of the upload arrived for {idle_timeout_s:g} s.",
                        details={"idle_timeout_s": idle_timeout_s},
                    ) from None
                raise
            if watch is not None:
                watch.arrived()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
    finally:
        if watch is not None:
            watch.close()


async def _events(
    request: Request, boundary: bytes, ceiling: int, idle_timeout_s: float | None
) -> AsyncGenerator[tuple[str, Any]]:
    events = _PartEvents()
    try:
        parser = MultipartParser(
            boundary,
            events.callbacks(),  # type: ignore[arg-type]
            max_header_count=_MAX_PART_HEADERS,
            max_header_size=_MAX_PART_HEADER_BYTES,
        )
    except FormParserError as exc:
        raise InvalidInput("The multipart boundary is not valid.") from exc
    received = 0
    try:
        async for chunk in _body(request, idle_timeout_s):
            received += len(chunk)
            if received > ceiling:
                raise PayloadTooLarge(
                    f"The request body is larger than {human_size(ceiling)}.",
                    details={"max_bytes": ceiling},
                )
            parser.write(chunk)
            while events.queue:
                yield events.queue.popleft()
    except FormParserError as exc:
        raise InvalidInput("The multipart/form-data body is malformed.") from exc
    except ClientDisconnect as exc:
        raise InvalidInput("The upload was interrupted.") from exc
    while events.queue:
        yield events.queue.popleft()


async def _part_data(events: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[bytes]:
    async for kind, payload in events:
        if kind == "data":
            yield payload
        elif kind == "end":
            return
    raise InvalidInput("The multipart/form-data body ends inside a part.")


def _part_name(headers: Mapping[bytes, bytes]) -> tuple[str, str | None]:
    disposition, params = parse_options_header(headers.get(b"content-disposition", b""))
    name = params.get(b"name")
    if disposition != b"form-data" or not name:
        raise InvalidInput("A form part has no Content-Disposition name.")
    return name.decode("utf-8", errors="replace"), _clean_filename(params.get(b"filename"))


def _accept_field(name: str, form: Form, rules: FormRules) -> None:
    limit = rules.fields.get(name)
    if limit is None:
        expected = ", ".join(sorted(rules.fields))
        raise ValidationFailed(f"Unexpected form field; this route takes: {expected}.")
    if name in rules.text and name in form.parts:
        raise ValidationFailed(
            f"{name}: the field is repeated; send it once.",
            details={"field": name, "repeated": True},
        )
    if len(form.entries(name)) >= limit:
        raise ValidationFailed(
            f"{name}: at most {limit} file{'s' if limit > 1 else ''} per request.",
            details={"field": name, "max_files": limit},
        )


async def _read_part(
    handler: StreamingFileHandler,
    data: AsyncIterator[bytes],
    rules: FormRules,
    name: str,
    filename: str | None,
) -> UploadedFile | RejectedFile:
    try:
        return UploadedFile(name, filename, await handler.read_async(data))
    except PayloadTooLarge as exc:
        if not rules.file_errors:
            raise
        refused = RejectedFile(name, filename, exc)
    # The rest of the refused part is read past, not kept; the body ceiling still counts it.
    async for _ in data:
        pass
    return refused


async def read_form(request: Request, rules: FormRules) -> Form:
    """Stream the request's multipart body into a :class:`Form`, enforcing ``rules``.

    Raises:
        PayloadTooLarge, UnsupportedMediaType, InvalidInput, ValidationFailed: see the
        module docstring.
    """
    boundary = _boundary(request.headers.get("content-type"))
    ceiling = rules.max_body_bytes
    _check_declared_length(request, ceiling)
    handler = StreamingFileHandler(
        max_bytes=rules.max_file_bytes,
        spool_bytes=rules.spool_bytes,
        mmap_bytes=rules.mmap_bytes,
    )
    form = Form()
    finished = False
    events = _events(request, boundary, ceiling, rules.idle_timeout_s)
    try:
        async for kind, payload in events:
            if kind == "headers":
                name, filename = _part_name(payload)
                _accept_field(name, form, rules)
                form.add(await _read_part(handler, _part_data(events), rules, name, filename))
            elif kind == "done":
                finished = True
        if not finished:
            raise InvalidInput("The multipart/form-data body ends before its closing boundary.")
        missing = sorted(rules.required - form.parts.keys())
        if missing:
            raise ValidationFailed(f"{missing[0]}: field required.", details={"missing": missing})
    except BaseException:
        form.close()
        raise
    finally:
        await events.aclose()
    return form


# A photo may also be the whole request body, with its own media type (front only). Whatever
# the type says, the decoder tells the format from the bytes, as it does for a multipart part
# (whose own Content-Type is never read): a body that is not a supported format is 415.
RAW_PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"})
# Other names clients and shop systems give the same formats.
RAW_PHOTO_ALIASES = frozenset(
    {"image/jpg", "image/pjpeg", "image/x-citrix-jpeg", "image/x-png", "image/x-citrix-png"}
)
# "Some bytes": what many SDKs send when nobody set a type; the content decides.
UNTYPED_BODY = "application/octet-stream"
RAW_BODY_TYPES = RAW_PHOTO_TYPES | RAW_PHOTO_ALIASES | {UNTYPED_BODY}


async def _raw_chunks(request: Request, idle_timeout_s: float | None) -> AsyncIterator[bytes]:
    try:
        async for chunk in _body(request, idle_timeout_s):
            yield chunk
    except ClientDisconnect as exc:
        raise InvalidInput("The upload was interrupted.") from exc


async def read_photo_body(request: Request, rules: FormRules, field: str) -> Form:
    """Stream a raw photo body into a :class:`Form` holding it as ``field``.

    The same limits as a multipart part: ``max_file_bytes`` (declared or counted, 413),
    the idle timeout (408); an empty body is a 422 like a missing field.
    """
    _check_declared_length(request, rules.max_file_bytes)
    handler = StreamingFileHandler(
        max_bytes=rules.max_file_bytes,
        spool_bytes=rules.spool_bytes,
        mmap_bytes=rules.mmap_bytes,
    )
    content = await handler.read_async(_raw_chunks(request, rules.idle_timeout_s))
    if content.size == 0:
        content.close()
        raise ValidationFailed(f"{field}: the request body is empty.", details={"missing": [field]})
    return Form(files={field: [UploadedFile(field, None, content)]})


def _media_type(request: Request) -> str:
    media_type, _ = parse_options_header(request.headers.get("content-type") or "")
    return media_type.decode("latin-1").lower()


async def read_upload(request: Request, rules: FormRules, *, raw_field: str) -> Form:
    """A multipart form, or one photo sent as the raw body (it becomes ``raw_field``)."""
    if _media_type(request) in RAW_BODY_TYPES:
        return await read_photo_body(request, rules, raw_field)
    try:
        return await read_form(request, rules)
    except UnsupportedMediaType as exc:
        raise UnsupportedMediaType(
            "Send the photos as multipart/form-data, or one photo as the request body with "
            "Content-Type image/jpeg, image/png, image/webp, image/heic or image/heif."
        ) from exc
