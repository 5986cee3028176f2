"""The tabs of saved work: the owner's earlier checks and their collection, read from the API.

Nothing here is kept in the browser session but thumbnails (keyed by id and creation
time: a database may give a deleted item's id to a new one): the lists come from
``GET /v1/history`` and ``GET /v1/pieces`` on every run, so they survive a reload and a
restart of the page. What the server keeps is read from its health report
(``storage.history``): with ``results`` the history says plainly that photos are not kept.
Deleting goes through a button's callback, so the list drawn after it is already without
the item.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Final, Literal, TypeVar

import streamlit as st

from amulet_ai.api.saved_schemas import FeedbackBody, HistoryEntry, PieceBody
from amulet_ai.api.schemas import ClassesResponse, HealthReport
from amulet_ai.client import AmuletClient
from amulet_ai.errors import AmuletError
from amulet_ai.frontend import connection
from amulet_ai.frontend.confidence import percent
from amulet_ai.frontend.failures import describe
from amulet_ai.frontend.i18n import Language, class_name, text
from amulet_ai.frontend.located import RETAKE
from amulet_ai.frontend.state import PageSession

logger = logging.getLogger(__name__)

HistoryMode = Literal["off", "results", "photos"]
# The page's tabs widget key: its value is the open tab's label.
TAB_KEY: Final = "page_tab"
PAGE_SIZE: Final = 20
THUMB_PX: Final = 96
# Where a failed delete leaves its message for the run its callback starts.
DELETE_ERROR_KEY: Final = "saved_work_delete_error"
# How many pages of each list the collector asked to see.
HISTORY_PAGES_KEY: Final = "history_pages"
PIECES_PAGES_KEY: Final = "pieces_pages"


def history_mode(report: HealthReport | None) -> HistoryMode | None:
    """What the server keeps of a check, or None when saved work is unavailable now."""
    storage = report.storage if report is not None else None
    if storage is None or storage.status != "ok":
        return None
    return storage.history


def type_name(class_id: str, catalog: ClassesResponse | None, language: Language) -> str:
    """A type's name in both languages from the catalog; the id itself when not listed."""
    for info in catalog.classes if catalog is not None else []:
        if info.id == class_id:
            return class_name(info.name_th, info.name_en, language)
    return class_id


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _delete(remove: Callable[[int], None], item_id: int, language: Language) -> None:
    # A callback: runs before the page is drawn again, so the lists below see the change.
    try:
        remove(item_id)
    except AmuletError as exc:
        logger.info("delete %s failed: %s", item_id, exc.code)
        st.session_state[DELETE_ERROR_KEY] = describe(exc, language)


T = TypeVar("T", HistoryEntry, PieceBody)


def _pages(
    fetch: Callable[[int | None], tuple[list[T], int | None]], key: str
) -> tuple[list[T], int | None]:
    """The items of as many pages as the collector asked for ("show older" adds one)."""
    items: list[T] = []
    before: int | None = None
    for _ in range(int(st.session_state.get(key, 1))):
        page, before = fetch(before)
        items += page
        if before is None:
            break
    return items, before


def _listed(
    fetch: Callable[[int | None], tuple[list[T], int | None]],
    key: str,
    texts: str,
    language: Language,
) -> tuple[list[T], int | None] | None:
    """:func:`_pages`, or None once the page has said that the list failed or is empty
    (the texts ``{texts}_failed`` and ``{texts}_empty``)."""
    try:
        items, older = _pages(fetch, key)
    except AmuletError as exc:
        logger.info("%s failed: %s", key, exc.code)
        st.warning(text(f"{texts}_failed", language))
        return None
    if not items:
        st.caption(text(f"{texts}_empty", language))
        return None
    return items, older


def _more_button(key: str, language: Language) -> None:
    def more() -> None:
        st.session_state[key] = int(st.session_state.get(key, 1)) + 1

    st.button(text("show_older", language), key=f"{key}_more", on_click=more)


def _delete_error() -> None:
    said = st.session_state.pop(DELETE_ERROR_KEY, None)
    if said:
        st.error(said)


def _feedback_line(
    feedback: FeedbackBody | None, catalog: ClassesResponse | None, language: Language
) -> str | None:
    if feedback is None:
        return None
    if feedback.correct:
        return text("you_said_right", language)
    name = feedback.type_name or type_name(feedback.class_id or "", catalog, language)
    return text("you_said_wrong_type", language, name=name)


def _answer(entry: HistoryEntry | PieceBody, is_unknown: bool, language: Language) -> str:
    if entry.status in RETAKE:  # the photo was not judged: say why, as the verdict does
        return f"**{text(f'retake_{entry.status}_title', language)}**"
    if is_unknown:
        return f"**{text('unknown_title', language)}**"
    top1 = entry.top1
    return f"**{class_name(top1.name_th, top1.name_en, language)}** {percent(top1.probability)}"


def history_tab(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    report: HealthReport | None,
    catalog: ClassesResponse | None,
    language: Language,
) -> None:
    """The owner's saved checks, newest first: thumbnail (when kept), answer, date, delete."""
    mode = history_mode(report)
    if mode is None:
        st.info(text("saved_unavailable", language))
        return
    if mode == "off":
        st.info(text("history_off", language))
        return
    if mode == "results":
        st.info(text("photos_not_kept", language))
    _delete_error()

    def fetch(before: int | None) -> tuple[list[HistoryEntry], int | None]:
        page = client.history(limit=PAGE_SIZE, before=before, headers=headers)
        return page.items, page.next_before

    listed = _listed(fetch, HISTORY_PAGES_KEY, "saved_history", language)
    if listed is None:
        return
    entries, older = listed
    for entry in entries:
        with st.container(border=True):
            picture, words, action = st.columns([1, 4, 1], vertical_alignment="center")
            if "front" in entry.photos:
                thumb = connection.saved_photo(
                    session,
                    f"history/{entry.id}/{entry.created_at.isoformat()}",
                    partial(client.history_photo, entry.id, headers=headers),
                )
                if thumb is not None:
                    picture.image(thumb, width=THUMB_PX)
            else:
                picture.caption(text("no_photo_kept", language))
            lines = [
                _answer(entry, entry.is_unknown, language),
                text("when_saved", language, when=_when(entry.created_at)),
            ]
            said = _feedback_line(entry.feedback, catalog, language)
            if said:
                lines.append(said)
            words.markdown("  \n".join(lines))
            action.button(
                text("delete", language),
                key=f"delete_history_{entry.id}",
                on_click=_delete,
                args=(partial(client.delete_history, headers=headers), entry.id, language),
            )
    if older is not None:
        _more_button(HISTORY_PAGES_KEY, language)


def collection_tab(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    report: HealthReport | None,
    catalog: ClassesResponse | None,
    language: Language,
) -> None:
    """The owner's pieces: their photos, the answer they got, the confirmed type, notes."""
    if history_mode(report) is None:
        st.info(text("saved_unavailable", language))
        return
    _delete_error()

    def fetch(before: int | None) -> tuple[list[PieceBody], int | None]:
        page = client.pieces(limit=PAGE_SIZE, before=before, headers=headers)
        return page.items, page.next_before

    listed = _listed(fetch, PIECES_PAGES_KEY, "collection", language)
    if listed is None:
        return
    pieces, older = listed
    for piece in pieces:
        with st.container(border=True):
            st.subheader(piece.name)
            pictures = st.columns(2)
            for column, side in zip(pictures, piece.photos, strict=False):
                photo = connection.saved_photo(
                    session,
                    f"piece/{piece.id}/{side}/{piece.created_at.isoformat()}",
                    partial(client.piece_photo, piece.id, side=side, headers=headers),
                )
                if photo is not None:
                    column.image(photo, caption=text(side, language), width=THUMB_PX * 2)
            is_unknown = bool(piece.result.get("unknown", {}).get("is_unknown", False))
            lines = [text("piece_answer", language, name=_answer(piece, is_unknown, language))]
            if piece.confirmed_class_id:
                confirmed = type_name(piece.confirmed_class_id, catalog, language)
                lines.append(text("piece_confirmed", language, name=confirmed))
            lines.append(text("when_saved", language, when=_when(piece.created_at)))
            st.markdown("  \n".join(lines))
            if piece.notes:
                st.caption(piece.notes)
            st.button(
                text("delete", language),
                key=f"delete_piece_{piece.id}",
                on_click=_delete,
                args=(partial(client.delete_piece, headers=headers), piece.id, language),
            )
    if older is not None:
        _more_button(PIECES_PAGES_KEY, language)
