"""The collector's page: photograph an amulet, learn its type, in Thai or English.

Run it with ``streamlit run frontend/app.py`` from the repository root (or ``production_runner.py
frontend``); it talks to the API at ``AMULET_PUBLIC_URL``. The page reads top to bottom like
the user's path: language and server in the sidebar, the photos, an early stop while there
is no front photo, then the answer and the history.
"""

from __future__ import annotations

import streamlit as st

from amulet_ai.errors import AmuletError
from amulet_ai.frontend import views
from amulet_ai.frontend.connection import ask, get_client
from amulet_ai.frontend.i18n import DEFAULT_LANGUAGE, LABELS, LANGUAGE_NAMES, Language, text
from amulet_ai.frontend.state import get_session

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]

st.set_page_config(page_title=LABELS["page_title"]["en"], page_icon=":material/photo_camera:")

client = get_client()
session = get_session(st.session_state)

with st.sidebar:
    language: Language = st.radio(
        f"{LABELS['language']['th']} / {LABELS['language']['en']}",
        options=list(LANGUAGE_NAMES),
        format_func=LANGUAGE_NAMES.__getitem__,
        horizontal=True,
        key="language",
        index=list(LANGUAGE_NAMES).index(DEFAULT_LANGUAGE),
    )
    st.subheader(text("sidebar_api", language))
    views.api_status(client, session, language)
    views.catalog(client, session, language)
    history_slot = st.container()

st.title(text("page_title", language))
st.write(text("intro", language))

# --- the photos ---------------------------------------------------------------------------
front_upload = st.file_uploader(text("upload_front", language), PHOTO_TYPES, key="front_photo")
back_upload = st.file_uploader(text("upload_back", language), PHOTO_TYPES, key="back_photo")
camera_photo = None
if st.toggle(text("use_camera", language), key="use_camera"):
    camera_photo = st.camera_input(text("camera", language), key="camera_photo")

front_file = camera_photo or front_upload
front = front_file.getvalue() if front_file is not None else None
back = back_upload.getvalue() if back_upload is not None else None

if front is None:
    views.history(history_slot, session, language)
    st.info(text("nothing_uploaded", language))
    st.stop()

photos = {"front": front} if back is None else {"front": front, "back": back}
pictures_column, answer_column = st.columns([2, 3], gap="large")
with pictures_column:
    picture_slots = views.previews(photos, language)
    show_heatmap = st.toggle(text("show_heatmap", language), key="show_heatmap")

# --- the answer ---------------------------------------------------------------------------
with answer_column:
    try:
        with st.spinner(text("classifying", language)):
            result = ask(client, session, front, back)
    except AmuletError as exc:
        views.history(history_slot, session, language)
        views.failure(exc, language)
        st.stop()
    views.answer(result, language)

if show_heatmap:
    views.overlays(picture_slots, result, language)
views.history(history_slot, session, language)
