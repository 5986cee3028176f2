"""The page's saved work against the real API on loopback (a child process, a real SQLite
file, the committed model), run by streamlit's AppTest: the history tab, "this answer is
wrong", "save to my collection", the collection tab, deleting, a server that keeps only
results, "closest in your collection" and the "add a type" form. The lists are read from
the API, so a new page (a reload) and a restarted API show the same."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from amulet_ai.client import AmuletClient, HistoryEntry, PieceBody
from amulet_ai.frontend import saved_work
from amulet_ai.frontend.connection import CLIENT_STATE_KEY
from amulet_ai.frontend.i18n import class_name, text
from amulet_ai.frontend.saved_work import TAB_KEY
from amulet_ai.frontend.state import SESSION_KEY
from amulet_ai.ops.api_process import ApiProcess, free_port
from amulet_ai.training.scenes import make_scene

APP_PATH = Path(__file__).resolve().parents[2] / "src" / "amulet_ai" / "frontend" / "app.py"
Upload = Callable[..., None]


def _api(data_dir: Path, history: str) -> ApiProcess:
    env = {"AMULET_RATE_LIMIT": "", "AMULET_DATA_DIR": str(data_dir), "AMULET_HISTORY": history}
    return ApiProcess(free_port(), env=env, ready_timeout_s=120)


@pytest.fixture(scope="module")
def photos_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with _api(tmp_path_factory.mktemp("photos"), "photos") as api:
        yield api


@pytest.fixture
def client(photos_api: ApiProcess) -> Iterator[AmuletClient]:
    with AmuletClient(photos_api.url, retries=0) as made:
        # Each test starts from an empty history and collection of the one owner.
        for entry in made.history(limit=100).items:
            made.delete_history(entry.id)
        for piece in made.pieces(limit=100).items:
            made.delete_piece(piece.id)
        for kind in made.types().items:
            if kind.mine:
                made.delete_type(kind.type_id)
        yield made


def new_page(client: AmuletClient) -> AppTest:
    """A fresh browser session of the page (what a reload gives) on ``client``."""
    app = AppTest.from_file(str(APP_PATH), default_timeout=60)
    app.session_state[CLIENT_STATE_KEY] = client
    app.run()
    assert not app.exception
    return app


def words(block: Block) -> list[str]:
    kinds = ("subheader", "markdown", "caption", "info", "warning", "error", "success")
    return [str(getattr(e, "value", "")) for kind in kinds for e in block.get(kind)]


def answer(entry: HistoryEntry | PieceBody, is_unknown: bool) -> str:
    """How the page names a saved answer in Thai."""
    if is_unknown:
        return text("unknown_title", "th")
    return class_name(entry.top1.name_th, entry.top1.name_en, "th")


@pytest.fixture(scope="module")
def photos(repo_root: Path, make_photo: Callable[..., bytes]) -> list[bytes]:
    """Real amulet photos from ../shared when present (known answers), else generated ones."""
    shared = repo_root.parent / "shared" / "data" / "amulets"
    found = sorted(shared.glob("*/front/*.jpg"))[::7][:8] if shared.is_dir() else []
    return [p.read_bytes() for p in found] or [make_photo(seed=seed) for seed in range(8)]


TABS = ("tab_classify", "tab_history", "tab_collection", "tab_types")


def open_tab(app: AppTest, index: int) -> Block:
    """Tab ``index``, opened as a click does (a rerun) unless it is open already: only the
    open tab of saved work is drawn."""
    label = text(TABS[index], "th")
    current = app.session_state[TAB_KEY] if TAB_KEY in app.session_state else None
    if current != label and (index or current is not None):
        app.session_state[TAB_KEY] = label
        app.run()
        assert not app.exception
    tab = app.tabs[index]
    assert tab.label == label
    return tab


def history_tab(app: AppTest) -> Block:
    return open_tab(app, 1)


def collection_tab(app: AppTest) -> Block:
    return open_tab(app, 2)


def test_a_check_is_in_the_history_tab_with_its_thumbnail_after_a_reload(
    client: AmuletClient, upload: Upload, photos: list[bytes]
) -> None:
    app = new_page(client)
    assert [t.label for t in app.tabs][0] == text("tab_classify", "th")
    assert text("saved_history_empty", "th") in words(history_tab(app))
    upload(app, photos[1])
    assert not app.exception
    (entry,) = client.history().items
    assert text("saved_as_history", "th") in words(open_tab(app, 0))
    shown = "\n".join(words(history_tab(app)))
    assert answer(entry, entry.is_unknown) in shown
    assert entry.created_at.astimezone().strftime("%Y-%m-%d %H:%M") in shown
    assert len(history_tab(app).get("image")) == 1

    reloaded = new_page(client)  # a new session: nothing remembered in the browser
    again = "\n".join(words(history_tab(reloaded)))
    assert answer(entry, entry.is_unknown) in again
    assert len(history_tab(reloaded).get("image")) == 1
    reloaded.button(key=f"delete_history_{entry.id}").click().run()
    assert client.history().items == []
    assert text("saved_history_empty", "th") in words(history_tab(reloaded))


def test_a_saved_check_of_a_bare_backdrop_says_no_amulet_in_the_history_tab(
    client: AmuletClient,
) -> None:
    """Saved through the API (the page itself does not offer to save it): the tab says the
    photo showed no amulet, as the verdict did, not "not one of the types I know"."""
    bare = make_scene(None, photo=-1, number=2, family="paper", seed=5, canvas="phone")
    assert client.predict(bare.jpeg, save=True, locate="auto").status == "no_amulet"
    shown = words(history_tab(new_page(client)))
    assert f"**{text('retake_no_amulet_title', 'th')}**" in "\n".join(shown)
    assert text("unknown_title", "th") not in "\n".join(shown)


def test_this_answer_is_wrong_sends_a_listed_type_or_another_name(
    client: AmuletClient, upload: Upload, photos: list[bytes]
) -> None:
    app = new_page(client)
    upload(app, photos[2])
    (entry,) = client.history().items
    known = client.classes().classes
    other = next(c for c in known if c.id != entry.top1.class_id)
    picker = app.selectbox(key=f"right_type_{entry.id}")
    # The model's types in Thai and English, then "another type".
    assert picker.options[:-1] == [class_name(c.name_th, c.name_en, "th") for c in known]
    assert picker.options[-1] == text("another_type", "th")
    picker.set_value(other.id)
    app.button(key=f"send_correction_{entry.id}").click().run()
    assert not app.exception
    assert text("correction_sent", "th") in words(open_tab(app, 0))
    feedback = client.history().items[0].feedback
    assert feedback is not None and (feedback.correct, feedback.class_id) == (False, other.id)
    said = text("you_said_wrong_type", "th", name=class_name(other.name_th, other.name_en, "th"))
    assert said in "\n".join(words(history_tab(app)))

    open_tab(app, 0)
    upload(app, photos[3])
    newest = client.history().items[0]
    app.selectbox(key=f"right_type_{newest.id}").set_value("__another_type__")
    app.button(key=f"send_correction_{newest.id}").click().run()
    assert text("correction_needs_name", "th") in words(app.tabs[0])  # on this run only
    assert client.history().items[0].feedback is None, "nothing sent without a name"
    app.text_input(key=f"another_type_{newest.id}").input("พระกริ่งปวเรศ")
    app.button(key=f"send_correction_{newest.id}").click().run()
    feedback = client.history().items[0].feedback
    assert feedback is not None and feedback.type_name == "พระกริ่งปวเรศ"
    assert feedback.class_id is None


def test_save_to_my_collection_shows_the_piece_and_delete_removes_it(
    client: AmuletClient, upload: Upload, photos: list[bytes]
) -> None:
    app = new_page(client)
    assert text("collection_empty", "th") in words(collection_tab(app))
    open_tab(app, 0)
    app.file_uploader(key="back_photo").set_value(("b.jpg", photos[5], "image/jpeg"))
    upload(app, photos[4])
    app.text_input(key="piece_name").input("สมเด็จองค์แรก")
    app.text_area(key="piece_notes").input("ได้จากคุณตา")
    app.button(key="save_piece").click().run()
    assert not app.exception
    (piece,) = client.pieces().items
    assert (piece.name, piece.notes, piece.photos) == (
        "สมเด็จองค์แรก",
        "ได้จากคุณตา",
        ["front", "back"],
    )
    assert text("piece_saved", "th", name="สมเด็จองค์แรก") in words(open_tab(app, 0))
    shown = words(collection_tab(new_page(client)))
    assert "สมเด็จองค์แรก" in shown and "ได้จากคุณตา" in shown
    unknown = bool(piece.result["unknown"]["is_unknown"])
    assert any(answer(piece, unknown) in line for line in shown)
    reloaded = new_page(client)
    assert len(collection_tab(reloaded).get("image")) == 2  # front and back
    reloaded.button(key=f"delete_piece_{piece.id}").click().run()
    assert client.pieces().items == []
    assert text("collection_empty", "th") in words(collection_tab(reloaded))


def test_the_thai_tabs_have_no_english_but_type_names(
    client: AmuletClient, upload: Upload, photos: list[bytes]
) -> None:
    app = new_page(client)
    upload(app, photos[6])
    app.button(key="save_piece").click().run()
    names = sorted((c.name_en for c in client.classes().classes), key=len, reverse=True)
    said: list[str] = []
    for index in (1, 2, 3, 0):  # each tab open in turn, the classifier last
        said += words(open_tab(app, index))
        said += [t.label for t in app.tabs] + [b.label for b in app.button]
        said += [e.label for e in app.expander] + [w.label for w in app.selectbox]
        said += [w.label for w in [*app.text_input, *app.text_area, *app.file_uploader]]
    said += app.selectbox[0].options
    leftovers: list[str] = []
    for line in said:
        if line.startswith(text("about", "th")) or "http://" in line or "`" in line:
            continue  # the operator's details in "about"
        for name in [*names, "Amulet-AI", "JPG", "PNG", "WebP", "HEIC", "MB", "blue-badge"]:
            line = line.replace(name, "")
        leftovers += re.findall(r"[A-Za-z]{2,}", re.sub(r":\w+-badge\[", "", line))
    assert leftovers == []


def test_where_only_results_are_kept_the_page_says_so_and_a_restart_keeps_them(
    tmp_path: Path, upload: Upload, photos: list[bytes]
) -> None:
    with _api(tmp_path, "results") as api, AmuletClient(api.url, retries=0) as client:
        app = new_page(client)
        assert text("photos_not_kept", "th") in words(history_tab(app))
        upload(app, photos[7])
        (entry,) = client.history().items
        assert entry.photos == []
        assert text("no_photo_kept", "th") in words(history_tab(app))
        assert history_tab(app).get("image") == []
    with _api(tmp_path, "results") as restarted, AmuletClient(restarted.url) as client:
        after = "\n".join(words(history_tab(new_page(client))))
        assert answer(entry, entry.is_unknown) in after


def test_closest_in_your_collection_shows_the_saved_piece(
    client: AmuletClient, upload: Upload, photos: list[bytes]
) -> None:
    first = new_page(client)
    upload(first, photos[0])
    closest = text("closest", "th")
    assert f"**{closest}**" in words(open_tab(first, 0))
    # Only this check is there, and it is the photo itself: nothing to compare with.
    assert text("closest_none", "th") in words(open_tab(first, 0))
    first.button(key="save_piece").click().run()

    again = new_page(client)  # another session: the question is asked anew
    upload(again, photos[0])
    shown = words(open_tab(again, 0))
    assert text("kind_piece", "th") in shown and text("kind_history", "th") in shown
    assert (
        len([c for c in shown if c in (text("kind_piece", "th"), text("kind_history", "th"))]) == 2
    )


def test_a_type_is_added_from_previewed_photos_listed_and_deleted(
    client: AmuletClient, repo_root: Path
) -> None:
    shared = repo_root.parent / "shared" / "data" / "amulets" / "phra_sivali" / "front"
    if not shared.is_dir():
        pytest.skip("needs the development photos in ../shared")
    files = [(p.name, p.read_bytes(), "image/jpeg") for p in sorted(shared.glob("*.jpg"))[:4]]
    app = new_page(client)
    assert text("types_none", "th") in words(open_tab(app, 3))
    app.text_input(key="type_en").input("My Sivali")
    app.file_uploader(key="type_photos").set_value(files[:2]).run()
    assert text("type_preview", "th", count=2) in words(open_tab(app, 3))
    assert len(open_tab(app, 3).get("image")) == 2, "each chosen photo is previewed"
    app.button(key="add_type").click().run()
    assert text("type_needs_photos", "th") in words(open_tab(app, 3))
    grey = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(grey, "JPEG")
    blank = ("grey.jpg", grey.getvalue(), "image/jpeg")  # no amulet on it: refused
    app.file_uploader(key="type_photos").set_value([*files, files[0], blank]).run()
    app.text_input(key="type_th").input("สีวลีของฉัน")
    app.button(key="add_type").click().run()
    assert not app.exception
    said = words(open_tab(app, 3))
    assert text("type_added", "th", name="สีวลีของฉัน (My Sivali)", count=4) in said
    (listed,) = [line for line in said if line.startswith(f"**{text('type_rejected', 'th')}**")]
    # Each by the name of the file chosen.
    assert f"- {files[0][0]}: {text('reason_duplicate', 'th')}" in listed
    # The photo without an amulet gets the advice a prediction of it gets: how to retake it.
    retake = f"**{text('retake_no_amulet_title', 'th')}**  \n  {text('retake_no_amulet', 'th')}"
    assert f"- grey.jpg: {retake}" in listed
    (mine,) = [t for t in client.types().items if t.mine]
    types_listed = words(open_tab(new_page(client), 3))
    assert f"**สีวลีของฉัน (My Sivali)**  \n{text('type_photo_count', 'th', count=4)}" in types_listed
    reloaded = new_page(client)
    open_tab(reloaded, 3)
    reloaded.button(key=f"delete_type_{mine.type_id}").click().run()
    assert [t for t in client.types().items if t.mine] == []
    assert text("types_none", "th") in words(open_tab(reloaded, 3))


def test_where_history_is_off_the_check_is_answered_and_the_tab_says_so(
    tmp_path: Path, upload: Upload, photos: list[bytes]
) -> None:
    with _api(tmp_path, "off") as api, AmuletClient(api.url, retries=0) as client:
        app = new_page(client)
        assert text("history_off", "th") in words(history_tab(app))
        upload(app, photos[0])
        assert not app.exception and not app.error
        unknown = text("unknown_title", "th")
        assert any(line.startswith("### ") or unknown in line for line in words(open_tab(app, 0)))
        assert text("saved_as_history", "th") not in words(open_tab(app, 0))
        assert app.session_state[SESSION_KEY].saving_refused
        upload(app, photos[1])  # the refusal is remembered: no second try with save
        assert not app.error


def test_only_the_open_tab_of_saved_work_asks_the_api(client: AmuletClient) -> None:
    app = new_page(client)
    sent = client.requests_sent
    app.run()
    assert client.requests_sent == sent, "model, health and catalog are remembered"
    history_tab(app)
    assert client.requests_sent == sent + 1, "GET /v1/history alone"
    collection_tab(app)
    assert client.requests_sent == sent + 2, "then GET /v1/pieces alone"


def test_show_older_adds_the_next_page_of_checks(
    client: AmuletClient, photos: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(saved_work, "PAGE_SIZE", 2)
    ids = [client.predict(photo, save=True).history_id for photo in photos[:3]]
    app = new_page(client)
    tab = history_tab(app)
    assert len([b for b in tab.button if (b.key or "").startswith("delete_history_")]) == 2
    app.button(key=f"{saved_work.HISTORY_PAGES_KEY}_more").click().run()
    shown = {b.key for b in app.tabs[1].button if (b.key or "").startswith("delete_history_")}
    assert shown == {f"delete_history_{i}" for i in ids}
    assert f"{saved_work.HISTORY_PAGES_KEY}_more" not in {b.key for b in app.button}


def test_switching_the_language_keeps_the_open_tab(client: AmuletClient) -> None:
    app = new_page(client)
    history_tab(app)
    app.radio(key="language").set_value("en").run()
    assert not app.exception
    assert app.session_state[TAB_KEY] == text("tab_history", "en")
    assert app.tabs[1].label == text("tab_history", "en")
    assert text("saved_history_empty", "en") in words(app.tabs[1])
