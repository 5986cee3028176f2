"""The benchmark's own HTTP/1.1 client against a small server on loopback.

The server answers in the three ways the client must read: by Content-Length, in chunks, and
with ``Connection: close``; it also checks every request it gets is a well-formed multipart
upload of the photo that was sent.
"""

from __future__ import annotations

import asyncio
import re

from python_multipart.multipart import parse_options_header

from bench.load import post_photos

PHOTOS = [b"\xff\xd8first photo\r\n--not-a-boundary\xff\xd9", b"\xff\xd8second\xff\xd9" * 500]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    body = await reader.readexactly(int(headers["Content-Length"]))
    _, params = parse_options_header(headers["Content-Type"])
    return lines[0].encode(), params[b"boundary"], body


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    served = 0
    while (request := await _read_request(reader)) is not None:
        request_line, boundary, body = request
        match = re.fullmatch(
            rb"--%s\r\nContent-Disposition: form-data; name=\"front\"; "
            rb"filename=\"photo\d+\.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n(.*)\r\n--%s--\r\n"
            % (re.escape(boundary), re.escape(boundary)),
            body,
            flags=re.DOTALL,
        )
        ok = request_line == b"POST /v1/predict HTTP/1.1" and match and match[1] in PHOTOS
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


async def test_reads_length_chunked_and_closing_answers_over_keep_alive() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await post_photos(f"http://127.0.0.1:{port}", PHOTOS, concurrency=3, requests=30)
        fresh = await post_photos(
            f"http://127.0.0.1:{port}", lambda i: PHOTOS[i % 2], concurrency=2, requests=8
        )
    assert (result.ok, result.transport_errors, dict(result.statuses)) == (30, 0, {})
    assert (fresh.ok, fresh.transport_errors, dict(fresh.statuses)) == (8, 0, {})


async def test_a_refused_connection_counts_as_a_transport_error() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await post_photos(f"http://127.0.0.1:{port}", PHOTOS, concurrency=1, requests=3)
    assert (result.ok, result.transport_errors) == (0, 3)
