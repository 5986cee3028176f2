"""A raw HTTP/1.1 client on a socket, for requests no well-behaved client would send.

httpx refuses to lie about Content-Length, to stop sending when the server has already
answered, or to stall half-way through a body; this does all three. One request per
connection (``Connection: close``). While the body goes out, the socket is watched for an
early answer (a 413 before the upload ends); once one arrives, sending stops and the answer
is read.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    """What came back: status 0 means no HTTP answer at all (``error`` says why)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    sent_bytes: int = 0
    answered_early: bool = False
    error: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _head(method: str, target: str, host: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunked(pieces: Iterable[bytes]) -> Iterable[bytes]:
    for piece in pieces:
        if piece:
            yield f"{len(piece):x}\r\n".encode("ascii") + piece + b"\r\n"
    yield b"0\r\n\r\n"


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> bool:
    """Send ``data``; False as soon as the server has something to say (or hung up)."""
    view = memoryview(data)
    while view:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("send timed out")
        readable, writable, _ = select.select([sock], [sock], [], remaining)
        if readable:
            return False
        if writable:
            try:
                sent = sock.send(view[: 256 * 1024])
            except (BrokenPipeError, ConnectionResetError):
                return False
            view = view[sent:]
    return True


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete answer before the deadline")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    if not head:
        return 0, {}, b""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def exchange(
    address: tuple[str, int],
    method: str,
    target: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: Iterable[bytes] = (),
    mode: str = "plain",
    declared_length: int | None = None,
    stall_after_bytes: int | None = None,
    timeout_s: float = 30.0,
) -> RawResponse:
    """Send one request and read its answer, or time out.

    ``mode``: ``plain`` (Content-Length = the body's size; the body is joined first),
    ``chunked``, ``declared``/``expect`` (Content-Length = ``declared_length``, which may
    lie; ``expect`` adds ``Expect: 100-continue`` and waits for a word before sending),
    ``stall`` (Content-Length of the whole body, then only ``stall_after_bytes`` sent).
    """
    started = time.monotonic()
    deadline = started + timeout_s
    pieces: Iterable[bytes]
    extra = list(headers)
    if mode in ("plain", "stall"):
        whole = b"".join(body)
        extra.append(("Content-Length", str(len(whole))))
        cut = len(whole) if stall_after_bytes is None else stall_after_bytes
        pieces = [whole[:cut]] if mode == "stall" else [whole]
    elif mode == "chunked":
        extra.append(("Transfer-Encoding", "chunked"))
        pieces = _chunked(body)
    elif mode in ("declared", "expect"):
        extra.append(("Content-Length", str(declared_length)))
        if mode == "expect":
            extra.append(("Expect", "100-continue"))
        pieces = body
    else:
        raise ValueError(f"unknown mode {mode!r}")
    result = RawResponse(0)
    try:
        with socket.create_connection(address, timeout=timeout_s) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            complete = _send_all(
                sock, _head(method, target, f"{address[0]}:{address[1]}", extra), deadline
            )
            if mode == "expect" and complete:
                # A server that will refuse answers now instead of asking for the body.
                select.select([sock], [], [], max(0.0, min(2.0, deadline - time.monotonic())))
            for piece in pieces if complete else ():
                if not _send_all(sock, piece, deadline):
                    result.answered_early = True
                    break
                result.sent_bytes += len(piece)
            status, answer_headers, answer_body = _read_answer(sock, deadline)
            result.status, result.headers, result.body = status, answer_headers, answer_body
    except (TimeoutError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    return result
