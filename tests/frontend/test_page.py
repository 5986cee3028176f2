"""The page in every state a collector can meet, run by streamlit's AppTest.

The API is faked at the client seam (see conftest); every request is counted, so "no API
call" is asserted, not assumed.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable

import httpx
import pytest
from fake_amulet_api import CATALOG, UPLOAD_LIMIT_MB, Clock, FakeApi
from page_nodes import elements, texts
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, FileUploader, Markdown, Toggle
from streamlit.testing.v1.element_tree import Image as ImageElement

from amulet_ai.frontend.failures import MESSAGES, message
from amulet_ai.frontend.i18n import LABELS, Language, text
from amulet_ai.frontend.views import NARROW_SCREEN_CSS

Upload = Callable[..., None]


def all_text(app: AppTest) -> str:
    """Every visible text of the page, main area and sidebar."""
    return "\n".join(texts(app))


def uploader_words(app: AppTest) -> str:
    """The uploaders' own words, as the page's script and style set them."""
    (html,) = [h for h in app.get("html") if "amuletWords" in h.proto.body]
    body: str = html.proto.body
    return body


def about(app: AppTest) -> Block:
    (section,) = [e for e in app.main.expander if e.label == text("about", "th")]
    return section


def details(app: AppTest, language: Language = "th") -> Block:
    (section,) = [e for e in app.main.expander if e.label == text("details", language)]
    return section


def predict_calls(api: FakeApi) -> int:
    return api.paths().count("/v1/predict")


def png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_nothing_uploaded_asks_for_a_photo_in_thai_with_the_servers_limit(
    page: AppTest, fake_api: FakeApi
) -> None:
    page.run()
    assert not page.exception
    assert [info.value for info in page.tabs[0].info] == [text("nothing_uploaded", "th")]
    assert page.title[0].value == text("page_title", "th")
    assert predict_calls(fake_api) == 0
    # The limit shown is the server's (7.5 MB here), not Streamlit's 200 MB.
    assert UPLOAD_LIMIT_MB == 7.5
    assert text("upload_limit", "th", limit="7.5 MB") in all_text(page)
    words = uploader_words(page)
    assert "รูปนี้ใหญ่เกิน 7.5 MB" in words and "เลือกรูป" in words
    # On a phone the tabs wrap rather than hide the last one behind a scroll arrow.
    assert [h.proto.body for h in page.get("html")].count(
        f"<style>{NARROW_SCREEN_CSS}</style>"
    ) == 1
    # The language switch is on the page, not only in the sidebar.
    assert page.main.radio(key="language").value == "th"
    sidebar = "\n".join(e.value for e in elements(page.sidebar, "markdown", Markdown))
    for info in CATALOG:  # catalog names come from the API, in both languages
        assert info.name_th in sidebar and info.name_en in sidebar


def test_operator_details_live_in_about_folded_away(
    page: AppTest, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(320, 240))
    section = about(page)
    assert not section.proto.expanded
    inside = "\n".join(texts(section))
    assert "http://api.test" in inside and "amulet-test 9.9.9" in inside
    assert "amulet_test.onnx" in inside and text("status_ok", "th") in inside
    assert "(เซิร์ฟเวอร์ 9 มิลลิวินาที)" in inside
    outside = [t for t in texts(page.main) if t not in texts(section)]
    outside += texts(page.sidebar)
    for operator_word in ("http://api.test", "9.9.9", "amulet_test.onnx", "มิลลิวินาที"):
        assert not [t for t in outside if operator_word in t], operator_word


def test_the_verdict_comes_first_in_plain_words_with_the_probability_one_click_away(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(320, 240))
    assert not page.exception
    verdict_column, pictures_column = page.main.columns[2:4]  # after camera | gallery
    verdict_texts = texts(verdict_column)
    assert verdict_texts[:3] == [
        "### พระทดสอบหนึ่ง",
        "Test Buddha One",
        "ความมั่นใจ: :blue-badge[น่าจะใช่]",
    ]
    assert pictures_column.get("image"), "the photos come after the verdict"
    calibrated = text("calibrated", "th", percent="82%")
    assert calibrated not in verdict_texts[:3]
    inside = texts(details(page))
    assert calibrated in inside
    assert "พระทดสอบหนึ่ง (Test Buddha One): **82%**" in inside
    assert "พระทดสอบสาม (Test Buddha Three): **6%**" in inside
    assert text("unknown_title", "th") not in all_text(page)
    request = [r for r in fake_api.requests if r.url.path == "/v1/predict"][0]
    assert request.url.params["explain"] == "true" and request.url.params["top_k"] == "3"
    history = elements(page.sidebar, "markdown", Markdown)
    assert any("พระทดสอบหนึ่ง" in m.value and "82%" in m.value for m in history)
    (thumbnail,) = elements(page.sidebar, "image", ImageElement)
    assert thumbnail.proto.imgs[0].url.startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    ("top", "band", "shown"),
    [
        (0.999, "band_very_likely", ">99%"),
        (0.93, "band_very_likely", "93%"),
        (0.5, "band_not_sure", "50%"),
    ],
)
def test_confidence_is_never_100_percent(
    page: AppTest,
    fake_api: FakeApi,
    upload: Upload,
    make_photo: Callable[..., bytes],
    top: float,
    band: str,
    shown: str,
) -> None:
    rest = (1.0 - top) / 2
    fake_api.answer_with([top, rest, rest])
    page.run()
    upload(page, make_photo())
    assert f"[{text(band, 'th')}]" in all_text(page)
    assert text("calibrated", "th", percent=shown) in texts(details(page))
    explained = text("bands_explained", "th", very=90, likely=60)
    assert not re.search(r"100(\.0)?\s*%", all_text(page).replace(explained, ""))


def test_a_rerun_with_the_same_photo_makes_no_api_call(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(320, 240))
    before = len(fake_api.requests)
    page.run()
    page.run()
    assert len(fake_api.requests) == before, fake_api.paths()[before:]
    assert text("from_session", "th") in texts(about(page))
    assert "### พระทดสอบหนึ่ง" in all_text(page)
    # The same bytes uploaded again (a new file id) are still the same photo.
    upload(page, make_photo(320, 240), name="again.jpg")
    assert len(fake_api.requests) == before
    # A different photo is a new question.
    upload(page, make_photo(320, 240, seed=5))
    assert predict_calls(fake_api) == 2


def test_switching_to_english_relabels_everything_without_calling_the_api(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo())
    before = len(fake_api.requests)
    page.radio(key="language").set_value("en").run()
    shown = all_text(page)
    assert page.title[0].value == LABELS["page_title"]["en"]
    assert "### Test Buddha One" in shown and "พระทดสอบหนึ่ง" in shown
    assert ":blue-badge[Likely]" in shown
    assert text("calibrated", "en", percent="82%") in texts(details(page, "en"))
    assert page.file_uploader(key="front_photo").label == text("upload_front", "en")
    words = uploader_words(page)
    assert "Choose a photo" in words and "เลือกรูป" not in words
    assert len(fake_api.requests) == before


def test_the_thai_page_has_no_english_but_names(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.answer_with([0.7, 0.2, 0.1], back=[0.1, 0.8, 0.1])
    page.run()
    page.file_uploader(key="back_photo").set_value(("back.jpg", make_photo(seed=2), "image/jpeg"))
    upload(page, make_photo(seed=1))
    # English by nature: the service's name, the types' English names (from the API), file
    # formats and units, and, in "about", the operator's identifiers.
    names = ["Amulet-AI", "JPG", "PNG", "WebP", "HEIC", "MB", *(c.name_en for c in CATALOG)]
    operator = ["http://api.test", "amulet-test 9.9.9", "amulet_test.onnx", "blue-badge"]
    words = [
        *texts(page),
        *(u.label for u in elements(page, "file_uploader", FileUploader)),
        *(t.label for t in elements(page, "toggle", Toggle)),
        *(e.label for e in page.main.expander),
        *(b.label for b in page.button),
    ]
    leftovers = []
    for said in words:
        for allowed in sorted(names + operator, key=len, reverse=True):
            said = said.replace(allowed, "")
        leftovers += re.findall(r"[A-Za-z]{2,}", said)
    assert leftovers == []


def test_unknown_is_its_own_message_not_a_guess(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.answer_with([0.5, 0.3, 0.2], unknown=True)
    page.run()
    upload(page, make_photo())
    assert not page.exception
    (warning,) = page.warning
    assert text("unknown_title", "th") in warning.value
    shown = all_text(page)
    assert "### " not in shown, "no type is announced as the answer"
    assert "badge" not in shown
    page.radio(key="language").set_value("en").run()
    assert "Not one of the types I know" in page.warning[0].value


@pytest.mark.parametrize(
    ("front_unknown", "back_unknown", "said"),
    [(False, True, "unknown_back"), (True, False, "unknown_front"), (True, True, "unknown_both")],
)
def test_an_unknown_pair_names_the_side_that_was_not_recognised(
    page: AppTest,
    fake_api: FakeApi,
    upload: Upload,
    make_photo: Callable[..., bytes],
    front_unknown: bool,
    back_unknown: bool,
    said: str,
) -> None:
    fake_api.answer_with(
        [0.6, 0.3, 0.1],
        unknown=True,
        front_unknown=front_unknown,
        back=[0.4, 0.4, 0.2],
        back_unknown=back_unknown,
    )
    page.run()
    page.file_uploader(key="back_photo").set_value(("back.jpg", make_photo(seed=2), "image/jpeg"))
    upload(page, make_photo(seed=1))
    (warning,) = page.warning
    assert text(said, "th") in warning.value
    assert text("unknown_title", "th") in warning.value


def test_a_pair_says_whether_its_sides_agree(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.answer_with([0.7, 0.2, 0.1], back=[0.1, 0.8, 0.1])
    page.run()
    page.file_uploader(key="back_photo").set_value(("back.jpg", make_photo(seed=2), "image/jpeg"))
    upload(page, make_photo(seed=1))
    disagree = text("sides_disagree", "th", front="พระทดสอบหนึ่ง", back="พระทดสอบสอง")
    assert disagree in all_text(page)
    inside = texts(details(page))
    assert "**ด้านหน้า**: พระทดสอบหนึ่ง (Test Buddha One) 70%" in inside
    assert "**ด้านหลัง**: พระทดสอบสอง (Test Buddha Two) 80%" in inside
    request = [r for r in fake_api.requests if r.url.path == "/v1/predict"][0]
    assert b'name="back"' in request.read()
    assert len(page.main.get("image")) == 2

    fake_api.answer_with([0.7, 0.2, 0.1], back=[0.9, 0.05, 0.05])
    upload(page, make_photo(seed=3))
    assert text("sides_agree", "th") in all_text(page)


def test_front_then_back_is_one_history_entry_that_says_both_sides(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(seed=1))

    def history() -> list[str]:
        return [str(m.value) for m in page.sidebar.markdown if "%" in str(m.value)]

    (entry,) = history()
    assert text("history_front_only", "th") in entry
    fake_api.answer_with([0.7, 0.2, 0.1], back=[0.9, 0.05, 0.05])
    upload(page, make_photo(seed=2), key="back_photo")
    (entry,) = history()
    assert text("history_both_sides", "th") in entry
    assert predict_calls(fake_api) == 2
    # A new front is a new piece: a new entry.
    upload(page, make_photo(seed=3))
    assert len(history()) == 2


@pytest.mark.parametrize(
    ("status", "code", "said"),
    [
        (415, "unsupported_media_type", message("unsupported_media_type", "th")),
        (400, "corrupt_image", message("corrupt_image", "th")),
        (413, "payload_too_large", message("payload_too_large_limit", "th", limit="7.5 MB")),
        (413, "image_too_large", message("image_too_large", "th")),
        (500, "internal_error", message("internal_error", "th")),
        (500, "a_code_from_the_future", message("internal_error", "th")),
    ],
)
def test_an_api_error_is_said_from_its_code_in_the_chosen_language(
    page: AppTest, fake_api: FakeApi, upload: Upload, status: int, code: str, said: str
) -> None:
    fake_api.fail_with(status, code, "An English message that must not reach the page.")
    page.run()
    upload(page, b"GIF89a not really", name="x.jpg")
    assert not page.exception
    assert page.error.values == [said]
    assert "English message" not in all_text(page)
    assert not page.get("toggle"), "no heatmap switch with nothing to show"


@pytest.mark.parametrize(("status", "code"), [(429, "rate_limited"), (503, "overloaded")])
def test_a_busy_server_says_try_again_in_n_seconds_at_once(
    page: AppTest,
    fake_api: FakeApi,
    upload: Upload,
    make_photo: Callable[..., bytes],
    status: int,
    code: str,
) -> None:
    fake_api.fail_with(status, code, "Rate limit of 120 requests exceeded.", retry_after=17)
    page.run()
    upload(page, make_photo())
    assert page.error.values == [message("busy_in", "th", seconds=17)]
    assert predict_calls(fake_api) == 1, "the page does not wait out Retry-After itself"
    assert page.button(key="retry").label == text("retry", "th")
    page.radio(key="language").set_value("en").run()
    assert page.error.values == ["The server is busy. Please try again in 17 s."]


def test_the_heatmap_switch_stays_on_across_uploads(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.answer_with(heatmap={"front": png_data_url()})
    page.run()
    upload(page, make_photo())
    calls = len(fake_api.requests)

    def front_picture() -> tuple[str, str]:
        (image,) = page.main.get("image")
        return image.proto.imgs[0].url, image.proto.imgs[0].caption

    assert front_picture()[1] == text("front", "th")
    page.toggle(key="show_heatmap").set_value(True).run()
    overlay = (png_data_url(), text("heatmap_caption", "th", side=text("front", "th")))
    assert front_picture() == overlay
    assert len(fake_api.requests) == calls
    # The photo removed (a run without the switch), then a new one: still on, still shown.
    page.file_uploader(key="front_photo").set_value(None).run()
    assert not page.get("toggle")
    upload(page, make_photo(seed=9))
    assert page.toggle(key="show_heatmap").value is True
    assert front_picture() == overlay
    page.toggle(key="show_heatmap").set_value(False).run()
    assert front_picture()[1] == text("front", "th")


def test_the_api_down_says_so_and_offers_a_retry(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.down = True
    page.run()
    upload(page, make_photo())
    assert not page.exception
    assert message("upstream_unavailable", "th") in page.error.values
    unreachable = f"{text('status', 'th')}: {text('status_unreachable', 'th')}"
    assert unreachable in texts(about(page))
    assert page.button(key="retry").label == text("retry", "th")


def test_a_slow_api_says_so_and_a_retry_recovers(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.predict = httpx.ReadTimeout("no answer in time")
    page.run()
    upload(page, make_photo())
    assert not page.exception
    assert message("upstream_timeout", "th") in page.error.values
    fake_api.answer_with()
    page.button(key="retry").click().run()
    assert not page.exception
    assert "### พระทดสอบหนึ่ง" in all_text(page)
    assert not page.error.values
    assert predict_calls(fake_api) == 2


def test_the_circuit_breaker_stops_calling_a_dead_api_and_tries_again_later(
    page: AppTest,
    fake_api: FakeApi,
    clock: Clock,
    upload: Upload,
    make_photo: Callable[..., bytes],
) -> None:
    fake_api.down = True
    page.run()  # model, health, classes: 3 failures
    upload(page, make_photo())  # model, predict: the fifth failure opens the circuit
    sent = len(fake_api.requests)
    assert sent == 5
    for _ in range(4):
        page.button(key="retry").click().run()
        assert not page.exception
        assert message("circuit_open", "th") in page.error.values
    assert len(fake_api.requests) == sent, "an open circuit sends nothing"

    fake_api.down = False
    clock.now += 60.0  # the reset timeout passed: one trial call, then normal service
    page.button(key="retry").click().run()
    assert "### พระทดสอบหนึ่ง" in all_text(page)
    assert predict_calls(fake_api) == 2, "the failed one, then the one after the pause"


def test_clearing_the_history_forgets_it_without_resending(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(seed=1))
    upload(page, make_photo(seed=2))
    history = [m.value for m in page.sidebar.markdown if "%" in m.value]
    assert len(history) == 2
    calls = len(fake_api.requests)
    page.button(key="clear_history").click().run()
    assert [m.value for m in page.sidebar.markdown if "%" in m.value] == []
    assert text("history_empty", "th") in [c.value for c in page.sidebar.caption]
    assert len(fake_api.requests) == calls
    assert "### พระทดสอบหนึ่ง" in all_text(page), "the current answer stays on the page"


def test_a_camera_photo_is_classified_as_the_front(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(seed=4), key="camera_photo")
    assert not page.exception
    assert predict_calls(fake_api) == 1
    assert "### พระทดสอบหนึ่ง" in all_text(page)
    request = [r for r in fake_api.requests if r.url.path == "/v1/predict"][0]
    assert b'name="front"' in request.read()


@pytest.mark.parametrize("language", ["th", "en"])
def test_every_label_and_message_exists_in_both_languages(language: Language) -> None:
    for table in (LABELS, MESSAGES):
        for key, versions in table.items():
            assert versions.get(language), f"{key} lacks {language}"
