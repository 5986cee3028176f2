"""The benchmark's load generator (its Python client, and wrk where installed) against a
small server on loopback.

The server answers in the three ways a client must read: by Content-Length, in chunks, and
with ``Connection: close``; it also checks every request it gets is a well-formed multipart
upload, or a raw ``image/jpeg`` body, of a photo that was sent (with a JPEG comment after
SOI when every request is to be new bytes), and records the bodies it got.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from python_multipart.multipart import parse_options_header

from bench.load import Engine, Form, post_photos, wrk_path

PHOTOS = [b"\xff\xd8first photo\r\n--not-a-boundary\xff\xd9", b"\xff\xd8second\xff\xd9" * 500]
ENGINES: list[Engine] = [
    "python",
    pytest.param("wrk", marks=pytest.mark.skipif(wrk_path() is None, reason="no wrk")),  # type: ignore[list-item]
]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, str, bytes] | None:
    """The request line, Content-Type and body of the next request (it must name a Host)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers["content-length"]))
    if not headers.get("host", "").startswith("127.0.0.1:"):
        return lines[0].encode(), "no host", body
    return lines[0].encode(), headers["content-type"], body


def _photo_in(content_type: str, body: bytes) -> bytes | None:
    """The photo a request carries, per its form; None when the request is malformed."""
    media_type, params = parse_options_header(content_type)
    if media_type == b"image/jpeg":
        return body
    if media_type != b"multipart/form-data":
        return None
    boundary = re.escape(params[b"boundary"])
    match = re.fullmatch(
        rb"--%s\r\nContent-Disposition: form-data; name=\"front\"; "
        rb"filename=\"photo\d*\.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n(.*)\r\n--%s--\r\n"
        % (boundary, boundary),
        body,
        flags=re.DOTALL,
    )
    return match[1] if match else None


def _without_comment(photo: bytes) -> bytes:
    """``photo`` with the COM segment after SOI taken out, if it has one."""
    if photo[2:4] != b"\xff\xfe":
        return photo
    (length,) = struct.unpack(">H", photo[4:6])
    return photo[:2] + photo[4 + length :]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _server(received: list[bytes], form: Form) -> Handler:
    want = "image/jpeg" if form == "raw" else "multipart/form-data"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        while (request := await _read_request(reader)) is not None:
            request_line, content_type, body = request
            photo = _photo_in(content_type, body) if content_type.startswith(want) else None
            ok = request_line == b"POST /v1/predict HTTP/1.1" and photo is not None
            ok = ok and _without_comment(photo or b"") in PHOTOS
            if photo is not None:
                received.append(photo)
            served += 1
            status = b"200 OK" if ok else b"400 Bad Request"
            if served % 3 == 1:
                writer.write(b"HTTP/1.1 %s\r\nContent-Length: 2\r\n\r\n{}" % status)
            elif served % 3 == 2:
                writer.write(
                    b"HTTP/1.1 %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"1\r\n{\r\n1;ext=1\r\n}\r\n0\r\n\r\n" % status
                )
            else:
                writer.write(
                    b"HTTP/1.1 %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}" % status
                )
                await writer.drain()
                break
            await writer.drain()
        writer.close()

    return serve


async def _serving(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("form", ["multipart", "raw"])
async def test_the_python_client_reads_length_chunked_and_closing_answers(form: Form) -> None:
    received: list[bytes] = []
    async for url in _serving(_server(received, form)):
        result = await post_photos(url, PHOTOS, concurrency=3, requests=30, form=form)
    assert (result.engine, result.ok, result.transport_errors, dict(result.statuses)) == (
        "python",
        30,
        0,
        {},
    )
    assert set(received) == set(PHOTOS)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("form", ["multipart", "raw"])
async def test_unique_requests_are_new_bytes_with_the_same_photo(
    engine: Engine, form: Form
) -> None:
    received: list[bytes] = []
    async for url in _serving(_server(received, form)):
        result = await post_photos(
            url, PHOTOS, concurrency=2, duration_s=1.0, form=form, unique=True, engine=engine
        )
    assert result.engine == engine
    assert result.ok > 10 and result.transport_errors == 0 and not result.statuses
    # A request still in flight when the time runs out reaches the server uncounted.
    assert result.ok <= len(received) <= result.ok + 2
    assert len(set(received)) == len(received)  # every body new bytes
    assert {_without_comment(photo) for photo in received} == set(PHOTOS)
    assert len(result.latencies) == result.ok and all(0 < t < 1 for t in result.latencies)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("form", ["multipart", "raw"])
async def test_repeated_requests_carry_the_photos_themselves(engine: Engine, form: Form) -> None:
    received: list[bytes] = []
    async for url in _serving(_server(received, form)):
        result = await post_photos(
            url, PHOTOS, concurrency=2, duration_s=1.0, form=form, engine=engine
        )
    assert result.engine == engine
    assert result.ok > 10 and result.transport_errors == 0 and not result.statuses
    assert set(received) == set(PHOTOS)  # the photos' own bytes, each of them, no comment


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("form", ["multipart", "raw"])
async def test_one_photo_repeated_is_sent_whole_every_time(engine: Engine, form: Form) -> None:
    # wrk sends one repeated photo as a static request, built once.
    received: list[bytes] = []
    async for url in _serving(_server(received, form)):
        result = await post_photos(
            url, PHOTOS[1:], concurrency=2, duration_s=1.0, form=form, engine=engine
        )
    assert result.ok > 10 and result.transport_errors == 0 and not result.statuses
    assert result.ok <= len(received) <= result.ok + 2
    assert set(received) == {PHOTOS[1]}


@pytest.mark.skipif(wrk_path() is None, reason="no wrk")
async def test_wrk_counts_refusals_by_status() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _read_request(reader) is not None:
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()

    async for url in _serving(refuse):
        result = await post_photos(url, PHOTOS, concurrency=2, duration_s=1.0, engine="wrk")
    assert result.ok == 0 and result.latencies == []
    assert set(result.statuses) == {503} and result.statuses[503] > 10


async def test_a_refused_connection_counts_as_a_transport_error() -> None:
    server = await asyncio.start_server(_server([], "multipart"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await post_photos(f"http://127.0.0.1:{port}", PHOTOS, concurrency=1, requests=3)
    assert (result.ok, result.transport_errors) == (0, 3)
