"""The hostile-input corpus against a real uvicorn server on 127.0.0.1.

Each case must get exactly its expected status and error code in the JSON envelope, with
``X-Request-ID`` and the security headers, no internal detail in the body, and never a
5xx; the server's RSS must stay under its ceiling, and a good photo must still be
classified after every case.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
from hostile_corpus import UPLOAD_CEILING_MB, HostileCase, build_corpus
from live_server import StartApi, answer_problems, leaks
from raw_http import exchange
from reliability_report import Check, record

MEMORY_CEILING_MB = 1024
# A stalled upload must be cut off by the server's body timeout, well before the client gives up.
BODY_TIMEOUT_S = 2.0
STALL_WAIT_S = BODY_TIMEOUT_S + 8.0
CORPUS_BUDGET_S = 60.0


def _send(
    case: HostileCase, address: tuple[str, int]
) -> tuple[int, dict[str, str], bytes, float, str | None]:
    headers = list(case.headers)
    if case.content_type is not None:
        headers.append(("Content-Type", case.content_type))
    body = list(case.body()) if case.finite else case.body()
    stall_after = None
    if case.mode == "stall":
        whole = b"".join(body)
        body, stall_after = [whole], len(whole) // 2
    answer = exchange(
        address,
        case.method,
        case.target,
        headers=headers,
        body=body,
        mode=case.mode,
        declared_length=case.declared_length,
        stall_after_bytes=stall_after,
        timeout_s=STALL_WAIT_S if case.mode == "stall" else 30.0,
    )
    return answer.status, answer.headers, answer.body, answer.seconds, answer.error


def _item_problems(body: bytes, expected: tuple[str | None, ...]) -> list[str]:
    results = json.loads(body)["results"]
    got = [item["error"]["code"] if item.get("error") else None for item in results]
    if got != list(expected):
        return [f"batch items {got}, expected {list(expected)}"]
    if any(item.get("error") is None and item.get("result") is None for item in results):
        return ["a batch item with neither result nor error"]
    return []


def test_corpus_is_large_and_covers_every_kind() -> None:
    corpus = build_corpus()
    names = {case.name for case in corpus}
    assert len(corpus) >= 60
    for required in (
        "empty_file",
        "random_1k",
        "jpeg_truncated_half",
        "png_truncated_half",
        "wrong_magic_png",
        "html_as_jpeg",
        "svg_as_image",
        "pdf_as_image",
        "zip_as_image",
        "one_by_one_png",
        "png_header_bomb_20000",
        "jpeg_header_bomb_20000",
        "png_decompression_bomb_100mp",
        "cmyk_jpeg",
        "gray16_png",
        "animated_png",
        "jpeg_huge_exif",
        "no_boundary",
        "wrong_field_name",
        "tiny_parts_10000",
        "filename_100k_chars",
        "filename_not_utf8",
        "chunked_file_over_ceiling",
        "stalled_upload",
    ):
        assert required in names


def test_every_hostile_input_gets_its_exact_answer(
    start_api: StartApi, unique_jpeg: Callable[[int], bytes]
) -> None:
    api = start_api(
        {
            "AMULET_MEMORY_LIMIT_MB": str(MEMORY_CEILING_MB),
            "AMULET_MAX_UPLOAD_MB": str(UPLOAD_CEILING_MB),
            "AMULET_UPLOAD_IDLE_TIMEOUT_S": str(BODY_TIMEOUT_S),
        }
    )
    corpus = build_corpus()
    failures: dict[str, list[str]] = {}
    rows = []
    per_case: list[dict[str, object]] = []
    leaked = 0
    good_ok = 0
    started = time.monotonic()
    with httpx.Client(base_url=api.url, timeout=30.0) as good_client:
        for i, case in enumerate(corpus):
            status, headers, body, seconds, error = _send(case, api.address)
            problems = (
                [f"no answer: {error}"]
                if status == 0
                else answer_problems(
                    status,
                    headers,
                    body,
                    expect_status=case.expect_status,
                    expect_code=case.expect_code,
                )
            )
            if case.expect_items is not None and status == 200:
                problems += _item_problems(body, case.expect_items)
            leaked += bool(leaks(body.decode("utf-8", errors="replace")))
            rss = api.rss_mb()
            if rss > MEMORY_CEILING_MB:
                problems.append(f"server RSS {rss:.0f} MB above {MEMORY_CEILING_MB} MB")
            good = good_client.post(
                "/v1/predict", files={"front": ("good.jpg", unique_jpeg(i), "image/jpeg")}
            )
            if good.status_code == 200 and good.json()["cached"] is False:
                good_ok += 1
            else:
                problems.append(f"the good photo after it got {good.status_code}")
            if problems:
                failures[case.name] = problems
            rows.append((case.name, status, round(seconds * 1000.0, 1), round(rss, 1)))
            per_case.append(
                {
                    "name": case.name,
                    "what": case.what,
                    "expect_status": case.expect_status,
                    "expect_code": case.expect_code,
                    "status": status,
                    "ms": round(seconds * 1000.0, 1),
                }
            )
    elapsed = time.monotonic() - started
    peak = api.peak_rss_mb()
    slowest = max(rows, key=lambda row: row[2])
    record(
        "hostile_inputs",
        "Hostile inputs",
        [
            Check(
                "cases answered exactly as expected", len(corpus) - len(failures), "==", len(corpus)
            ),
            Check("answers with a 5xx", sum(1 for row in rows if row[1] >= 500), "==", 0),
            Check("bodies leaking a trace or path", leaked, "==", 0),
            Check("good photo classified after each case", good_ok, "==", len(corpus)),
            Check("server peak RSS (VmHWM)", round(peak, 1), "<", MEMORY_CEILING_MB, "MB"),
            Check("whole corpus run", round(elapsed, 1), "<=", CORPUS_BUDGET_S, "s"),
        ],
        {
            "cases": len(corpus),
            "by_status": {
                str(s): sum(1 for row in rows if row[1] == s) for s in sorted({r[1] for r in rows})
            },
            "slowest_case": {"name": slowest[0], "ms": slowest[2]},
            "failures": failures,
            "per_case": per_case,
        },
    )
    assert failures == {}, "\n".join(f"{name}: {'; '.join(p)}" for name, p in failures.items())
    assert peak < MEMORY_CEILING_MB
    assert elapsed <= CORPUS_BUDGET_S
