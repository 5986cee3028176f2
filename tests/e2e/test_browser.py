"""The whole path in a real browser: the API and the page on loopback, Debian's chromium
driven by playwright, photos uploaded, the answer read off the screen.

The page is started with the same command ``production_runner.py frontend`` uses. Checked
here: the phone layout at 390 px (the verdict above the photo, the language switch on the
page, the camera one tap away, a phone-style scene photo shown small under the verdict with
the box where the amulet was found beside the crop that was judged, the verdict scrolled onto
the screen, every tab on it) and the desktop one; no English left on the Thai page but
names; a pair with a side to retake (no amulet found on
it), and the same pair judged whole (locate off, chosen under "about") naming its
unrecognised side; the busy message when a collector hits the rate limit while another
collector, arriving from another loopback address and forwarded by the page with it, is
still served; and the API down.
Screenshots of both widths go to the test's tmp folder, and to ``docs/`` only when asked
(``AMULET_RECORD=1``), never on a plain run.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from amulet_ai.api.docs import FAVICON_FILE
from amulet_ai.config import Settings
from amulet_ai.frontend.failures import message
from amulet_ai.frontend.i18n import LANGUAGE_NAMES, Language, text
from amulet_ai.frontend.located import advice
from amulet_ai.ops.api_process import ApiProcess, free_port
from amulet_ai.ops.serve import child_env, frontend_command

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Route

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
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 1000}
RECORD = os.environ.get("AMULET_RECORD") == "1"

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def tab(browser: Browser, viewport: dict[str, int], **options: Any) -> Iterator[Page]:
    """A fresh browser context (its own Streamlit session) with one tab, Thai locale."""
    context = browser.new_context(viewport=viewport, locale="th-TH", **options)  # type: ignore[arg-type]
    try:
        yield context.new_page()
    finally:
        context.close()


def real_photos(repo_root: Path, kind: str, count: int, side: str = "front") -> list[Path]:
    folder = repo_root.parent / "shared" / "data" / "amulets" / kind / side
    return sorted(folder.glob("*.jpg"))[:count] if folder.is_dir() else []


@pytest.fixture
def photo(tmp_path: Path, repo_root: Path, make_photo: Callable[..., bytes]) -> Path:
    """A real amulet photo read from ../shared at run time, else a generated one."""
    target = tmp_path / "front.jpg"
    candidates = real_photos(repo_root, "phra_sivali", 1)
    if candidates:
        shutil.copyfile(candidates[0], target)
    else:
        target.write_bytes(make_photo(640, 480))
    return target


@pytest.fixture
def scene_photo(tmp_path: Path, repo_root: Path) -> Path | None:
    """A phone-style scene made at run time: a development photo from ../shared pasted on a
    generated 1200 x 1600 canvas (a lit, grainy table); None where ../shared is absent."""
    candidates = real_photos(repo_root, "phra_sivali", 1)
    if not candidates:
        return None
    rng = np.random.default_rng(7)
    light = np.linspace(1.05, 0.85, 1600)[:, None, None]
    grain = rng.normal(0, 6, (1600, 1200, 3))
    table = np.clip(np.array([196, 178, 150]) * light + grain, 0, 255).astype(np.uint8)
    canvas = Image.fromarray(table)
    with Image.open(candidates[0]) as amulet:
        canvas.paste(amulet.convert("RGB").resize((760, 760)), (230, 380))
    target = tmp_path / "scene.jpg"
    canvas.save(target, "JPEG", quality=88)
    return target


def open_page(page: Page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(text("nothing_uploaded", "th")).wait_for(timeout=60_000)


def upload(page: Page, key: str, path: Path) -> None:
    """Put ``path`` in the uploader ``key`` and wait until the page has it.

    A file set while the page is redrawing after the previous upload can be dropped with
    the input it was set on, so it is set again (once) when its chip does not appear.
    """
    chip = page.locator(f'.st-key-{key} [data-testid=stFileChipName][title="{path.name}"]')
    for attempt in range(2):
        page.locator(f".st-key-{key} input[type=file]").set_input_files(str(path))
        try:
            chip.wait_for(timeout=5_000)
            return
        except PlaywrightTimeout:
            if attempt:
                raise


def wait_for_answer(page: Page, language: Language = "th") -> None:
    main = page.get_by_test_id("stMain")
    answer = main.locator("h3").or_(main.get_by_text(text("unknown_title", language)))
    answer.first.wait_for(timeout=RESULT_BOUND_S * 1000)
    page.wait_for_timeout(800)  # let the images and the status widget settle


def save_shot(page: Page, tmp_path: Path, repo_root: Path, name: str) -> None:
    """The whole page: the window is made as tall as the page (Streamlit scrolls inside)."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    width = (page.viewport_size or DESKTOP)["width"]
    page.set_viewport_size({"width": width, "height": max(600, int(height))})
    page.wait_for_timeout(500)
    shot = tmp_path / name
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if RECORD:
        shutil.copyfile(shot, repo_root / "docs" / name)


# Every text a person can see (on the page, or under the element it is given): not icon
# ligatures, not screen-reader-only labels.
_VISIBLE_TEXT = """(root) => {
  root = root || document.body;
  const said = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    if (!parent || !node.textContent.trim()) continue;
    const icon = '[data-testid=stIconMaterial], [data-testid=stAlertDynamicIcon]';
    if (parent.closest(icon + ', script, style')) continue;
    const box = parent.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;
    if (!parent.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    said.push(node.textContent);
  }
  root.querySelectorAll('*').forEach((element) => {
    const after = getComputedStyle(element, '::after').content;
    if (after && after !== 'none' && after !== 'normal') said.push(after);
  });
  return said.join('\\n');
}"""


def english_left(page: Page | Locator, names: list[str]) -> list[str]:
    """Latin words on screen (on the page, or in one part of it) once the names that are
    English by nature are taken out."""
    shown: str = page.evaluate(_VISIBLE_TEXT)
    for allowed in sorted(names, key=len, reverse=True):
        shown = shown.replace(allowed, "")
    shown = re.sub(r"[\w.-]+\.jpe?g", "", shown)  # the collector's own file names
    shown = re.sub(r"\d+(\.\d+)?\s?[KM]B", "", shown)  # sizes
    return re.findall(r"[A-Za-z]{2,}", shown)


def looks_like_our_favicon(png: bytes) -> bool:
    """The same picture as ``amulet_ai/static/favicon.png`` (Streamlit re-encodes it)."""
    served = Image.open(io.BytesIO(png)).convert("RGBA")
    ours = Image.open(FAVICON_FILE).convert("RGBA").resize(served.size)
    difference = np.abs(np.asarray(served, np.int16) - np.asarray(ours, np.int16))
    return float(difference.mean()) < 8.0


def known_names(api: ApiProcess, field: str) -> list[str]:
    return [c[field] for c in httpx.get(api.url + "/v1/classes").json()["classes"]]


def test_on_a_phone_the_verdict_comes_first_in_thai_only(
    api: ApiProcess,
    page_url: str,
    browser: Browser,
    photo: Path,
    scene_photo: Path | None,
    tmp_path: Path,
    repo_root: Path,
) -> None:
    photo = scene_photo or photo
    with tab(browser, PHONE, is_mobile=True, has_touch=True) as page:
        open_page(page, page_url)
        # The language switch is on the page; the camera opens with one tap on a phone.
        switch = page.get_by_test_id("stMain").get_by_text(LANGUAGE_NAMES["en"], exact=True)
        # The page draws top to bottom: wait for the switch rather than look at once.
        switch.wait_for(state="visible", timeout=15_000)
        # Every tab on the screen, none cut off behind Streamlit's scroll arrow.
        for tab_box in (t.bounding_box() for t in page.get_by_role("tab").all()):
            assert tab_box is not None and tab_box["x"] + tab_box["width"] <= PHONE["width"]
        camera = page.locator(".st-key-camera_photo input[type=file]")
        assert camera.get_attribute("capture") == "environment"
        limit = text("upload_limit", "th", limit="20 MB")
        # The server's limit, not Streamlit's (raises when it never shows).
        page.get_by_text(limit).wait_for(state="visible", timeout=15_000)

        started = time.perf_counter()
        upload(page, "camera_photo", photo)
        wait_for_answer(page)
        elapsed = time.perf_counter() - started
        print(f"\nupload to answer on screen at 390 px: {elapsed * 1000:.0f} ms")  # noqa: T201

        main = page.get_by_test_id("stMain")
        verdict = main.locator("h3").or_(main.get_by_text(text("unknown_title", "th"))).first
        picture = main.get_by_test_id("stImage").first
        verdict_box, picture_box = verdict.bounding_box(), picture.bounding_box()
        assert verdict_box is not None and picture_box is not None
        assert verdict_box["y"] + verdict_box["height"] <= picture_box["y"], "verdict first"
        # Below the photo inputs, yet on the screen without scrolling: the page brings it up.
        assert 0 <= verdict_box["y"] and verdict_box["y"] + verdict_box["height"] <= PHONE["height"]
        if scene_photo is not None:
            # The scene's amulet is found: its photo with the box and the crop judged sit
            # side by side under the verdict, small, so the phone's screen holds both; the
            # committed model greys the backdrop, and the caption says the grey was ignored.
            main.get_by_text(text("crop_caption", "th")).wait_for(timeout=10_000)
            found = text("found_greyed_caption", "th")
            main.get_by_text(found).wait_for(timeout=5_000)
            images = main.get_by_test_id("stImage")
            assert images.count() == 2
            boxed, crop = images.nth(0).bounding_box(), images.nth(1).bounding_box()
            assert boxed is not None and crop is not None
            assert abs(boxed["y"] - crop["y"]) < 4, "side by side"
            assert boxed["x"] + boxed["width"] <= crop["x"]
            assert boxed["width"] + crop["width"] < PHONE["width"] * 0.75
            assert boxed["height"] < PHONE["height"] * 0.4
        if main.get_by_text(text("unknown_title", "th")).count() == 0:
            assert verdict.inner_text().strip() in known_names(api, "name_th")
        names = ["Amulet-AI", "English", "JPG", "PNG", "WebP", "HEIC", "MB"]
        assert english_left(page, names + known_names(api, "name_en")) == []
        assert not re.search(r"100(\.0)?\s*%", main.inner_text())
        save_shot(page, tmp_path, repo_root, "page-phone.png")
    assert elapsed < RESULT_BOUND_S


def test_on_a_desktop_in_english_a_pair_says_how_its_sides_agree(
    page_url: str,
    browser: Browser,
    repo_root: Path,
    tmp_path: Path,
    make_photo: Callable[..., bytes],
) -> None:
    fronts = real_photos(repo_root, "prok_bodhi_9_leaves", 1)
    backs = real_photos(repo_root, "prok_bodhi_9_leaves", 1, side="back")
    if not fronts or not backs:
        pytest.skip("../shared/data/amulets is not present")
    with tab(browser, DESKTOP) as page:
        open_page(page, page_url)
        page.get_by_test_id("stMain").get_by_text(LANGUAGE_NAMES["en"], exact=True).click()
        page.get_by_text(text("nothing_uploaded", "en")).wait_for(timeout=10_000)
        upload(page, "back_photo", backs[0])
        upload(page, "front_photo", fronts[0])
        wait_for_answer(page, "en")
        main = page.get_by_test_id("stMain")
        said = [text("sides_agree", "en"), text("unknown_both", "en")]
        said += [text("unknown_front", "en"), text("unknown_back", "en")]
        pattern = "|".join(re.escape(s) for s in said) + "|The two sides disagree"
        main.get_by_text(re.compile(pattern)).first.wait_for(timeout=5_000)
        # Each side's photo with its box, beside the picture judged (the crop, or the photo
        # judged whole where the amulet fills it, as a tight development photo may),
        # explained in English.
        explained = [text(k, "en") for k in ("found_greyed_caption", "filled_caption")]
        found = main.get_by_text(re.compile("|".join(re.escape(e) for e in explained)))
        found.first.wait_for(timeout=5_000)
        assert found.count() == 2
        verdict_box = main.locator("h3").or_(main.get_by_text(text("unknown_title", "en")))
        box = verdict_box.first.bounding_box()
        picture = main.get_by_test_id("stImage").first.bounding_box()
        assert box is not None and picture is not None
        assert box["x"] + box["width"] <= picture["x"], "the verdict beside, left of the photos"
        # The calibrated probability is one click away; the heatmap one switch away.
        calibrated = re.compile(re.escape(text("calibrated", "en", percent="")) + r"(>99|\d+)%")
        assert (
            main.get_by_text(calibrated).count() == 0
            or not main.get_by_text(calibrated).first.is_visible()
        )
        main.get_by_text(text("details", "en")).click()
        main.get_by_text(calibrated).first.wait_for(timeout=5_000)
        main.get_by_text(text("show_heatmap", "en")).click()
        main.locator("img[src^='data:image/png']").first.wait_for(timeout=10_000)
        # Each heatmap says what it is drawn on: the judged crop, or the photo judged whole.
        drawn_on = [text(k, "en") for k in ("heatmap_on_crop", "heatmap_on_photo")]
        captions = main.get_by_text(re.compile("|".join(re.escape(d) for d in drawn_on)))
        captions.first.wait_for(timeout=5_000)
        assert captions.count() == 2
        save_shot(page, tmp_path, repo_root, "page-desktop.png")


def test_an_unrecognised_back_is_named(
    api: ApiProcess,
    page_url: str,
    browser: Browser,
    photo: Path,
    tmp_path: Path,
    make_photo: Callable[..., bytes],
) -> None:
    back = tmp_path / "back.jpg"
    back.write_bytes(make_photo(400, 400, seed=3))  # waves of colour, no amulet

    def truth(locate: str) -> dict[str, Any]:
        with open(photo, "rb") as f, open(back, "rb") as b:
            files = {"front": f, "back": b}
            params = {"locate": locate}
            answer: dict[str, Any] = httpx.post(
                api.url + "/v1/predict", files=files, params=params, timeout=30
            ).json()
        return answer

    located, whole = truth("auto"), truth("off")
    # Found by the localiser: no amulet on the back, and the page says to retake it.
    assert located["images"]["back"]["location"]["status"] == "no_amulet"
    retake_back = text(
        "retake_side", "th", side=text("back", "th"), title=advice("no_amulet", "th")[0]
    )
    # Judged whole (locate off): the back is unlike every known type.
    images = whole["images"]
    assert images["back"]["unknown"]["is_unknown"], "a picture of colour waves is not an amulet"
    front_unknown = images["front"]["unknown"]["is_unknown"]
    expected = text("unknown_both" if front_unknown else "unknown_back", "th")
    with tab(browser, PHONE) as page:
        open_page(page, page_url)
        upload(page, "back_photo", back)
        upload(page, "front_photo", photo)
        main = page.get_by_test_id("stMain")
        main.get_by_text(retake_back).wait_for(timeout=RESULT_BOUND_S * 1000)
        assert main.locator("h3").count() == 0, "no type is named for a photo to retake"
        names = ["Amulet-AI", "English", "JPG", "PNG", "WebP", "HEIC", "MB"]
        assert english_left(page, names + known_names(api, "name_en")) == []
        main.get_by_text(text("about", "th"), exact=True).click()
        main.get_by_text(text("locate_off", "th"), exact=True).click()
        main.get_by_text(text("unknown_title", "th")).wait_for(timeout=RESULT_BOUND_S * 1000)
        main.get_by_text(expected).wait_for(timeout=5_000)


@pytest.fixture(scope="module")
def limited_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A page on an API that allows each client 3 requests a minute."""
    env = {"AMULET_RATE_LIMIT": "3/minute"}
    with ApiProcess(free_port(), env=env, ready_timeout_s=120) as server:
        log = tmp_path_factory.mktemp("streamlit-limited") / "page.log"
        with running_page(server.url, log) as url:
            yield url


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@contextmanager
def arriving_from(address: str, url: str) -> Iterator[str]:
    """``url`` reached through a loopback TCP relay whose connections leave from ``address``.

    The page then sees a browser at ``address`` (any 127.0.0.0/8 address is this machine),
    as it sees each collector's own address in production: a second collector is a second
    relay. Bytes are relayed untouched, the WebSocket included.
    """
    target = httpx.URL(url)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    connections: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                incoming, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            outgoing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            outgoing.bind((address, 0))
            try:
                outgoing.connect((target.host, target.port or 80))
            except OSError:
                incoming.close()
                outgoing.close()
                continue
            connections.extend((incoming, outgoing))
            for ends in ((incoming, outgoing), (outgoing, incoming)):
                threading.Thread(target=_pump, args=ends, daemon=True).start()

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
        for connection in connections:
            connection.close()


def test_a_busy_collector_is_told_to_wait_and_another_collector_is_still_served(
    limited_page: str,
    browser: Browser,
    photo: Path,
    tmp_path: Path,
    make_photo: Callable[..., bytes],
) -> None:
    second = tmp_path / "second.jpg"
    second.write_bytes(make_photo(300, 300, seed=7))
    # Two collectors, each at its own address; the page forwards each one's to the API.
    busy = re.compile(r"เซิร์ฟเวอร์มีงานมาก กรุณาลองใหม่อีกครั้งในอีก \d+ วินาที")
    with arriving_from("127.0.0.7", limited_page) as url, tab(browser, PHONE) as page:
        open_page(page, url)  # the model's details and the catalog: 2 requests
        upload(page, "front_photo", photo)  # the third (the closest photos then get a 429)
        wait_for_answer(page)
        upload(page, "front_photo", second)  # over the limit
        page.get_by_text(busy).wait_for(timeout=RESULT_BOUND_S * 1000)
        page.get_by_role("button", name=text("retry", "th")).wait_for(timeout=5_000)
        assert "Rate limit" not in page.content()
    with arriving_from("127.0.0.8", limited_page) as url, tab(browser, PHONE) as page:
        open_page(page, url)
        upload(page, "front_photo", photo)
        wait_for_answer(page)
        assert page.get_by_text(busy).count() == 0


def test_the_api_docs_and_both_favicons_work_with_no_internet(
    api: ApiProcess, page_url: str, browser: Browser
) -> None:
    outside: list[str] = []
    with tab(browser, DESKTOP) as page:

        def only_loopback(route: Route) -> None:
            if httpx.URL(route.request.url).host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_loopback)
        page.goto(api.url + "/docs", wait_until="domcontentloaded")
        page.locator(".swagger-ui .info .title").get_by_text("Amulet-AI").wait_for(timeout=20_000)
        page.locator(".opblock-summary-path", has_text="/v1/predict").first.wait_for()
        icons = {api.url: page.locator("link[rel~=icon]").first.get_attribute("href")}
        open_page(page, page_url)  # the page sets its icon once its script has run
        icons[page_url] = page.locator("link[rel~=icon]").first.get_attribute("href")
    for base, href in icons.items():
        answer = httpx.get(httpx.URL(base).join(href or ""), timeout=10)
        assert answer.status_code == 200, base
        assert looks_like_our_favicon(answer.content), base
    assert outside == [], "nothing is fetched from outside the machine"


def test_with_the_api_down_the_page_says_so_without_a_traceback(
    browser: Browser, photo: Path, tmp_path: Path
) -> None:
    dead_api = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with running_page(dead_api, tmp_path / "page.log") as url, tab(browser, DESKTOP) as page:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text(text("nothing_uploaded", "th")).wait_for(timeout=60_000)
        upload(page, "front_photo", photo)
        failure = re.compile(
            f"{re.escape(message('upstream_unavailable', 'th'))}"
            f"|{re.escape(message('circuit_open', 'th'))}"
        )
        page.get_by_text(failure).first.wait_for(timeout=30_000)
        page.get_by_role("button", name=text("retry", "th")).wait_for(timeout=5_000)
        assert page.get_by_test_id("stException").count() == 0
        assert "Traceback" not in page.content()


@pytest.fixture(scope="module")
def saving_page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API that keeps photos in its own SQLite file, and a page on it."""
    data = tmp_path_factory.mktemp("saved_work")
    env = {"AMULET_RATE_LIMIT": "", "AMULET_DATA_DIR": str(data), "AMULET_HISTORY": "photos"}
    with (
        ApiProcess(free_port(), env=env, ready_timeout_s=120) as server,
        running_page(server.url, data / "page.log") as url,
    ):
        yield url


def test_a_check_is_in_my_checks_with_its_thumbnail_after_a_reload(
    saving_page_url: str, browser: Browser, photo: Path
) -> None:
    with tab(browser, DESKTOP) as page:
        open_page(page, saving_page_url)
        upload(page, "front_photo", photo)
        wait_for_answer(page)
        page.get_by_text(text("saved_as_history", "th")).wait_for(timeout=10_000)
        # Under the result, in Thai: the correction and the collection, folded.
        main = page.get_by_test_id("stMain")
        main.get_by_text(text("wrong_answer", "th")).wait_for(state="visible", timeout=10_000)
        main.get_by_text(text("save_to_collection", "th")).wait_for(state="visible", timeout=10_000)

        page.reload(wait_until="domcontentloaded")  # a new Streamlit session
        page.get_by_text(text("nothing_uploaded", "th")).wait_for(timeout=60_000)
        page.get_by_role("tab", name=text("tab_history", "th")).click()
        panel = page.locator("[role=tabpanel]:visible")
        panel.get_by_text(text("when_saved", "th", when="")).first.wait_for(timeout=10_000)
        thumbnail = panel.get_by_test_id("stImage").first
        thumbnail.wait_for(timeout=10_000)
        assert thumbnail.is_visible()
        assert panel.get_by_role("button", name=text("delete", "th")).count() == 1


def located_photo(page: Page, language: Language) -> Locator:
    """The front photo drawn with its box (not a thumbnail of the closest photos)."""
    caption = page.get_by_text(text("front", language), exact=True)
    return page.get_by_test_id("stMain").get_by_test_id("stImage").filter(has=caption).first


def test_on_a_phone_the_photo_comes_between_the_verdict_and_what_to_do_with_it(
    api: ApiProcess,
    saving_page_url: str,
    browser: Browser,
    photo: Path,
    scene_photo: Path | None,
) -> None:
    """Verdict, then the photo with its box, the crop and the heatmap switch, then "this
    answer is wrong", "save to my collection" and the closest photos; on a desktop those
    stay under the verdict, beside the photos. "About", opened on the Thai page, is Thai
    around its identifiers."""
    photo = scene_photo or photo
    with tab(browser, PHONE, is_mobile=True, has_touch=True) as page:
        open_page(page, saving_page_url)
        upload(page, "front_photo", photo)
        wait_for_answer(page)
        main = page.get_by_test_id("stMain")
        actions = [text(k, "th") for k in ("saved_as_history", "wrong_answer", "closest")]
        actions.append(text("save_to_collection", "th"))
        for said in actions:
            main.get_by_text(said, exact=True).wait_for(state="visible", timeout=10_000)
        verdict = main.locator("h3").or_(main.get_by_text(text("unknown_title", "th"))).first
        switch = main.get_by_text(text("show_heatmap", "th"), exact=True)
        about = main.get_by_text(text("about", "th"), exact=True)

        def top_and_bottom(element: Locator) -> tuple[float, float]:
            box = element.bounding_box()
            assert box is not None
            return box["y"], box["y"] + box["height"]

        verdict_end = top_and_bottom(verdict)[1]
        boxed = located_photo(page, "th")
        photo_top, photo_end = top_and_bottom(boxed)
        pictures_end = max(photo_end, top_and_bottom(switch)[1])
        assert verdict_end <= photo_top, "the verdict first"
        for said in actions:
            action_top = top_and_bottom(main.get_by_text(said, exact=True))[0]
            assert pictures_end <= action_top, f"{said} after the photo and its switch"
            assert action_top < top_and_bottom(about)[0]

        # "About" in Thai: every label and sentence, around the operator's identifiers.
        about.click()
        main.get_by_text(text("api_url", "th"), exact=False).wait_for(timeout=10_000)
        section = main.get_by_test_id("stExpander").filter(has_text=text("about", "th"))
        model = httpx.get(api.url + "/v1/model", timeout=10).json()
        identifiers = [model["name"], model["version"], model["onnx_file"]]
        shown = section.inner_text()
        assert all(identifier in shown for identifier in identifiers)
        assert re.search(r"http://127\.0\.0\.1:\d+", shown)
        words = english_left(section, identifiers + ["http://127.0.0.1"])
        assert words == [], words

    with tab(browser, DESKTOP) as page:
        open_page(page, saving_page_url)
        upload(page, "front_photo", photo)
        wait_for_answer(page)
        main = page.get_by_test_id("stMain")
        wrong = main.get_by_text(text("wrong_answer", "th"), exact=True)
        wrong.wait_for(state="visible", timeout=10_000)
        verdict_box = main.locator("h3").or_(main.get_by_text(text("unknown_title", "th")))
        verdict_at, wrong_at = verdict_box.first.bounding_box(), wrong.bounding_box()
        picture = located_photo(page, "th").bounding_box()
        assert verdict_at is not None and wrong_at is not None and picture is not None
        assert verdict_at["y"] < wrong_at["y"], "under the verdict"
        assert wrong_at["x"] + wrong_at["width"] <= picture["x"], "left of the photos"
