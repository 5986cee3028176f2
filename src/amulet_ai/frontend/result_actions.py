"""What a collector can do under a result: say it is wrong, and keep the piece.

"This answer is wrong" appears under a saved check (the API answered a ``history_id``): the
types of the model's catalog, named in Thai and English, and "another type" with a free-text
name, sent as ``POST /v1/history/{id}/feedback``. "Save to my collection" sends the photos
with a name and notes to ``POST /v1/pieces`` wherever saved work is available. What was sent
is remembered for the session, so the page says "saved" instead of offering it again.
"""

from __future__ import annotations

import logging
from typing import Final

import streamlit as st

from amulet_ai.api.schemas import ClassesResponse
from amulet_ai.client import AmuletClient
from amulet_ai.errors import AmuletError
from amulet_ai.frontend.failures import describe
from amulet_ai.frontend.i18n import Language, class_name, text
from amulet_ai.frontend.state import PageSession
from amulet_ai.store.models import NAME_MAX, NOTES_MAX, TYPE_NAME_MAX

logger = logging.getLogger(__name__)

ANOTHER_TYPE: Final = "__another_type__"
CORRECTED_KEY: Final = "corrected_history_ids"


def correction(
    client: AmuletClient,
    headers: dict[str, str],
    history_id: int,
    catalog: ClassesResponse | None,
    language: Language,
) -> None:
    """The "this answer is wrong" control of one saved check."""
    corrected: set[int] = st.session_state.setdefault(CORRECTED_KEY, set())
    with st.expander(text("wrong_answer", language)):
        if history_id in corrected:
            st.success(text("correction_sent", language))
            return
        names = (
            {c.id: class_name(c.name_th, c.name_en, language) for c in catalog.classes}
            if (catalog is not None)
            else {}
        )
        names[ANOTHER_TYPE] = text("another_type", language)
        with st.form(key=f"wrong_{history_id}", border=False):
            chosen = st.selectbox(
                text("right_type", language),
                options=list(names),
                format_func=names.__getitem__,
                key=f"right_type_{history_id}",
            )
            typed = st.text_input(
                text("another_type_name", language),
                max_chars=TYPE_NAME_MAX,
                key=f"another_type_{history_id}",
            )
            sent = st.form_submit_button(
                text("send_correction", language), key=f"send_correction_{history_id}"
            )
        if not sent:
            return
        if chosen == ANOTHER_TYPE and not typed.strip():
            st.warning(text("correction_needs_name", language))
            return
        try:
            if chosen == ANOTHER_TYPE:
                client.feedback(history_id, correct=False, type_name=typed.strip(), headers=headers)
            else:
                client.feedback(history_id, correct=False, class_id=chosen, headers=headers)
        except AmuletError as exc:
            logger.info("feedback failed: %s", exc.code)
            st.error(describe(exc, language))
            return
        corrected.add(history_id)
        st.success(text("correction_sent", language))


def save_piece(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    photos: tuple[bytes, bytes | None],
    photo_key: str,
    language: Language,
) -> None:
    """The "save to my collection" form for the photos on the page."""
    with st.expander(text("save_to_collection", language)):
        saved = session.pieces_saved.get(photo_key)
        if saved is not None:
            st.success(text("piece_saved", language, name=saved))
            return
        with st.form(key=f"piece_{photo_key[:16]}", border=False):
            name = st.text_input(text("piece_name", language), max_chars=NAME_MAX, key="piece_name")
            notes = st.text_area(
                text("piece_notes", language), max_chars=NOTES_MAX, key="piece_notes"
            )
            sent = st.form_submit_button(text("save_piece", language), key="save_piece")
        if not sent:
            return
        try:
            piece = client.create_piece(
                photos[0],
                photos[1],
                name=name.strip() or None,
                notes=notes.strip() or None,
                headers=headers,
            )
        except AmuletError as exc:
            logger.info("saving a piece failed: %s", exc.code)
            st.error(describe(exc, language))
            return
        session.pieces_saved[photo_key] = piece.name
        st.success(text("piece_saved", language, name=piece.name))
