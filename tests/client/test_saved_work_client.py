"""The clients' saved-work calls against the real API and a real SQLite file: history,
feedback, photos, pieces and similar, in-process through ASGI and over a real socket."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from amulet_ai.api.app import create_app
from amulet_ai.client import AmuletClient, AsyncAmuletClient, PieceUpdate
from amulet_ai.config import Settings
from amulet_ai.errors import NotFound, UnknownClass
from amulet_ai.ops.api_process import ApiProcess, free_port


def _settings(model_dir: Path, data_dir: Path, history: str) -> Settings:
    return Settings(
        model_dir=model_dir,
        data_dir=data_dir,
        history=history,
        rate_limit="",
        warmup_runs=0,
        # An app in this process: the pytest process's RSS is not the server's own.
        memory_limit_mb=16384.0,
    )


@pytest.fixture
async def photos_kept(model_dir: Path, tmp_path: Path) -> AsyncIterator[AsyncAmuletClient]:
    app = create_app(_settings(model_dir, tmp_path, "photos"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with AsyncAmuletClient("http://testserver", transport=transport) as client:
            yield client


async def test_a_saved_check_is_listed_corrected_shown_and_deleted(
    photos_kept: AsyncAmuletClient, make_photo: Callable[..., bytes]
) -> None:
    plain = await photos_kept.predict(make_photo(seed=1))
    assert plain.history_id is None
    saved = await photos_kept.predict(make_photo(seed=2), save=True)
    assert saved.history_id is not None
    newer = await photos_kept.predict(make_photo(seed=3), save=True)
    page = await photos_kept.history(limit=1)
    assert [entry.id for entry in page.items] == [newer.history_id]
    older = await photos_kept.history(limit=1, before=page.next_before)
    assert [entry.id for entry in older.items] == [saved.history_id]
    assert older.items[0].top1 == saved.top1 and older.items[0].photos == ["front"]

    other = next(c.id for c in (await photos_kept.classes()).classes if c.id != saved.top1.class_id)
    feedback = await photos_kept.feedback(saved.history_id, correct=False, class_id=other)
    assert (feedback.correct, feedback.class_id) == (False, other)
    named = await photos_kept.feedback(saved.history_id, correct=False, type_name="Phra Kring")
    assert (named.class_id, named.type_name) == (None, "Phra Kring")
    with pytest.raises(UnknownClass):
        await photos_kept.feedback(saved.history_id, correct=False, class_id="no_such_type")
    with pytest.raises(ValueError):  # the API's own rule, checked before sending
        await photos_kept.feedback(saved.history_id, correct=True, class_id=other)
    listed = (await photos_kept.history()).items
    assert next(e for e in listed if e.id == saved.history_id).feedback == named

    thumb = await photos_kept.history_photo(saved.history_id)
    assert thumb.content_type == "image/jpeg" and thumb.content.startswith(b"\xff\xd8")
    await photos_kept.delete_history(saved.history_id)
    assert [e.id for e in (await photos_kept.history()).items] == [newer.history_id]
    with pytest.raises(NotFound):
        await photos_kept.delete_history(saved.history_id)
    with pytest.raises(NotFound):
        await photos_kept.history_photo(saved.history_id)


async def test_pieces_are_created_listed_updated_shown_and_deleted(
    photos_kept: AsyncAmuletClient, make_photo: Callable[..., bytes]
) -> None:
    piece = await photos_kept.create_piece(
        make_photo(seed=4), make_photo(seed=5), name="กรุวัดระฆัง", notes="from my grandfather"
    )
    assert (piece.name, piece.notes, piece.photos) == (
        "กรุวัดระฆัง",
        "from my grandfather",
        ["front", "back"],
    )
    unnamed = await photos_kept.create_piece(make_photo(seed=6))
    assert unnamed.name == unnamed.top1.name_en and unnamed.photos == ["front"]
    assert unnamed.result["images"]["front"]["location"]["method"] == "localiser"
    whole = await photos_kept.create_piece(make_photo(seed=6), name="whole", locate="off")
    assert whole.result["images"]["front"]["location"]["method"] == "off"
    await photos_kept.delete_piece(whole.id)
    assert [p.id for p in (await photos_kept.pieces()).items] == [unnamed.id, piece.id]
    changed = await photos_kept.update_piece(piece.id, PieceUpdate(notes="kept in the shrine"))
    assert (changed.name, changed.notes) == ("กรุวัดระฆัง", "kept in the shrine")
    back = await photos_kept.piece_photo(piece.id, side="back", size="full")
    assert back.content.startswith(b"\xff\xd8")
    hits = await photos_kept.similar(make_photo(seed=4), limit=3)
    assert hits.results and hits.results[0].kind == "piece"
    # A generated picture: no amulet on it, searched all the same, and the answer says so.
    assert hits.status == "no_amulet" and [loc.status for loc in hits.locations] == ["no_amulet"]
    # The same photo, re-encoded when kept: the piece's front is the closest of all.
    assert (hits.results[0].id, hits.results[0].side) == (str(piece.id), "front")
    # max_distance reaches the API: only the hits no farther than it come back.
    nearest = hits.results[0].distance
    cut = await photos_kept.similar(make_photo(seed=4), limit=3, max_distance=nearest + 1e-3)
    assert [h.id for h in cut.results] == [
        h.id for h in hits.results if h.distance <= nearest + 1e-3
    ]
    assert len(cut.results) < len(hits.results)
    await photos_kept.delete_piece(piece.id)
    assert [p.id for p in (await photos_kept.pieces()).items] == [unnamed.id]
    with pytest.raises(NotFound):
        await photos_kept.piece_photo(piece.id)


def test_the_blocking_client_saves_over_a_real_socket_where_only_results_are_kept(
    tmp_path: Path, make_photo: Callable[..., bytes]
) -> None:
    env = {"AMULET_RATE_LIMIT": "", "AMULET_DATA_DIR": str(tmp_path), "AMULET_HISTORY": "results"}
    with (
        ApiProcess(free_port(), env=env, ready_timeout_s=120) as api,
        AmuletClient(api.url, retries=0) as client,
    ):
        storage = client.health().storage
        assert storage is not None and storage.history == "results"
        saved = client.predict(make_photo(seed=7), save=True)
        (entry,) = client.history().items
        assert entry.id == saved.history_id and entry.photos == [] and entry.thumbnail_url is None
        with pytest.raises(NotFound):
            client.history_photo(entry.id)
        assert client.feedback(entry.id, correct=True).correct
        client.delete_history(entry.id)
        assert client.history().items == []


async def test_a_type_is_enrolled_listed_its_photo_shown_and_deleted(
    photos_kept: AsyncAmuletClient, repo_root: Path
) -> None:
    shared = repo_root.parent / "shared" / "data" / "amulets" / "phra_sivali" / "front"
    if not shared.is_dir():
        pytest.skip("needs the development photos in ../shared")
    files = sorted(shared.glob("*.jpg"))[:3]
    grey = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(grey, "JPEG")
    enrolled = await photos_kept.create_type(
        "My Sivali",
        [*files, files[0], grey.getvalue()],
        name_th="สีวลีของฉัน",
        description="three photos",
    )
    assert (enrolled.name_en, enrolled.name_th, enrolled.photos) == ("My Sivali", "สีวลีของฉัน", 3)
    assert [(r.index, r.reason) for r in enrolled.rejected] == [(3, "duplicate"), (4, "no_amulet")]
    listed = {t.type_id: t for t in (await photos_kept.types()).items}
    assert listed[enrolled.type_id].mine and listed[enrolled.type_id].source == "enrolled"
    assert enrolled.thumbnail_url is not None
    thumb = await photos_kept.photo(enrolled.thumbnail_url)
    assert thumb.content.startswith(b"\xff\xd8")
    with pytest.raises(ValueError):
        await photos_kept.photo("http://elsewhere.example/v1/x")
    await photos_kept.delete_type(enrolled.type_id)
    assert enrolled.type_id not in {t.type_id for t in (await photos_kept.types()).items}
    with pytest.raises(NotFound):
        await photos_kept.delete_type(enrolled.type_id)
