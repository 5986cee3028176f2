"""What the reliability tests share: the settings their servers start from, and the checks
every answer must pass.

Their servers are :class:`~amulet_ai.ops.api_process.ApiProcess` children on free
127.0.0.1 ports, logging to a file, their memory read from outside (the ``start_api``
fixtures of ``conftest.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from amulet_ai.ops.api_process import ApiProcess

# Settings every reliability server starts from; a test adds or overrides its own.
BASE_ENV = {
    "AMULET_RATE_LIMIT": "",
    "AMULET_WARMUP_RUNS": "1",
    "AMULET_LOG_FORMAT": "text",
    "AMULET_REDIS_URL": "",
}

# What no answer may contain: a traceback, an internal path, a source file name.
LEAK_MARKERS = ("Traceback", "/work/", "site-packages", ".py")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


StartApi = Callable[..., ApiProcess]
"""The ``start_api`` fixture's type: ``start_api(env, port=None, wait=...) -> ApiProcess``."""


def leaks(text: str) -> list[str]:
    """The leak markers found in an answer body."""
    return [marker for marker in LEAK_MARKERS if marker in text]


def answer_problems(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    expect_status: int,
    expect_code: str | None,
) -> list[str]:
    """Everything wrong with one answer, as short sentences; empty when it is right.

    Every answer: the expected status, a sane ``X-Request-ID``, the security headers, no
    internal detail in the body. An error: the JSON envelope with the expected code, a
    message, and the same request id as the header; 429/503: ``Retry-After``. A 200 from
    the predict route: a ``top1`` verdict.
    """
    problems = []
    lower = {k.lower(): v for k, v in headers.items()}
    if status != expect_status:
        problems.append(f"status {status}, expected {expect_status}")
    if status >= 500 and expect_status < 500:
        problems.append("a 5xx for something the client sent")
    request_id = lower.get("x-request-id")
    if not request_id or not _SANE_ID.fullmatch(request_id):
        problems.append(f"bad X-Request-ID {request_id!r}")
    for name, value in SECURITY_HEADERS.items():
        if lower.get(name) != value:
            problems.append(f"header {name}={lower.get(name)!r}")
    text = body.decode("utf-8", errors="replace")
    found = leaks(text)
    if found:
        problems.append(f"body leaks {found}")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        return [*problems, f"body is not JSON: {text[:80]!r}"]
    if expect_code is None:
        verdict = isinstance(parsed, dict) and ("top1" in parsed or "results" in parsed)
        if status == 200 and not verdict:
            problems.append("a 200 without a verdict")
        return problems
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict) or set(parsed) != {"error"}:
        return [*problems, f"not the error envelope: {text[:120]!r}"]
    if error.get("code") != expect_code:
        problems.append(f"code {error.get('code')!r}, expected {expect_code!r}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        problems.append("no message")
    if error.get("request_id") != request_id:
        problems.append("envelope request_id differs from X-Request-ID")
    if status in (429, 503) and not lower.get("retry-after", "").isdigit():
        problems.append("no Retry-After")
    return problems
