"""The page in every state a collector can meet, run by streamlit's AppTest.

The API is faked at the client seam (see conftest); every request is counted, so "no API
call" is asserted, not assumed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import httpx
import pyarrow.ipc
import pytest
from fake_amulet_api import CATALOG, Clock, FakeApi
from PIL import Image
from streamlit.testing.v1 import AppTest

from amulet_ai.frontend.i18n import LABELS, text

Upload = Callable[..., None]


def all_text(app: AppTest) -> str:
    """Every visible text of the page, main area and sidebar."""
    kinds = ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success")
    return "\n".join(str(element.value) for kind in kinds for element in app.get(kind))


def predict_calls(api: FakeApi) -> int:
    return api.paths().count("/v1/predict")


def png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_nothing_uploaded_asks_for_a_photo_in_thai_and_sends_none(
    page: AppTest, fake_api: FakeApi
) -> None:
    page.run()
    assert not page.exception
    assert [info.value for info in page.info] == [text("nothing_uploaded", "th")]
    assert page.title[0].value == text("page_title", "th")
    assert predict_calls(fake_api) == 0
    sidebar = "\n".join(str(e.value) for e in page.sidebar.get("markdown"))
    status = "\n".join(str(e.value) for e in page.sidebar.get("success"))
    captions = "\n".join(str(e.value) for e in page.sidebar.get("caption"))
    # Catalog names come from the API, in both languages.
    for info in CATALOG:
        assert info.name_th in sidebar and info.name_en in sidebar
    assert text("status_ok", "th") in status
    assert "9.9.9" in captions and "http://api.test" in captions


def test_a_result_shows_both_names_confidence_top3_and_time(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(320, 240))
    assert not page.exception
    shown = all_text(page)
    assert "### พระทดสอบหนึ่ง" in shown  # the Thai name leads in Thai
    assert "Test Buddha One" in shown
    assert text("confidence_value", "th", percent=82.0) in shown
    (timing,) = [c.value for c in page.caption if c.value.startswith("ใช้เวลา")]
    assert "(เซิร์ฟเวอร์ 9 มิลลิวินาที)" in timing
    (chart,) = page.get("vega_lite_chart")
    (dataset,) = chart.proto.datasets
    table = pyarrow.ipc.open_stream(dataset.data.data).read_all().to_pydict()
    assert table == {
        text("amulet_type", "th"): ["พระทดสอบหนึ่ง", "พระทดสอบสอง", "พระทดสอบสาม"],
        text("probability", "th"): [82.0, 12.0, 6.0],
    }
    assert text("unknown_title", "th") not in shown
    assert predict_calls(fake_api) == 1
    request = [r for r in fake_api.requests if r.url.path == "/v1/predict"][0]
    assert request.url.params["explain"] == "true" and request.url.params["top_k"] == "3"
    # The history has the answer with a thumbnail.
    history = page.sidebar.get("markdown")
    assert any("พระทดสอบหนึ่ง" in str(m.value) and "82%" in str(m.value) for m in history)
    (thumbnail,) = page.sidebar.get("image")
    assert thumbnail.proto.imgs[0].url.startswith("data:image/jpeg;base64,")


def test_a_rerun_with_the_same_photo_makes_no_api_call(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    upload(page, make_photo(320, 240))
    before = len(fake_api.requests)
    page.run()
    page.run()
    assert len(fake_api.requests) == before, fake_api.paths()[before:]
    assert text("from_session", "th") in all_text(page)
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
    page.sidebar.radio(key="language").set_value("en").run()
    shown = all_text(page)
    assert page.title[0].value == LABELS["page_title"]["en"]
    assert "### Test Buddha One" in shown and "พระทดสอบหนึ่ง" in shown
    assert text("confidence_value", "en", percent=82.0) in shown
    assert page.file_uploader(key="front_photo").label == text("upload_front", "en")
    assert len(fake_api.requests) == before


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
    assert text("confidence_value", "th", percent=50.0) not in shown
    page.sidebar.radio(key="language").set_value("en").run()
    assert "Not one of the types I know" in page.warning[0].value


def test_front_and_back_give_per_side_results(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.answer_with([0.7, 0.2, 0.1], back=[0.1, 0.8, 0.1])
    page.run()
    page.file_uploader(key="back_photo").set_value(("back.jpg", make_photo(seed=2), "image/jpeg"))
    upload(page, make_photo(seed=1))
    shown = all_text(page)
    assert text("per_side", "th") in shown
    assert "พระทดสอบหนึ่ง (Test Buddha One): 70%" in shown
    assert "พระทดสอบสอง (Test Buddha Two): 80%" in shown
    request = [r for r in fake_api.requests if r.url.path == "/v1/predict"][0]
    assert b'name="back"' in request.read()
    assert len(page.main.get("image")) == 2


def test_the_heatmap_overlay_toggles_without_a_new_request(
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
    assert front_picture() == (
        png_data_url(),
        text("heatmap_caption", "th", side=text("front", "th")),
    )
    page.toggle(key="show_heatmap").set_value(False).run()
    assert front_picture()[1] == text("front", "th")
    assert len(fake_api.requests) == calls


def test_an_api_error_shows_the_apis_own_message(
    page: AppTest, fake_api: FakeApi, upload: Upload
) -> None:
    fake_api.fail_with(415, "unsupported_media_type", "Not an image in a supported format.")
    page.run()
    upload(page, b"GIF89a not really", name="x.jpg")
    assert not page.exception
    (error,) = page.error
    assert "Not an image in a supported format." in error.value
    assert text("api_error", "th", message="Not an image in a supported format.") == error.value
    assert not [b for b in page.button if b.key == "retry"], "retrying a bad photo cannot help"


def test_the_api_down_says_so_and_offers_a_retry(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.down = True
    page.run()
    upload(page, make_photo())
    assert not page.exception
    assert text("api_down", "th") in page.error.values
    unreachable = f"{text('status', 'th')}: {text('status_unreachable', 'th')}"
    assert unreachable in page.sidebar.error.values
    assert page.button(key="retry").label == text("retry", "th")


def test_a_slow_api_says_so_and_a_retry_recovers(
    page: AppTest, fake_api: FakeApi, upload: Upload, make_photo: Callable[..., bytes]
) -> None:
    fake_api.predict = httpx.ReadTimeout("no answer in time")
    page.run()
    upload(page, make_photo())
    assert not page.exception
    assert text("api_slow", "th") in page.error.values
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
    page.run()  # health and classes fail: 2 failures
    upload(page, make_photo())  # health, classes, predict: 5 failures, the circuit opens
    sent = len(fake_api.requests)
    assert sent == 5
    for _ in range(4):
        page.button(key="retry").click().run()
        assert not page.exception
        assert text("api_paused", "th") in page.error.values
    assert len(fake_api.requests) == sent, "an open circuit sends nothing"

    fake_api.down = False
    clock.now += 60.0  # the reset timeout passed: one trial call, then normal service
    page.button(key="retry").click().run()
    assert "### พระทดสอบหนึ่ง" in all_text(page)
    assert predict_calls(fake_api) == 2


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
    page: AppTest, fake_api: FakeApi, make_photo: Callable[..., bytes]
) -> None:
    page.run()
    page.toggle(key="use_camera").set_value(True).run()
    page.camera_input(key="camera_photo").set_value(("photo.jpg", make_photo(), "image/jpeg"))
    page.run()
    assert not page.exception
    assert predict_calls(fake_api) == 1
    assert "### พระทดสอบหนึ่ง" in all_text(page)


@pytest.mark.parametrize("language", ["th", "en"])
def test_every_label_exists_in_both_languages(language: str) -> None:
    for key, versions in LABELS.items():
        assert versions.get(language), f"{key} lacks {language}"  # type: ignore[call-overload]
