"""uvicorn's HTTP protocol, answering a request it cannot parse with the API's envelope.

uvicorn refuses a request its parser cannot read (a Content-Length that is not a number or
two that differ, a Transfer-Encoding it does not know, a bad chunk size, an unknown
method, a request line or URL over its limit) itself, before any app sees it, with a
``text/plain`` "Invalid HTTP request received.". This protocol writes the answer every
other refusal gets instead: 400 ``invalid_input`` in the JSON envelope, with a fresh
``X-Request-ID`` and the security headers, the connection closed as before.

:class:`JsonErrorHttpToolsProtocol` is what :func:`~amulet_ai.ops.serve.serve_api` passes
as uvicorn's ``http``: httptools comes with ``uvicorn[standard]`` and is the parser
uvicorn's ``"auto"`` picks.
"""

from __future__ import annotations

import json
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from amulet_ai.api.middleware import SECURITY_HEADERS
from amulet_ai.errors import InvalidInput

MESSAGE = "The request is not valid HTTP/1.1."


def refusal() -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers (all but Content-Length) and the JSON body of the 400 for a request
    that could not be parsed."""
    request_id = os.urandom(8).hex()
    body = json.dumps(InvalidInput(MESSAGE).to_dict(request_id)).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
    headers.append((b"connection", b"close"))
    return headers, body


class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :func:`refusal` for a request it cannot parse."""

    def send_400_response(self, msg: str) -> None:
        headers, body = refusal()
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in [*self.server_state.default_headers, *headers]:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
