"""Issue 13 on the page: "closest in your collection" under a result, and the owner's types.

The closest photos come from ``POST /v1/similar`` (the owner's pieces, earlier checks and
enrolled-type photos), asked once per photo and remembered for the session, since the API
runs the model again to answer; the check just saved is left out (it is the photo itself).
The "my types" tab lists the owner's enrolled types and has the "add a type" form: the
photos chosen are previewed as the model sees them before they are sent to
``POST /v1/types``, and the photos the API did not use are listed with the reason (for a
photo whose amulet could not be judged, the retake advice a prediction of it gets).
"""

from __future__ import annotations

import io
import logging
from functools import partial
from typing import Final

import streamlit as st

from amulet_ai.api.types_schemas import EnrolResponse, Rejected, SimilarHit, SimilarResponse
from amulet_ai.client import AmuletClient
from amulet_ai.errors import AmuletError
from amulet_ai.frontend import connection
from amulet_ai.frontend.failures import describe
from amulet_ai.frontend.i18n import Language, class_name, text
from amulet_ai.frontend.located import RETAKE, advice
from amulet_ai.frontend.state import PageSession, square_picture
from amulet_ai.store.models import TYPE_NAME_MAX

logger = logging.getLogger(__name__)

CLOSEST_COUNT: Final = 3
THUMB_PX: Final = 96
PREVIEW_COLUMNS: Final = 5
TYPE_DELETE_ERROR_KEY: Final = "own_types_delete_error"


def _closest_hits(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    photos: tuple[bytes, bytes | None],
    key: str,
) -> SimilarResponse | None:
    known: SimilarResponse | None = session.closest.get(key)
    if known is not None:
        return known
    try:
        # One more than shown: the check just saved is among them.
        found = client.similar(photos[0], photos[1], limit=CLOSEST_COUNT + 1, headers=headers)
    except AmuletError as exc:
        logger.info("similar failed: %s", exc.code)
        return None
    session.closest[key] = found
    return found


def closest(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    photos: tuple[bytes, bytes | None],
    key: str,
    history_id: int | None,
    language: Language,
) -> None:
    """The owner's photos most like this one, each with what it belongs to."""
    found = _closest_hits(client, session, headers, photos, key)
    if found is None:
        return
    hits: list[SimilarHit] = [
        hit
        for hit in found.results
        if not (hit.kind == "history" and history_id is not None and hit.id == str(history_id))
    ][:CLOSEST_COUNT]
    st.markdown(f"**{text('closest', language)}**")
    if not hits:
        st.caption(text("closest_none", language))
        return
    # One row, on a phone too: columns would stack there, a thumbnail a line.
    with st.container(horizontal=True, gap="small"):
        for hit in hits:
            thumb = connection.saved_photo(
                session,
                hit.thumbnail_url,
                partial(client.photo, hit.thumbnail_url, headers=headers),
            )
            with st.container(width=THUMB_PX, gap="small"):
                if thumb is not None:
                    st.image(thumb, width=THUMB_PX)
                st.caption(text(f"kind_{hit.kind}", language))


def _delete_type(
    client: AmuletClient, headers: dict[str, str], type_id: str, lang: Language
) -> None:
    try:
        client.delete_type(type_id, headers=headers)
    except AmuletError as exc:
        logger.info("delete type %s failed: %s", type_id, exc.code)
        st.session_state[TYPE_DELETE_ERROR_KEY] = describe(exc, lang)


def _enrol_failure(exc: AmuletError, language: Language) -> str:
    if exc.code == "duplicate_name":
        return text("type_name_taken", language)
    if exc.code == "validation_error" and exc.details.get("field") == "photos":
        return text("type_needs_photos", language)
    return describe(exc, language)


class NamedPhoto(io.BytesIO):
    """A chosen photo with its file name, so that the photos the API did not use are listed
    by the names the collector knows them by."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def rejected_line(photo: Rejected, language: Language) -> str:
    """One line of the "photos not used" list: the photo and why; for a photo whose amulet
    could not be judged, the retake advice a prediction of it gets.

    Example::

        >>> from amulet_ai.api.types_schemas import Rejected
        >>> rejected_line(Rejected(index=0, reason="duplicate", message="twice"), "en")
        '- 1: the same photo twice'
    """
    label = photo.filename or photo.index + 1
    if photo.reason in RETAKE:
        title, what_to_do = advice(photo.reason, language)
        return f"- {label}: **{title}**  \n  {what_to_do}"
    return f"- {label}: {text(f'reason_{photo.reason}', language)}"


def _enrolled(answer: EnrolResponse, language: Language) -> None:
    name = class_name(answer.name_th, answer.name_en, language)
    st.success(text("type_added", language, name=name, count=answer.photos))
    if answer.rejected:
        lines = [rejected_line(r, language) for r in answer.rejected]
        st.markdown(f"**{text('type_rejected', language)}**\n" + "\n".join(lines))


def add_type_form(client: AmuletClient, headers: dict[str, str], language: Language) -> None:
    """Names, a description and the photos, previewed as chosen; a button sends them."""
    st.markdown(f"**{text('add_type', language)}**")
    name_en = st.text_input(text("type_name_en", language), max_chars=TYPE_NAME_MAX, key="type_en")
    name_th = st.text_input(text("type_name_th", language), max_chars=TYPE_NAME_MAX, key="type_th")
    description = st.text_area(text("type_description", language), key="type_description")
    chosen = st.file_uploader(
        text("type_photos", language),
        type=["jpg", "jpeg", "png", "webp", "heic"],
        accept_multiple_files=True,
        key="type_photos",
    )
    chosen = chosen or []
    photos = [upload.getvalue() for upload in chosen]
    if photos:
        st.caption(text("type_preview", language, count=len(photos)))
        columns = st.columns(PREVIEW_COLUMNS)
        for index, photo in enumerate(photos):
            preview = square_picture(photo, THUMB_PX)
            if preview is not None:
                columns[index % PREVIEW_COLUMNS].image(preview, width=THUMB_PX)
    if not st.button(text("add_type", language), key="add_type", type="primary"):
        return
    if not name_en.strip():
        st.warning(text("type_needs_name", language))
        return
    try:
        answer = client.create_type(
            name_en.strip(),
            [NamedPhoto(data, upload.name) for upload, data in zip(chosen, photos, strict=True)],
            name_th=name_th.strip() or None,
            description=description.strip() or None,
            headers=headers,
        )
    except AmuletError as exc:
        logger.info("enrolment failed: %s", exc.code)
        st.error(_enrol_failure(exc, language))
        return
    _enrolled(answer, language)


def types_tab(
    client: AmuletClient, session: PageSession, headers: dict[str, str], language: Language
) -> None:
    """The owner's enrolled types (photo, names, photo count, delete), then the add form."""
    st.caption(text("types_intro", language))
    said = st.session_state.pop(TYPE_DELETE_ERROR_KEY, None)
    if said:
        st.error(said)
    try:
        mine = [t for t in client.types(headers=headers).items if t.mine]
    except AmuletError as exc:
        logger.info("types failed: %s", exc.code)
        st.warning(text("types_failed", language))
        mine = None
    if mine is not None and not mine:
        st.caption(text("types_none", language))
    for kind in mine or []:
        with st.container(border=True):
            picture, words, action = st.columns([1, 4, 1], vertical_alignment="center")
            if kind.thumbnail_url:
                url = kind.thumbnail_url
                thumb = connection.saved_photo(
                    session, url, partial(client.photo, url, headers=headers)
                )
                if thumb is not None:
                    picture.image(thumb, width=THUMB_PX)
            name = class_name(kind.name_th, kind.name_en, language)
            count = text("type_photo_count", language, count=kind.photos or 0)
            words.markdown(f"**{name}**  \n{count}")
            action.button(
                text("delete", language),
                key=f"delete_type_{kind.type_id}",
                on_click=_delete_type,
                args=(client, headers, kind.type_id, language),
            )
    add_type_form(client, headers, language)
