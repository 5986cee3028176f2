"""Against a real uvicorn on loopback: streamed limits, chunked bodies, keep-alive."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest

from amulet_ai.ops.api_process import ApiThread

FILE_CEILING = 262_144  # max_upload_mb=0.25
BODY_CEILING = 2 * FILE_CEILING + 64 * 1024  # front + back + room for the form's framing
BOUNDARY = b"xYzBoundary"
PART_HEAD = (
    b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="front"; filename="a.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n"
)
FORM_END = b"\r\n--" + BOUNDARY + b"--\r\n"


@pytest.fixture
def server(live_server: Callable[..., ApiThread]) -> ApiThread:
    return live_server(max_upload_mb=0.25)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _send(
    port: int, headers: dict[str, str], pieces: Iterable[bytes], timeout_s: float = 10.0
) -> tuple[int, http.client.HTTPMessage, dict[str, Any]]:
    """Send a request piece by piece on a raw socket, then read the answer.

    Nothing signals the end of a chunked body unless a piece does, so a server that waited
    for the whole body before answering would make this time out.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())
        for piece in pieces:
            sock.sendall(piece)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
        return response.status, response.msg, body


def _multipart_headers(**extra: str) -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}", **extra}


def test_chunked_upload_over_the_ceiling_is_refused_as_soon_as_it_crosses(
    server: ApiThread,
) -> None:
    block = b"\xff" * 65_536
    pieces = [_chunk(PART_HEAD)] + [_chunk(block)] * 5  # 320 kB of a 256 kB ceiling, no end
    started = time.perf_counter()
    status, headers, body = _send(
        server.port, _multipart_headers(**{"Transfer-Encoding": "chunked"}), pieces
    )
    assert time.perf_counter() - started < 5.0
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["message"] == "The upload is larger than 256 KB."
    assert headers["X-Request-ID"] == body["error"]["request_id"]


def test_declared_length_over_the_ceiling_is_refused_before_the_body(
    server: ApiThread,
) -> None:
    status, _, body = _send(
        server.port, _multipart_headers(**{"Content-Length": str(50 * 1024 * 1024)}), []
    )
    assert status == 413
    assert body["error"] == {
        "code": "payload_too_large",
        "message": "The request body is larger than 576 KB.",
        "request_id": body["error"]["request_id"],
        "details": {"max_bytes": BODY_CEILING},
    }


def test_body_ceiling_counts_every_byte_not_only_the_files(server: ApiThread, photo: bytes) -> None:
    # A complete, valid form followed by an endless epilogue: the parser ignores epilogues,
    # the byte count does not.
    form = PART_HEAD + photo + FORM_END
    # Just enough epilogue that the last piece crosses the ceiling: the server has read
    # everything sent when it answers, so closing cannot reset the connection early.
    pieces = [_chunk(form)] + [_chunk(b"e" * 65_536)] * ((BODY_CEILING - len(form)) // 65_536 + 1)
    status, _, body = _send(
        server.port, _multipart_headers(**{"Transfer-Encoding": "chunked"}), pieces
    )
    assert status == 413
    assert body["error"]["message"] == "The request body is larger than 576 KB."


def test_a_chunked_upload_under_the_ceiling_succeeds(server: ApiThread, photo: bytes) -> None:
    body = PART_HEAD + photo + FORM_END
    pieces = [_chunk(body[i : i + 1000]) for i in range(0, len(body), 1000)] + [b"0\r\n\r\n"]
    status, headers, answer = _send(
        server.port,
        _multipart_headers(**{"Transfer-Encoding": "chunked", "X-Request-ID": "chunky"}),
        pieces,
    )
    assert status == 200
    assert answer["request_id"] == "chunky" and headers["X-Request-ID"] == "chunky"
    assert answer["images"]["front"]["format"] == "JPEG"


def test_many_requests_on_one_kept_alive_connection(server: ApiThread, photo: bytes) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answers = [client.post("/v1/predict", files={"front": ("a.jpg", photo)}) for _ in range(5)]
        answers.append(client.get("/v1/model"))
    assert [a.status_code for a in answers] == [200] * 6
    assert [a.json().get("cached") for a in answers[:5]] == [False, True, True, True, True]


@pytest.mark.parametrize("path", ["/health", "/health/live", "/v2/health/ready", "/metrics"])
def test_head_answers_as_get_without_the_body(server: ApiThread, path: str) -> None:
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        got, head = http.get(path), http.head(path)
    assert head.status_code == got.status_code == 200
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["x-content-type-options"] == "nosniff"
    assert head.content == b""


def test_head_on_a_route_without_get_is_its_405(server: ApiThread) -> None:
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        head = http.head("/v1/predict")
    assert head.status_code == 405
    assert head.headers["allow"] == "POST"
    assert head.content == b""
