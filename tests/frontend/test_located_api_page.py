"""Where the amulet was found, on the page, against the real API on loopback (a child
process with the committed model and localiser), run by streamlit's AppTest.

Scenes are made at run time: a development photo from ../shared pasted on a generated canvas
(found), the same blurred (too blurred) or pasted small (too small), and a bare canvas (no
amulet). The judged crop is greyed outside the localiser's mask as the served model read it
(the serving path's own crop of the same photo, compared). Nothing is written to the
repository.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from streamlit.testing.v1 import AppTest
from test_located_page import main_text, pictures, shows

from amulet_ai.client import AmuletClient
from amulet_ai.frontend.connection import CLIENT_STATE_KEY
from amulet_ai.frontend.i18n import text
from amulet_ai.frontend.located import advice, judged_crop, located_pictures
from amulet_ai.imaging.decode import NEUTRAL_BACKGROUND, decode_picture
from amulet_ai.imaging.masks import mask_from_data_url
from amulet_ai.model.classifier import AmuletClassifier
from amulet_ai.ops.api_process import ApiProcess, free_port
from amulet_ai.serving.locating import prepare

APP_PATH = Path(__file__).resolve().parents[2] / "src" / "amulet_ai" / "frontend" / "app.py"
Upload = Callable[..., None]
BACKDROP = (228, 222, 210)  # a pale table
PASTED = (500, 250, 1200, 950)  # where the 700 px photo lies on the 1600 x 1200 canvas


@pytest.fixture(scope="module")
def api() -> Iterator[ApiProcess]:
    with ApiProcess(free_port(), env={"AMULET_RATE_LIMIT": ""}, ready_timeout_s=120) as server:
        yield server


@pytest.fixture
def client(api: ApiProcess) -> Iterator[AmuletClient]:
    with AmuletClient(api.url, retries=0) as made:
        yield made


def new_page(client: AmuletClient) -> AppTest:
    app = AppTest.from_file(str(APP_PATH), default_timeout=60)
    app.session_state[CLIENT_STATE_KEY] = client
    app.run()
    assert not app.exception
    return app


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def amulet(shared_data: Path) -> Image.Image:
    """A tight development photo of a known type, read in place from ../shared."""
    (first, *_) = sorted((shared_data / "phra_sivali" / "front").glob("*.jpg"))
    return Image.open(first).convert("RGB")


def pasted(amulet: Image.Image, canvas: tuple[int, int], side: int, at: tuple[int, int]) -> bytes:
    scene = Image.new("RGB", canvas, BACKDROP)
    scene.paste(amulet.resize((side, side)), at)
    return jpeg(scene)


@pytest.fixture(scope="module")
def scene(amulet: Image.Image) -> bytes:
    return pasted(amulet, (1600, 1200), 700, PASTED[:2])


def test_a_scene_shows_where_the_amulet_was_found_and_the_crop_judged(
    client: AmuletClient, upload: Upload, scene: bytes
) -> None:
    page = new_page(client)
    upload(page, scene)
    assert not page.exception
    # The API's own answer, cached: the page asks with the heatmap and the mask.
    truth = client.predict(scene, top_k=3, explain=True, mask=True)
    assert truth.cached
    location = truth.images.front.location
    assert location is not None and location.status == "found" and location.box is not None
    assert location.mask is not None
    box = location.box
    assert PASTED[0] <= box.x and box.x + box.width <= PASTED[2]
    assert PASTED[1] <= box.y and box.y + box.height <= PASTED[3]
    shown = main_text(page)
    assert f"### {truth.top1.name_th}" in shown or text("unknown_title", "th") in shown
    (boxed, boxed_caption), (crop, crop_caption) = pictures(page)
    assert boxed_caption == text("front", "th")
    # The committed model greys the backdrop: the crop is shown as it read it.
    assert text("found_greyed_caption", "th") in page.main.caption.values
    assert crop_caption == text("crop_caption", "th")
    mask = mask_from_data_url(location.mask.image)
    expected = located_pictures(scene, "found", box, mask=mask)
    assert expected is not None and expected.crop is not None and expected.greyed
    assert shows(boxed, expected.photo) and shows(crop, expected.crop)


def test_the_pages_greyed_crop_is_the_one_the_served_model_read(
    client: AmuletClient, scene: bytes, model_dir: Path
) -> None:
    answer = client.predict(scene, mask=True)
    location = answer.images.front.location
    assert location is not None and location.box is not None and location.mask is not None
    # What the serving path hands the classifier for this photo (the committed model greys).
    classifier = AmuletClassifier.load(model_dir, with_localiser=True, warmup_runs=0)
    assert classifier.metadata.input.backdrop == "grey_outside_mask"
    served = np.asarray(prepare(classifier, lambda: scene, "auto").picture.image)
    shown = np.asarray(
        judged_crop(
            decode_picture(scene), location.box, mask=mask_from_data_url(location.mask.image)
        )
    )
    served_grey = (served == NEUTRAL_BACKGROUND).all(-1)
    shown_grey = (shown == NEUTRAL_BACKGROUND).all(-1)
    assert 0.2 < served_grey.mean() < 0.9, "the scene's backdrop is greyed"
    assert (served_grey == shown_grey).mean() > 0.99, "grey in the same places"
    amulet = ~served_grey & ~shown_grey
    assert np.abs(served[amulet].astype(int) - shown[amulet]).mean() < 8


def test_each_photo_that_cannot_be_judged_gets_its_advice(
    client: AmuletClient, upload: Upload, amulet: Image.Image, scene: bytes
) -> None:
    photos = {
        "no_amulet": jpeg(Image.new("RGB", (1600, 1200), BACKDROP)),
        "too_blurred": jpeg(Image.open(io.BytesIO(scene)).filter(ImageFilter.GaussianBlur(12))),
        "too_small": pasted(amulet, (640, 480), 100, (270, 190)),
    }
    page = new_page(client)
    for status, photo in photos.items():
        upload(page, photo)
        assert not page.exception
        answer = client.predict(photo, top_k=3, explain=True)
        assert answer.status == status, "the scene was made to give this status"
        title, what_to_do = advice(status, "th")
        (warning,) = page.main.warning
        assert title in warning.value and what_to_do in warning.value
        shown = main_text(page)
        assert "### " not in shown and answer.top1.name_th not in shown
    page.radio(key="language").set_value("en").run()
    title, what_to_do = advice("too_small", "en")
    assert page.main.warning[0].value == f"**{title}**\n\n{what_to_do}"


def test_a_tight_crop_with_locate_off_is_judged_whole(
    client: AmuletClient, upload: Upload, amulet: Image.Image
) -> None:
    tight = jpeg(amulet)
    page = new_page(client)
    page.radio(key="locate_choice").set_value("off").run()
    upload(page, tight)
    assert not page.exception
    truth = client.predict(tight, top_k=3, explain=True, locate="off")
    assert truth.images.front.location is not None
    assert truth.images.front.location.status == "whole_photo"
    shown = main_text(page)
    assert f"### {truth.top1.name_th}" in shown or text("unknown_title", "th") in shown
    (_, photo_caption), (crop, _) = pictures(page)
    assert photo_caption == text("front", "th")
    assert text("whole_caption", "th") in page.main.caption.values
    expected = located_pictures(tight, "whole_photo", truth.images.front.location.box)
    assert expected is not None and expected.crop is not None and shows(crop, expected.crop)
