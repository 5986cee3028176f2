"""Where the amulet was found, on the page, with the API faked at the client seam: the photo
with its box and the judged crop, retake advice instead of a verdict, and the locate choice.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Literal

import numpy as np
import pytest
from fake_amulet_api import CATALOG, FakeApi, location
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from amulet_ai.frontend.i18n import Language, text
from amulet_ai.frontend.located import PixelBox, advice, judged_crop, located_pictures
from amulet_ai.frontend.views import LOCATE_ON
from amulet_ai.imaging.decode import decode_picture
from amulet_ai.imaging.masks import mask_data_url
from amulet_ai.model.results import ClassificationStatus, PhotoMask

Upload = Callable[..., None]
KINDS = ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success")
BOX = (160, 120, 240, 200)  # x, y, width, height on the fake API's 640 x 480 photo


def texts(node: AppTest | Block) -> list[str]:
    return [str(getattr(element, "value", "")) for kind in KINDS for element in node.get(kind)]


def main_text(app: AppTest) -> str:
    return "\n".join(texts(app.main))


def predicts(api: FakeApi) -> list[dict[str, str]]:
    return [dict(r.url.params) for r in api.requests if r.url.path == "/v1/predict"]


def pictures(app: AppTest) -> list[tuple[str, str]]:
    """The main area's images: their addresses and captions."""
    return [(e.proto.imgs[0].url, e.proto.imgs[0].caption) for e in app.main.get("image")]


def shows(url: str, data: bytes) -> bool:
    """Whether the image at ``url`` (a data URL: the page sends its pictures as made) is
    ``data``."""
    prefix = "data:image/jpeg;base64,"
    return url.startswith(prefix) and base64.b64decode(url[len(prefix) :]) == data


@pytest.fixture
def photo() -> bytes:
    """A 640 x 480 photo whose "amulet" (dark blue) fills :data:`BOX` on a pale backdrop."""
    pixels = np.full((480, 640, 3), 220, np.uint8)
    x, y, width, height = BOX
    pixels[y : y + height, x : x + width] = (30, 60, 200)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_the_photo_shows_its_box_beside_the_crop_that_was_judged(
    page: AppTest, fake_api: FakeApi, upload: Upload, photo: bytes
) -> None:
    fake_api.answer_with(front_location=location("found", BOX))
    page.run()
    upload(page, photo)
    assert not page.exception
    assert "### พระทดสอบหนึ่ง" in main_text(page), "a found amulet gets its verdict"
    (boxed, boxed_caption), (crop, crop_caption) = pictures(page)
    assert boxed_caption == text("front", "th")
    assert crop_caption == text("crop_caption", "th")
    assert text("found_caption", "th") in page.main.caption.values
    # What located_pictures drew and cut (tested on its own): the box, and the crop by it.
    expected = located_pictures(photo, "found", PixelBox(*BOX, image_width=640, image_height=480))
    assert expected is not None and expected.crop is not None
    assert shows(boxed, expected.photo) and shows(crop, expected.crop)
    assert not shows(boxed, photo)
    assert predicts(fake_api)[0]["locate"] == "auto"


@pytest.mark.parametrize("backdrop", ["grey_outside_mask", "as_is"])
@pytest.mark.parametrize("language", ["th", "en"])
def test_the_crop_is_greyed_outside_the_mask_where_the_model_greys_it(
    page: AppTest,
    fake_api: FakeApi,
    upload: Upload,
    photo: bytes,
    backdrop: Literal["grey_outside_mask", "as_is"],
    language: Language,
) -> None:
    # The localiser's mask at a quarter of the photo, cutting off the amulet's right part.
    mask = np.zeros((120, 160), dtype=bool)
    x, y, width, height = (v // 4 for v in BOX)
    mask[y : y + height, x : x + width * 2 // 3] = True
    shape = PhotoMask(image=mask_data_url(mask), width=160, height=120)
    fake_api.backdrop = backdrop
    fake_api.answer_with(front_location=location("found", BOX, mask=shape))
    page.run()
    page.radio(key="language").set_value(language).run()
    upload(page, photo)
    assert not page.exception
    assert predicts(fake_api)[0]["mask"] == "true", "the page asks for the mask"
    crop = pictures(page)[1][0]
    box = PixelBox(*BOX, image_width=640, image_height=480)
    greyed = backdrop == "grey_outside_mask"
    expected = located_pictures(photo, "found", box, mask=mask if greyed else None)
    assert expected is not None and expected.crop is not None and expected.greyed is greyed
    assert shows(crop, expected.crop)
    captions = page.main.caption.values
    assert (text("found_greyed_caption", language) in captions) is greyed
    assert (text("found_caption", language) in captions) is not greyed


@pytest.mark.parametrize("status", ["no_amulet", "too_small", "too_blurred"])
@pytest.mark.parametrize("language", ["th", "en"])
def test_a_photo_that_cannot_be_judged_gets_advice_instead_of_a_verdict(
    page: AppTest,
    fake_api: FakeApi,
    upload: Upload,
    photo: bytes,
    status: ClassificationStatus,
    language: Language,
) -> None:
    box = None if status == "no_amulet" else BOX
    fake_api.answer_with(unknown=True, front_location=location(status, box), status=status)
    page.run()
    if language == "en":
        page.radio(key="language").set_value("en").run()
    upload(page, photo)
    assert not page.exception
    title, what_to_do = advice(status, language)
    (warning,) = page.main.warning
    assert title in warning.value and what_to_do in warning.value
    shown = main_text(page)
    # No type is named as an answer: no heading, no badge, no candidates, no names.
    assert "### " not in shown and "badge" not in shown
    for info in CATALOG:
        assert info.name_en not in shown and info.name_th not in shown
    assert text("unknown_title", language) not in shown
    assert not [e for e in page.main.expander if e.label == text("details", language)]
    hint = text("retake_tight_crop", language)
    assert (hint in shown) == (status == "no_amulet")
    # Where something was found is drawn; nothing was judged, so no crop.
    assert [caption for _, caption in pictures(page)] == [text("front", language)]
    boxed = text("retake_found_caption", language) in page.main.caption.values
    assert boxed == (status != "no_amulet")
    history = "\n".join(str(m.value) for m in page.sidebar.markdown)
    assert title in history
    assert not page.get("toggle"), "no heatmap is offered where no type was judged"


def test_a_pair_whose_back_is_too_small_says_so_for_the_back(
    page: AppTest, fake_api: FakeApi, upload: Upload, photo: bytes
) -> None:
    fake_api.answer_with(
        [0.8, 0.1, 0.1],
        unknown=True,
        front_location=location("found", BOX),
        back=[0.7, 0.2, 0.1],
        back_location=location("too_small", (300, 200, 30, 40)),
        status="too_small",
    )
    page.run()
    page.file_uploader(key="back_photo").set_value(("back.jpg", photo, "image/jpeg"))
    upload(page, photo)
    (warning,) = page.main.warning
    title = text("retake_side", "th", side=text("back", "th"), title=advice("too_small", "th")[0])
    assert title in warning.value
    assert "### " not in main_text(page)
    captions = [caption for _, caption in pictures(page)]
    assert captions == [text("front", "th"), text("crop_caption", "th"), text("back", "th")]
    assert page.main.caption.values.count(text("found_caption", "th")) == 1
    assert page.main.caption.values.count(text("retake_found_caption", "th")) == 1
    # Nothing to correct or keep: the collector is asked to take the back again.
    assert not [e for e in page.main.expander if e.label == text("wrong_answer", "th")]


def test_locate_off_is_chosen_under_about_and_each_mode_is_remembered(
    page: AppTest, fake_api: FakeApi, upload: Upload, photo: bytes
) -> None:
    fake_api.answer_with(front_location=location("found", BOX))
    page.run()
    upload(page, photo)
    choice = page.radio(key="locate_choice")
    assert choice.value == "auto"
    (about,) = [e for e in page.main.expander if e.label == text("about", "th")]
    assert choice in about.radio, "the choice lives under about"
    assert choice.options == [text("locate_auto", "th"), text("locate_off", "th")]

    fake_api.answer_with(front_location=location("whole_photo"))
    choice.set_value("off").run()
    assert not page.exception
    assert [p["locate"] for p in predicts(fake_api)] == ["auto", "off"]
    assert page.session_state[LOCATE_ON] == "off"
    (_, photo_caption), (_, crop_caption) = pictures(page)
    assert photo_caption == text("front", "th")
    assert text("whole_caption", "th") in page.main.caption.values
    # The choice stays through a photo removed and a new one, and each mode's answer is kept.
    page.file_uploader(key="front_photo").set_value(None).run()
    upload(page, photo)
    assert page.radio(key="locate_choice").value == "off"
    page.radio(key="locate_choice").set_value("auto").run()
    assert [p["locate"] for p in predicts(fake_api)] == ["auto", "off"]


FILLING = (8, 6, 620, 466)  # a box that fills the 640 x 480 photo: judged whole


@pytest.mark.parametrize(
    ("status", "box", "drawn_on", "explained"),
    [
        ("found", BOX, "heatmap_on_crop", "found"),  # locate=auto, the crop around the box
        ("found", FILLING, "heatmap_on_photo", "filled"),  # auto, the amulet fills the photo
        ("whole_photo", None, "heatmap_on_photo", "whole"),  # locate=off
    ],
)
@pytest.mark.parametrize("language", ["th", "en"])
def test_the_heatmap_takes_the_judged_pictures_place_and_says_what_it_is_drawn_on(
    page: AppTest,
    fake_api: FakeApi,
    upload: Upload,
    photo: bytes,
    status: str,
    box: tuple[int, int, int, int] | None,
    drawn_on: str,
    explained: str,
    language: Language,
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(buffer, "PNG")
    overlay = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    fake_api.answer_with(front_location=location(status, box), heatmap={"front": overlay})
    page.run()
    page.radio(key="language").set_value(language).run()
    upload(page, photo)
    # Without the heatmap: the picture judged, the crop around the box or the photo's
    # centre square where the photo was judged whole, as the serving path cuts it.
    (_, boxed_caption), (crop, crop_caption) = pictures(page)
    assert boxed_caption == text("front", language)
    assert crop_caption == text("crop_caption", language)
    placed = None if box is None else PixelBox(*box, image_width=640, image_height=480)
    expected = located_pictures(photo, status, placed)
    assert expected is not None and expected.crop is not None
    assert shows(crop, expected.crop)
    whole = jpeg(judged_crop(decode_picture(photo), None))
    assert shows(crop, whole) == (explained != "found")
    assert text(f"{explained}_caption", language) in page.main.caption.values
    # With it: the API's overlay in that picture's place, captioned with what it is drawn on.
    page.toggle(key="show_heatmap").set_value(True).run()
    (_, boxed_caption), (url, caption) = pictures(page)
    assert url == overlay
    assert caption == text(drawn_on, language)
    assert boxed_caption == text("front", language)
    captions = page.main.caption.values
    assert text(f"{explained}_heatmap_caption", language) in captions
    assert text(f"{explained}_caption", language) not in captions


def jpeg(image: Image.Image) -> bytes:
    """``image`` as :mod:`amulet_ai.frontend.located` encodes the pictures it shows."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()
