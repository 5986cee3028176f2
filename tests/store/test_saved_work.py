"""History, feedback and pieces: stored whole, paged newest first, scoped to their owner."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from conftest import result_for
from PIL import Image
from sqlalchemy import func, select

from amulet_ai.errors import NotFound
from amulet_ai.store import KeptPhoto, Store
from amulet_ai.store.models import Photo

MODEL = ("amulet-test", "9.9.9")


def photo_count(store: Store) -> int:
    with store.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Photo)) or 0)


def test_history_pages_newest_first_with_a_cursor(store: Store) -> None:
    ids = [store.history.save("ann", result_for(probability=i / 10), model=MODEL) for i in range(5)]
    store.history.save("bob", result_for(), model=MODEL)
    first = store.history.page("ann", limit=2)
    assert [r.id for r in first.items] == ids[::-1][:2]
    assert first.next_before == ids[3]
    second = store.history.page("ann", limit=2, before=first.next_before)
    third = store.history.page("ann", limit=2, before=second.next_before)
    assert [r.id for r in second.items + third.items] == ids[::-1][2:]
    assert third.next_before is None
    record = store.history.get("ann", ids[0])
    assert record.model_version == "9.9.9" and record.top1_class_id == "waek_man"
    assert record.result == result_for(probability=0.0)
    assert record.created_at.tzinfo is not None


def test_another_owners_item_is_not_found_for_every_call(store: Store) -> None:
    item = store.history.save("ann", result_for(), model=MODEL)
    assert store.history.page("bob").items == []
    with pytest.raises(NotFound):
        store.history.get("bob", item)
    with pytest.raises(NotFound):
        store.history.delete("bob", item)
    with pytest.raises(NotFound):
        store.history.photo("bob", item, "front", "thumb")
    with pytest.raises(NotFound):
        store.history.set_feedback("bob", item, correct=True)
    assert store.history.get("ann", item).feedback is None


def test_photos_are_kept_with_the_item_and_deleted_with_it(
    store: Store, kept: Callable[[int], KeptPhoto]
) -> None:
    front, back = kept(1), kept(2)
    item = store.history.save("ann", result_for(), model=MODEL, front=front, back=back)
    assert store.history.get("ann", item).photos == ("front", "back")
    assert store.history.photo("ann", item, "front", "full") == front.full_jpeg
    assert store.history.photo("ann", item, "back", "thumb") == back.thumb_jpeg
    store.history.set_feedback("ann", item, correct=True)
    store.history.delete("ann", item)
    assert photo_count(store) == 0
    with pytest.raises(NotFound):
        store.history.get("ann", item)


def test_an_item_without_photos_says_so(store: Store) -> None:
    item = store.history.save("ann", result_for(), model=MODEL, has_back=True)
    record = store.history.get("ann", item)
    assert record.photos == () and record.has_back
    with pytest.raises(NotFound, match="No photo"):
        store.history.photo("ann", item, "front", "thumb")


def test_a_second_feedback_replaces_the_first(store: Store) -> None:
    item = store.history.save("ann", result_for(), model=MODEL)
    store.history.set_feedback("ann", item, correct=True)
    store.history.set_feedback("ann", item, correct=False, class_id="phra_sivali")
    feedback = store.history.get("ann", item).feedback
    assert feedback is not None
    assert (feedback.correct, feedback.class_id, feedback.type_name) == (
        False,
        "phra_sivali",
        None,
    )
    listed = store.history.page("ann").items[0].feedback
    assert listed == feedback


def test_pieces_crud_scoped_to_the_owner(store: Store, kept: Callable[[int], KeptPhoto]) -> None:
    front = kept(3)
    piece = store.pieces.create(
        "ann", name="Grandfather's", notes="ตลาดพระ", front=front, result=result_for(), model=MODEL
    )
    assert piece.photos == ("front",) and piece.predicted_class_id == "waek_man"
    assert [p.id for p in store.pieces.page("ann").items] == [piece.id]
    assert store.pieces.page("bob").items == []
    for call in (
        lambda: store.pieces.get("bob", piece.id),
        lambda: store.pieces.update("bob", piece.id, name="mine"),
        lambda: store.pieces.delete("bob", piece.id),
        lambda: store.pieces.photo("bob", piece.id, "front", "full"),
    ):
        with pytest.raises(NotFound):
            call()
    updated = store.pieces.update("ann", piece.id, confirmed_class_id="waek_man")
    assert (updated.name, updated.notes, updated.confirmed_class_id) == (
        "Grandfather's",
        "ตลาดพระ",
        "waek_man",
    )
    assert store.pieces.update("ann", piece.id, notes="").confirmed_class_id == "waek_man"
    assert store.pieces.update("ann", piece.id, confirmed_class_id=None).confirmed_class_id is None
    assert store.pieces.photo("ann", piece.id, "front", "thumb") == front.thumb_jpeg
    with pytest.raises(NotFound):
        store.pieces.photo("ann", piece.id, "back", "thumb")
    store.pieces.delete("ann", piece.id)
    assert photo_count(store) == 0


def test_sql_looking_text_is_stored_as_text(store: Store, kept: Callable[[int], KeptPhoto]) -> None:
    name = "x'); DROP TABLE pieces; --"
    piece = store.pieces.create("ann", name=name, front=kept(4), result=result_for(), model=MODEL)
    assert store.pieces.get("ann", piece.id).name == name


def test_kept_photos_are_small_jpegs_without_exif(make_photo: Callable[..., bytes]) -> None:
    from amulet_ai.store import keep_photo

    img = Image.open(io.BytesIO(make_photo(2400, 1600, seed=7)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the kept photo must come out upright (portrait)
    exif[0x010F] = "PhoneMaker"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    kept = keep_photo(buf.getvalue())
    full = Image.open(io.BytesIO(kept.full_jpeg))
    thumb = Image.open(io.BytesIO(kept.thumb_jpeg))
    assert full.format == thumb.format == "JPEG"
    assert full.size == (683, 1024) and (kept.width, kept.height) == full.size
    assert max(thumb.size) == 256
    assert len(full.getexif()) == 0 and "exif" not in full.info
    assert kept.full_jpeg != buf.getvalue()
