"""The client's own behaviour at its transport seam (httpx.MockTransport, httpx's test double):
error mapping, retries and Retry-After, the circuit breaker, uploads, headers, closing."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from amulet_ai.client import API_KEY_HEADER, AmuletClient, AsyncAmuletClient, parse_retry_after
from amulet_ai.errors import (
    AmuletError,
    CircuitOpen,
    Overloaded,
    RateLimited,
    UnsupportedMediaType,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from amulet_ai.runtime.circuit import CircuitBreaker, CircuitState

ErrorJson = Callable[[str, str], dict[str, Any]]


class Recorder:
    """A MockTransport handler that answers from a script and keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(handler: Recorder, **kwargs: Any) -> AmuletClient:
    kwargs.setdefault("retries", 2)
    kwargs.setdefault("backoff_s", 0.01)
    return AmuletClient("http://api.test", transport=httpx.MockTransport(handler), **kwargs)


def test_predict_returns_the_api_schema(predict_json: dict[str, Any]) -> None:
    handler = Recorder(httpx.Response(200, json=predict_json))
    with make_client(handler) as client:
        result = client.predict(b"\xff\xd8\xff front", top_k=2, explain=True)
    assert result.top1.class_id == "phra_sivali"
    assert result.top1.name_th == "พระสีวลี"
    assert result.timing_ms.total == 4.0
    (request,) = handler.requests
    assert request.method == "POST" and request.url.path == "/v1/predict"
    assert request.url.params["top_k"] == "2" and request.url.params["explain"] == "true"
    body = request.read()
    assert b'name="front"; filename="front.jpg"' in body and b"Content-Type: image/jpeg" in body
    assert b'name="back"' not in body


def test_the_mask_is_asked_for_only_when_wanted_and_an_older_answer_parses(
    predict_json: dict[str, Any],
) -> None:
    # An older server's location: no mask key at all.
    predict_json["images"]["front"]["location"] = {
        "status": "found",
        "method": "localiser",
        "box": {"x": 1, "y": 1, "width": 6, "height": 6, "image_width": 8, "image_height": 8},
        "confidence": 0.9,
    }
    batch_json = {
        "request_id": "req-2",
        "model": predict_json["model"],
        "results": [{"index": 0, "filename": "a.jpg", "result": dict(predict_json)}],
        "timing_ms": predict_json["timing_ms"],
    }
    answer = httpx.Response(200, json=predict_json)
    handler = Recorder(answer, answer, httpx.Response(200, json=batch_json))
    with make_client(handler) as client:
        result = client.predict(b"\xff\xd8\xff front", mask=True)
        client.predict(b"\xff\xd8\xff front")
        client.predict_batch([b"\xff\xd8\xff a"], mask=True)
    location = result.images.front.location
    assert location is not None and location.status == "found" and location.mask is None
    asked, plain, batch = (request.url.params for request in handler.requests)
    assert asked["mask"] == "true" and batch["mask"] == "true"
    assert "mask" not in plain  # a request without the option is as before it existed


def test_bytes_paths_and_file_objects_send_the_same_content(
    tmp_path: Path, predict_json: dict[str, Any], make_photo: Callable[..., bytes]
) -> None:
    photo = make_photo(64, 64)
    path = tmp_path / "my_amulet.jpg"
    path.write_bytes(photo)
    handler = Recorder(httpx.Response(200, json=predict_json))
    with make_client(handler) as client, path.open("rb") as fh:
        client.predict(photo)
        client.predict(path)
        client.predict(str(path), back=fh)
    bodies = [r.read() for r in handler.requests]
    assert all(photo in body for body in bodies)
    assert b'filename="my_amulet.jpg"' in bodies[1]
    assert b'name="back"; filename="my_amulet.jpg"' in bodies[2]


def test_a_text_mode_file_is_refused(tmp_path: Path, predict_json: dict[str, Any]) -> None:
    (tmp_path / "a.txt").write_text("x")
    with make_client(Recorder(httpx.Response(200, json=predict_json))) as client:
        with (tmp_path / "a.txt").open("r") as fh, pytest.raises(TypeError, match="binary"):
            client.predict(fh)  # type: ignore[arg-type]


def test_api_errors_become_the_class_of_their_code_with_the_apis_message(
    error_json: ErrorJson,
) -> None:
    body = error_json("unsupported_media_type", "Not an image we can read.")
    handler = Recorder(httpx.Response(415, json=body, headers={"X-Request-ID": "req-err"}))
    with make_client(handler) as client, pytest.raises(UnsupportedMediaType) as caught:
        client.predict(b"GIF89a")
    assert caught.value.message == "Not an image we can read."
    assert caught.value.details["request_id"] == "req-err"
    assert caught.value.details["status"] == 415
    assert len(handler.requests) == 1, "a 4xx must not be retried"


def test_an_answer_without_the_envelope_maps_by_status() -> None:
    handler = Recorder(httpx.Response(502, text="<html>Bad gateway</html>"))
    with make_client(handler, retries=0) as client, pytest.raises(UpstreamUnavailable):
        client.health()
    handler = Recorder(httpx.Response(418, text="teapot"))
    with make_client(handler) as client, pytest.raises(AmuletError) as caught:
        client.classes()
    assert type(caught.value) is AmuletError


def test_a_2xx_that_is_not_ours_is_an_upstream_failure() -> None:
    handler = Recorder(httpx.Response(200, json={"hello": "proxy"}))
    with make_client(handler) as client, pytest.raises(UpstreamUnavailable, match="not an"):
        client.classes()


def test_503_is_retried_honouring_retry_after(
    predict_json: dict[str, Any], error_json: ErrorJson
) -> None:
    busy = httpx.Response(
        503, json=error_json("overloaded", "Busy."), headers={"Retry-After": "0.2"}
    )
    handler = Recorder(busy, busy, httpx.Response(200, json=predict_json))
    with make_client(handler, retries=2) as client:
        started = time.monotonic()
        result = client.predict(b"photo")
        elapsed = time.monotonic() - started
    assert result.request_id == "req-1"
    assert len(handler.requests) == 3
    assert elapsed >= 0.4, "each retry waits at least Retry-After"


def test_429_retries_stop_at_the_limit_and_raise_the_typed_error(error_json: ErrorJson) -> None:
    limited = httpx.Response(
        429, json=error_json("rate_limited", "Slow down."), headers={"Retry-After": "0"}
    )
    handler = Recorder(limited)
    with make_client(handler, retries=3) as client, pytest.raises(RateLimited) as caught:
        client.classes()
    assert len(handler.requests) == 4
    assert caught.value.retry_after == 0.0 and caught.value.message == "Slow down."


def test_a_retry_after_too_long_to_wait_ends_the_retries(error_json: ErrorJson) -> None:
    handler = Recorder(
        httpx.Response(503, json=error_json("overloaded", "Busy."), headers={"Retry-After": "600"})
    )
    with make_client(handler, retries=3) as client, pytest.raises(Overloaded) as caught:
        client.health()
    assert len(handler.requests) == 1 and caught.value.retry_after == 600.0


def test_a_client_that_must_not_wait_reports_a_429_at_once(error_json: ErrorJson) -> None:
    limited = httpx.Response(
        429, json=error_json("rate_limited", "Slow down."), headers={"Retry-After": "7"}
    )
    handler = Recorder(limited, httpx.ConnectError("refused"))
    with make_client(handler, retries=3, max_retry_after_s=0.0) as client:
        with pytest.raises(RateLimited) as caught:
            client.classes()
        assert len(handler.requests) == 1 and caught.value.retry_after == 7.0
        # Connection failures carry no Retry-After: they are still retried.
        with pytest.raises(UpstreamUnavailable):
            client.health()
    assert len(handler.requests) == 5


def test_per_call_headers_travel_with_that_call_only(predict_json: dict[str, Any]) -> None:
    handler = Recorder(httpx.Response(200, json=predict_json))
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    with make_client(handler) as client:
        client.predict(b"photo", headers=forwarded)
        client.predict(b"photo")
    assert handler.requests[0].headers["X-Forwarded-For"] == "198.51.100.7"
    assert "X-Forwarded-For" not in handler.requests[1].headers


def test_connection_errors_are_retried_then_reported_as_upstream_unavailable() -> None:
    handler = Recorder(httpx.ConnectError("refused"))
    with make_client(handler, retries=2) as client, pytest.raises(UpstreamUnavailable) as caught:
        client.health()
    assert len(handler.requests) == 3
    assert not isinstance(caught.value, CircuitOpen)


def test_a_read_timeout_is_not_retried() -> None:
    handler = Recorder(httpx.ReadTimeout("slow"))
    with make_client(handler, retries=3) as client, pytest.raises(UpstreamTimeout):
        client.predict(b"photo")
    assert len(handler.requests) == 1, "resending a request the API is working on doubles its load"


def test_the_circuit_opens_after_the_threshold_and_stops_calling(
    predict_json: dict[str, Any],
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, reset_timeout_s=15.0, clock=lambda: now[0])
    handler = Recorder(httpx.ConnectError("refused"))
    client = make_client(handler, retries=1, breaker=breaker)
    with pytest.raises(UpstreamUnavailable):
        client.health()  # two attempts, two failures
    with pytest.raises(CircuitOpen) as caught:
        client.health()  # third attempt opens the circuit; no retry of CircuitOpen
    assert len(handler.requests) == 3
    for _ in range(5):
        with pytest.raises(CircuitOpen):
            client.predict(b"photo")
    assert len(handler.requests) == 3, "an open circuit sends nothing"
    assert caught.value.retry_after is not None and caught.value.retry_after <= 15.0

    now[0] = 15.0  # half-open: one trial call; the API is back
    handler.answers = [httpx.Response(200, json=predict_json)]
    assert client.predict(b"photo").top1.class_id == "phra_sivali"
    assert breaker.state is CircuitState.CLOSED
    assert len(handler.requests) == 4
    client.close()


def test_client_errors_do_not_open_the_circuit(error_json: ErrorJson) -> None:
    breaker = CircuitBreaker(2, reset_timeout_s=60.0)
    handler = Recorder(httpx.Response(400, json=error_json("corrupt_image", "Broken.")))
    with make_client(handler, breaker=breaker) as client:
        for _ in range(5):
            with pytest.raises(AmuletError):
                client.predict(b"broken")
    assert breaker.state is CircuitState.CLOSED and len(handler.requests) == 5


def test_the_api_key_travels_in_its_header(predict_json: dict[str, Any]) -> None:
    handler = Recorder(httpx.Response(200, json=predict_json))
    with make_client(handler, api_key="secret-1") as client:
        client.predict(b"photo")
    with make_client(handler) as client:
        client.predict(b"photo")
    assert handler.requests[0].headers[API_KEY_HEADER] == "secret-1"
    assert API_KEY_HEADER not in handler.requests[1].headers


def test_defaults_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from amulet_ai.config import Settings

    settings = Settings(
        public_url="http://example.invalid:9000/",
        client_timeout_s=2.5,
        circuit_failure_threshold=7,
        circuit_reset_s=3.0,
    )
    with AmuletClient(settings=settings) as client:
        assert client.base_url == "http://example.invalid:9000"
        assert client.breaker.failure_threshold == 7
        assert client.breaker.reset_timeout_s == 3.0
        assert client._pool.options.timeout_s == 2.5


def test_close_is_clean_and_idempotent(predict_json: dict[str, Any]) -> None:
    client = make_client(Recorder(httpx.Response(200, json=predict_json)))
    client.predict(io.BytesIO(b"photo"))
    client.close()
    client.close()
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.predict(b"photo")


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-1") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None


async def test_the_async_client_retries_and_maps_errors_the_same_way(
    predict_json: dict[str, Any], error_json: ErrorJson
) -> None:
    busy = httpx.Response(503, json=error_json("overloaded", "Busy."), headers={"Retry-After": "0"})
    handler = Recorder(busy, httpx.Response(200, json=predict_json))
    async with AsyncAmuletClient(
        "http://api.test", transport=httpx.MockTransport(handler), retries=2, backoff_s=0.01
    ) as client:
        result = await client.predict(b"photo", b"back photo")
        assert result.top1.class_id == "phra_sivali"
        assert len(handler.requests) == 2
        assert b'name="back"' in handler.requests[1].read()
        handler.answers = [httpx.Response(415, json=error_json("unsupported_media_type", "No."))]
        with pytest.raises(UnsupportedMediaType, match="No."):
            await client.predict(b"text")
    assert client.closed
