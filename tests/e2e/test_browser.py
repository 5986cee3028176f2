"""The whole path in a real browser: the API and the page on loopback, Debian's chromium
driven by playwright, a photo uploaded, the answer read off the screen.

The page is started with the same command ``production_runner.py frontend`` uses. The time
from the upload to the answer on screen is measured and printed (target: 2 s); the
screenshot is saved to the test's tmp folder, and to ``docs/screenshot.png`` (the README's
picture) when ``AMULET_UPDATE_SCREENSHOT=1`` is set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from amulet_ai.config import Settings
from amulet_ai.frontend.i18n import text
from amulet_ai.ops.api_process import ApiProcess, free_port
from amulet_ai.ops.serve import child_env, frontend_command

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULT_BOUND_S = 10.0  # generous for a loaded CI machine; the target is 2 s

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]


@pytest.fixture(scope="module")
def api() -> Iterator[ApiProcess]:
    with ApiProcess(free_port(), env={"AMULET_RATE_LIMIT": ""}, ready_timeout_s=120) as server:
        yield server


@contextmanager
def running_page(api_url: str, log_path: Path) -> Iterator[str]:
    """The page, started as ``production_runner.py frontend`` starts it, talking to ``api_url``."""
    port = free_port()
    command = frontend_command(Settings(), host="127.0.0.1", port=port)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=child_env({"AMULET_PUBLIC_URL": api_url}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    pytest.fail(f"streamlit exited with status {process.returncode}")
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                pytest.fail("the page did not start within 60 s")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def page_url(api: ApiProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_page(api.url, tmp_path_factory.mktemp("streamlit") / "page.log") as url:
        yield url


@contextmanager
def browser_page() -> Iterator[Page]:
    """A fresh chromium tab, Thai locale, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000}, locale="th-TH")
        finally:
            browser.close()


@pytest.fixture
def photo(tmp_path: Path, repo_root: Path, make_photo: Callable[..., bytes]) -> Path:
    """A real amulet photo read from ../shared at run time, else a generated one."""
    shared = repo_root.parent / "shared" / "data" / "amulets" / "phra_sivali" / "front"
    target = tmp_path / "front.jpg"
    candidates = sorted(shared.glob("*.jpg")) if shared.is_dir() else []
    if candidates:
        shutil.copyfile(candidates[0], target)
    else:
        target.write_bytes(make_photo(640, 480))
    return target


def test_upload_a_photo_and_read_the_answer(
    api: ApiProcess, page_url: str, photo: Path, tmp_path: Path, repo_root: Path
) -> None:
    confidence_label = text("confidence_value", "th", percent=0.0).split(":")[0]
    answer_text = re.compile(f"{confidence_label}:|{re.escape(text('unknown_title', 'th'))}")
    with browser_page() as page:
        page.goto(page_url, wait_until="domcontentloaded")
        page.get_by_text(text("nothing_uploaded", "th")).wait_for(timeout=60_000)
        page.get_by_text(text("status_ok", "th")).first.wait_for(timeout=30_000)

        started = time.perf_counter()
        page.locator("input[type=file]").first.set_input_files(str(photo))
        page.get_by_text(answer_text).first.wait_for(timeout=RESULT_BOUND_S * 1000)
        elapsed = time.perf_counter() - started
        print(f"\nupload to answer on screen: {elapsed * 1000:.0f} ms")  # noqa: T201

        known_names = [c["name_th"] for c in httpx.get(api.url + "/v1/classes").json()["classes"]]
        if page.get_by_text(text("unknown_title", "th")).count() == 0:
            headings = page.get_by_test_id("stMain").locator("h3").all_inner_texts()
            assert {h.strip() for h in headings} & set(known_names), headings
        page.get_by_text(text("show_heatmap", "th")).click()
        page.locator("img[src^='data:image/png']").first.wait_for(timeout=10_000)
        page.wait_for_timeout(500)  # let the chart and images settle for the picture

        shot = tmp_path / "screenshot.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("AMULET_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, repo_root / "docs" / "screenshot.png")
    assert elapsed < RESULT_BOUND_S


def test_with_the_api_down_the_page_says_so_without_a_traceback(
    photo: Path, tmp_path: Path
) -> None:
    dead_api = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with running_page(dead_api, tmp_path / "page.log") as url, browser_page() as page:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text(text("status_unreachable", "th"), exact=False).wait_for(timeout=60_000)
        page.locator("input[type=file]").first.set_input_files(str(photo))
        failure = re.compile(
            f"{re.escape(text('api_down', 'th'))}|{re.escape(text('api_paused', 'th'))}"
        )
        page.get_by_text(failure).first.wait_for(timeout=30_000)
        page.get_by_role("button", name=text("retry", "th")).wait_for(timeout=5_000)
        assert page.get_by_test_id("stException").count() == 0
        assert "Traceback" not in page.content()
