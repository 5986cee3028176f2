"""The collector's page: photograph an amulet, learn its type, in Thai or English.

Run it with ``streamlit run frontend/app.py`` from the repository root (or
``production_runner.py frontend``); it talks to the API at ``AMULET_PUBLIC_URL``. The page
reads top to bottom like the user's path on a phone: the language switch, the photos, an
early stop while there is no front photo, then the verdict with "this answer is wrong" and
"save to my collection" under it (or, for a photo that could not be judged, how to retake
it), each photo with the box where the amulet was found beside the crop that was judged,
"about" (the locate choice and the operator's details, folded away), and "closest in your
collection". The classifier is the
first tab; the owner's saved checks, their collection and their own types, read from the
API, are the others. The sidebar has the known types
and this session's answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from amulet_ai.api.schemas import ClassesResponse, HealthReport, ModelInfo
from amulet_ai.client import AmuletClient
from amulet_ai.config import get_settings
from amulet_ai.errors import AmuletError
from amulet_ai.frontend import connection, own_types, result_actions, saved_work, views
from amulet_ai.frontend.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES, Language, text
from amulet_ai.frontend.photo_inputs import localise_uploaders, photo_inputs
from amulet_ai.frontend.state import Answer, PageSession, get_session, photo_key
from amulet_ai.frontend.verdict import verdict
from amulet_ai.model.results import LocateMode

logger = logging.getLogger(__name__)

FAVICON = Path(__file__).resolve().parents[1] / "static" / "favicon.png"
# The heatmap switch's value, kept outside the widget: Streamlit forgets a widget's state
# on a run that does not draw it (no photo yet), which would turn the switch off.
HEATMAP_ON = "heatmap_on"


def served_model(
    client: AmuletClient, session: PageSession, headers: dict[str, str]
) -> ModelInfo | None:
    """The served model and the server's limits, or None while the API cannot say."""
    try:
        return connection.model_info(client, session, headers)
    except AmuletError as exc:
        logger.info("model info failed: %s", exc.code)
        return None


def language_switch() -> Language:
    """The language, chosen on the page itself (Thai by default)."""
    chosen: Language = st.session_state.get("language", DEFAULT_LANGUAGE)
    picked: Language = st.radio(
        text("language", chosen),
        options=list(LANGUAGE_NAMES),
        format_func=LANGUAGE_NAMES.__getitem__,
        horizontal=True,
        key="language",
        index=list(LANGUAGE_NAMES).index(DEFAULT_LANGUAGE),
        label_visibility="collapsed",
    )
    return picked


def _remember_heatmap() -> None:
    st.session_state[HEATMAP_ON] = st.session_state["show_heatmap"]


@dataclass(frozen=True, slots=True)
class Shown:
    """The answer on the page, the photos it is for, and the place under the verdict."""

    answer: Answer
    front: bytes
    back: bytes | None
    locate: LocateMode
    actions: DeltaGenerator


def classify(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    limit_mb: float | None,
    locate: LocateMode,
    language: Language,
    *,
    greyed: bool = False,
) -> Shown | None:
    """Photos in, verdict out; returns the answer shown, if any (``greyed``: the served
    model greys the backdrop outside the localiser's mask, and the judged crop shows it)."""
    localise_uploaders(language, limit_mb)
    photos = photo_inputs(language, limit_mb)
    if photos.front is None:
        st.info(text("nothing_uploaded", language))
        return None
    # Columns stack on a narrow screen in this order: the verdict comes first, the actions
    # under it go after the photos there.
    answer_column, pictures_column = st.columns(2, gap="large")
    with pictures_column:
        sides = {"front": photos.front}
        if photos.back is not None:
            sides["back"] = photos.back
        picture_slots = views.previews(sides, language)
    with answer_column:
        with st.container(key=views.ANSWER_KEY):
            question = photo_key(photos.front, photos.back, explain=True, locate=locate)
            views.answer_into_view(question, "asked")  # the spinner, while the API works
            try:
                with st.spinner(text("classifying", language)):
                    result = connection.ask(
                        client, session, photos.front, photos.back, headers, locate=locate
                    )
            except AmuletError as exc:
                views.failure(exc, language, limit_mb)
                return None
            verdict(result.response, language)
            views.answer_into_view(question, "answered")  # the page below it is drawn now
        # Under the verdict; on a phone after the photos (see views.NARROW_SCREEN_CSS).
        actions = st.container(key=views.ACTIONS_KEY)
    show_heatmap = False
    # The heatmap explains a verdict: none is offered for a photo to retake or a failure.
    if result.response.status == "ok":
        with pictures_column:
            show_heatmap = st.toggle(
                text("show_heatmap", language),
                value=st.session_state.get(HEATMAP_ON, False),
                key="show_heatmap",
                on_change=_remember_heatmap,
            )
    views.located(picture_slots, sides, result.response, show_heatmap, language, greyed=greyed)
    return Shown(result, photos.front, photos.back, locate, actions)


def actions_under(
    shown: Shown,
    report: HealthReport | None,
    known: ClassesResponse | None,
    language: Language,
) -> None:
    """ "This answer is wrong" for a saved check, "save to my collection" where possible."""
    if saved_work.history_mode(report) is None or shown.answer.response.status != "ok":
        return  # nothing to correct or keep while the photo is to be taken again
    with shown.actions:
        history_id = shown.answer.response.history_id
        if history_id is not None:
            st.caption(text("saved_as_history", language))
            result_actions.correction(client, headers, history_id, known, language)
        key = photo_key(shown.front, shown.back, explain=True, locate=shown.locate)
        photos = (shown.front, shown.back)
        result_actions.save_piece(client, session, headers, photos, key, language)
        own_types.closest(client, session, headers, photos, key, history_id, language)


language: Language = st.session_state.get("language", DEFAULT_LANGUAGE)
st.set_page_config(
    page_title=text("page_title", language),
    page_icon=str(FAVICON),
    initial_sidebar_state="auto",  # folded on a phone, open on a desktop
)
views.narrow_screen_layout()
client = connection.get_client()
session = get_session(st.session_state)
headers = connection.visitor_headers()

st.title(text("page_title", language))
language = language_switch()
st.write(text("intro", language))

with st.sidebar:
    catalog_slot = st.container()
    history_slot = st.container()

tab_names = ("tab_classify", "tab_history", "tab_collection", "tab_types")
# Only the open tab of saved work is drawn (each asks the API); the classifier always is,
# so the photos chosen stay when the collector looks at another tab and comes back.
# The open tab is known by its label: a language switch keeps it open under its new name.
open_label = st.session_state.get(saved_work.TAB_KEY)
for name in tab_names:
    if open_label in (text(name, "th"), text(name, "en")):
        st.session_state[saved_work.TAB_KEY] = text(name, language)
check_tab, history_tab, collection_tab, types_tab = st.tabs(
    [text(n, language) for n in tab_names], key=saved_work.TAB_KEY, on_change="rerun"
)
model = served_model(client, session, headers)
locate_default = get_settings().locate
with check_tab:
    limit_mb = model.limits.max_upload_mb if model else None
    locate = views.locate_mode(locate_default)
    greyed = model is not None and model.backdrop == "grey_outside_mask"
    shown = classify(client, session, headers, limit_mb, locate, language, greyed=greyed)
    report = views.about(
        client,
        session,
        headers,
        model,
        shown.answer if shown else None,
        language,
        locate_default=locate_default,
    )
# The extras after the question the collector asked has gone to the API.
known = views.fetch_catalog(client, session, headers)
if shown is not None and check_tab.open is not False:
    actions_under(shown, report, known, language)
if history_tab.open:
    with history_tab:
        saved_work.history_tab(client, session, headers, report, known, language)
if collection_tab.open:
    with collection_tab:
        saved_work.collection_tab(client, session, headers, report, known, language)
if types_tab.open:
    with types_tab:
        if saved_work.history_mode(report) is None:
            st.info(text("saved_unavailable", language))
        else:
            own_types.types_tab(client, session, headers, language)
with catalog_slot:
    views.catalog(known, language)
views.history(history_slot, session, language)
