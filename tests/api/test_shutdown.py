"""SIGTERM on a real API process: the request in flight completes, new ones are refused,
the process exits within its grace period."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from pathlib import Path

from amulet_ai.ops.api_process import ApiProcess, free_port

GRACE_S = 15
BOUNDARY = b"sh0tdown"
PART_HEAD = (
    b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="front"; filename="a.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n"
)
FORM_END = b"\r\n--" + BOUNDARY + b"--\r\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return True
    return False


def test_sigterm_lets_the_request_in_flight_finish(
    model_dir: Path, tmp_path: Path, photo: bytes
) -> None:
    log_path = tmp_path / "api.log"
    env = {
        "AMULET_MODEL_DIR": str(model_dir),
        "AMULET_SHUTDOWN_GRACE_S": str(GRACE_S),
        "AMULET_WARMUP_RUNS": "0",
        "AMULET_INFERENCE_WORKERS": "1",
        "AMULET_RATE_LIMIT": "",
        "AMULET_LOG_LEVEL": "INFO",
    }
    port = free_port()
    with log_path.open("wb") as log:
        api = ApiProcess(port, env=env, output=log).start()
        try:
            api.wait_ready()
            sock = socket.create_connection(("127.0.0.1", port), timeout=GRACE_S)
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n\r\n"
            )
            sock.sendall(_chunk(PART_HEAD + photo[:500]))
            time.sleep(0.5)  # the request is now being served
            assert api.process is not None
            api.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            deadline = signalled + 5.0
            while not _refuses_connections(port):
                assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
                time.sleep(0.1)

            sock.sendall(_chunk(photo[500:] + FORM_END) + b"0\r\n\r\n")
            response = http.client.HTTPResponse(sock)
            response.begin()
            body = json.loads(response.read())
            sock.close()
            exit_code = api.process.wait(timeout=GRACE_S + 10)
            took = time.monotonic() - signalled
        finally:
            api.stop(grace_s=5.0)
    assert response.status == 200, body
    assert body["images"]["front"]["format"] == "JPEG"
    # uvicorn re-raises the signal once it has shut down cleanly, so -SIGTERM is its exit.
    assert exit_code in (0, -signal.SIGTERM)
    assert took < GRACE_S
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "draining: 1 requests in flight" in log_text
    assert "api stopped" in log_text  # the lifespan ran to its end
