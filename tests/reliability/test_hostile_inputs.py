"""The hostile-input corpus against a real uvicorn server on 127.0.0.1.

Each case is a test of its own, all against one server: it must get exactly its expected
status and error code in the JSON envelope, with ``X-Request-ID`` and the security
headers, no internal detail in the body, and never a 5xx; the server's RSS after it and
its peak RSS while it ran must stay under its ceiling, and a good photo must still be
classified after it. A last test checks the whole run (peak memory, time) and records the
figures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import hostile_images as img
import httpx
import pytest
from hostile_corpus import ADMIN_KEY, UPLOAD_CEILING_MB, HostileCase, build_corpus
from live_server import StartApi, answer_problems, leaks
from PIL import Image
from raw_http import exchange
from reliability_report import Check, record

from amulet_ai.ops.api_process import ApiProcess

MEMORY_CEILING_MB = 1024
# A stalled upload must be cut off by the server's body timeout, well before the client gives up.
BODY_TIMEOUT_S = 2.0
STALL_WAIT_S = BODY_TIMEOUT_S + 8.0
CORPUS_BUDGET_S = 60.0
CORPUS = build_corpus()


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
    names = {case.name for case in CORPUS}
    assert len(CORPUS) >= 60
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


@dataclass
class CorpusRun:
    """One server for the whole corpus, and what each case measured on it."""

    api: ApiProcess
    good_client: httpx.Client
    started: float
    rows: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    leaked: int = 0
    good_ok: int = 0


@pytest.fixture(scope="module")
def corpus_run(start_module_api: StartApi) -> Iterator[CorpusRun]:
    api = start_module_api(
        {
            "AMULET_MEMORY_LIMIT_MB": str(MEMORY_CEILING_MB),
            "AMULET_MAX_UPLOAD_MB": str(UPLOAD_CEILING_MB),
            "AMULET_UPLOAD_IDLE_TIMEOUT_S": str(BODY_TIMEOUT_S),
            "AMULET_ADMIN_KEY": ADMIN_KEY,
        }
    )
    with httpx.Client(base_url=api.url, timeout=30.0) as good_client:
        yield CorpusRun(api, good_client, time.monotonic())


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_hostile_input_gets_its_exact_answer(
    case: HostileCase, corpus_run: CorpusRun, unique_jpeg: Callable[[int], bytes]
) -> None:
    run = corpus_run
    peak_before = run.api.peak_rss_mb()
    status, headers, body, seconds, error = _send(case, run.api.address)
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
    run.leaked += bool(leaks(body.decode("utf-8", errors="replace")))
    rss = run.api.rss_mb()
    if rss > MEMORY_CEILING_MB:
        problems.append(f"server RSS {rss:.0f} MB above {MEMORY_CEILING_MB} MB")
    # RSS after the answer misses a peak freed before it: the high-water mark does not.
    peak = run.api.peak_rss_mb()
    if peak > MEMORY_CEILING_MB >= peak_before:
        problems.append(f"server peak RSS rose to {peak:.0f} MB, above {MEMORY_CEILING_MB} MB")
    good = run.good_client.post(
        "/v1/predict",
        files={"front": ("good.jpg", unique_jpeg(len(run.rows)), "image/jpeg")},
    )
    if good.status_code == 200 and good.json()["cached"] is False:
        run.good_ok += 1
    else:
        problems.append(f"the good photo after it got {good.status_code}")
    if problems:
        run.failures[case.name] = problems
    run.rows[case.name] = (status, round(seconds * 1000.0, 1), round(rss, 1))
    assert problems == []


def test_the_whole_corpus_within_its_memory_and_time(corpus_run: CorpusRun) -> None:
    run = corpus_run
    elapsed = time.monotonic() - run.started
    assert set(run.rows) == {case.name for case in CORPUS}, "every case ran on this server"
    peak = run.api.peak_rss_mb()
    slowest = max(run.rows.items(), key=lambda row: row[1][1])
    statuses = [row[0] for row in run.rows.values()]
    record(
        "hostile_inputs",
        "Hostile inputs",
        [
            Check(
                "cases answered exactly as expected",
                len(CORPUS) - len(run.failures),
                "==",
                len(CORPUS),
            ),
            Check("answers with a 5xx", sum(1 for s in statuses if s >= 500), "==", 0),
            Check("bodies leaking a trace or path", run.leaked, "==", 0),
            Check("good photo classified after each case", run.good_ok, "==", len(CORPUS)),
            Check("server peak RSS (VmHWM)", round(peak, 1), "<", MEMORY_CEILING_MB, "MB"),
            Check("whole corpus run", round(elapsed, 1), "<=", CORPUS_BUDGET_S, "s"),
        ],
        {
            "cases": len(CORPUS),
            "by_status": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "slowest_case": {"name": slowest[0], "ms": slowest[1][1]},
            "failures": run.failures,
            "per_case": [
                {
                    "name": case.name,
                    "what": case.what,
                    "expect_status": case.expect_status,
                    "expect_code": case.expect_code,
                    "status": run.rows[case.name][0],
                    "ms": run.rows[case.name][1],
                }
                for case in CORPUS
            ],
        },
    )
    assert run.failures == {}, "\n".join(f"{n}: {'; '.join(p)}" for n, p in run.failures.items())
    assert peak < MEMORY_CEILING_MB
    assert elapsed <= CORPUS_BUDGET_S


def test_large_photos_at_once_stay_under_the_ceiling(corpus_run: CorpusRun) -> None:
    """Twelve photos near the decode bound at once, on the corpus's server after the corpus:
    every one is classified, and the decodes running together (one per inference worker)
    share one budget instead of each holding up to the bound."""
    run = corpus_run
    photos = [
        img.encode(Image.new("RGB", (4500, 4500), (40 * i, 90, 160)), "WEBP", method=0)
        for i in range(4)
    ] + [img.png_zero_bomb(7000, 7000) + bytes([i]) for i in range(8)]
    statuses: list[int] = []

    def send(index: int) -> None:
        response = httpx.post(
            f"{run.api.url}/v1/predict",
            files={"front": (f"{index}.img", photos[index], "image/png")},
            timeout=120.0,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(photos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150.0)
    assert statuses == [200] * len(photos)
    assert run.api.peak_rss_mb() < MEMORY_CEILING_MB
