"""The page's other pieces: the photos, a failure, the session's history, the catalog, "about".

Once the API has answered, each photo is shown with the box where the amulet was found and,
beside it, the crop that was judged, or the photo's square where it was judged whole
(:mod:`amulet_ai.frontend.located`), greyed outside the localiser's mask where the served
model judges it so; the heatmap, when switched on, takes that picture's
place (the API draws it on what it judged), and the captions say which it is. "About" holds
the one setting a collector may want: whether the API finds the amulet in the photo
(``locate=auto``, the default) or takes the photo as already cropped to it (``off``).

Each function draws one part of the page with Streamlit and holds no state of its own;
labels come from :mod:`amulet_ai.frontend.i18n`, type names from the API's answers. The
verdict itself is :mod:`amulet_ai.frontend.verdict`.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from typing import Final, Literal

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from amulet_ai.api.schemas import ClassesResponse, HealthReport, ModelInfo, PredictResponse
from amulet_ai.client import AmuletClient
from amulet_ai.errors import AmuletError
from amulet_ai.frontend import connection
from amulet_ai.frontend.confidence import percent
from amulet_ai.frontend.failures import describe
from amulet_ai.frontend.i18n import Language, text
from amulet_ai.frontend.located import (
    CROP_SHOWN_PX,
    RETAKE,
    SHOWN_WIDTH_PX,
    LocatedPictures,
    PixelBox,
    located_pictures,
)
from amulet_ai.frontend.state import Answer, PageSession, square_picture
from amulet_ai.imaging.masks import mask_from_data_url
from amulet_ai.model.results import LocateMode

logger = logging.getLogger(__name__)

PREVIEW_PX: Final = 320
LOCATE_MODES: Final[tuple[LocateMode, ...]] = ("auto", "off")
# The locate choice, kept outside its widget (see ``app.HEATMAP_ON`` for why).
LOCATE_ON: Final = "locate_on"
_LOCATE_WIDGET: Final = "locate_choice"
ANSWER_KEY: Final = "answer"
ACTIONS_KEY: Final = "answer_actions"
# Streamlit keeps its tabs on one line and scrolls them: at 390 px the Thai labels overflow
# and the last tab is cut off behind an arrow. On a narrow screen they wrap instead.
# The verdict's column holds the verdict and, under it, what to do with it (correct, save,
# similar); the photos are the column beside it. Streamlit stacks columns on a narrow
# screen, which would put the actions before the photos: there the verdict's column gives
# its two parts to the row (``display: contents``) and the actions go last.
_ROW: Final = f"[data-testid=stHorizontalBlock]:has(.st-key-{ANSWER_KEY})"
_VERDICT_COLUMN: Final = f"{_ROW} > [data-testid=stColumn]:has(.st-key-{ANSWER_KEY})"
NARROW_SCREEN_CSS: Final = (
    "@media (max-width: 640px) {"
    " [data-testid=stTabs] [role=tablist] { flex-wrap: wrap; row-gap: 0.25rem; }"
    f" {_ROW} {{ flex-direction: column; gap: 1.5rem; }}"
    f" {_ROW} > [data-testid=stColumn] {{ width: 100%; }}"
    f" {_VERDICT_COLUMN}, {_VERDICT_COLUMN} > [data-testid=stVerticalBlock]"
    " { display: contents; }"
    f" {_ROW} [data-testid=stLayoutWrapper]:has(> .st-key-{ACTIONS_KEY}) {{ order: 1; }} }}"
)


def narrow_screen_layout() -> None:
    """The page's own layout rules for phones (see :data:`NARROW_SCREEN_CSS`)."""
    st.html(f"<style>{NARROW_SCREEN_CSS}</style>")


VERDICT_ROOM_PX: Final = 240  # the type's names and the confidence, in CSS pixels
# On a phone the title, the tabs and three photo inputs fill the first screen: the answer
# starts below it and the collector would see nothing happen. A new question whose answer
# has less than VERDICT_ROOM_PX of the screen left is scrolled to: when asked (the spinner;
# the page may not yet be tall enough to bring it to the top) and again once answered,
# unless the collector has scrolled in between. A rerun for the same question (a switch,
# the language) leaves the scroll where the collector put it.
_INTO_VIEW_SCRIPT: Final = """
(() => {{
  const question = {question}, phase = {phase};
  const answer = document.querySelector('.st-key-{key}');
  if (!answer) return;
  const top = answer.getBoundingClientRect().top;
  const seen = window.amuletAnswer;
  if (phase === 'asked') {{
    if (seen && seen.question === question) return;
    const needed = top < 0 || top > window.innerHeight - {room};
    if (needed) answer.scrollIntoView({{block: 'start'}});
    const now = answer.getBoundingClientRect().top;
    window.amuletAnswer = {{question: question, needed: needed, top: now, done: false}};
  }} else {{
    if (!seen || seen.question !== question || !seen.needed || seen.done) return;
    seen.done = true;
    if (Math.abs(top - seen.top) > 2) return;
    answer.scrollIntoView({{block: 'start'}});
  }}
}})();
"""


def answer_into_view(question: str, phase: Literal["asked", "answered"]) -> None:
    """Bring the answer container (key :data:`ANSWER_KEY`) into view for a new
    ``question`` at ``phase`` (see :data:`_INTO_VIEW_SCRIPT`); call it inside that
    container, once before asking the API and once after drawing its answer."""
    script = _INTO_VIEW_SCRIPT.format(
        question=json.dumps(question), phase=json.dumps(phase), key=ANSWER_KEY, room=VERDICT_ROOM_PX
    )
    # Clear of Streamlit's header bar, which stays over the top of the page; the script's
    # own (empty) element takes no room, so the verdict stays level with the photos.
    answer = f".st-key-{ANSWER_KEY}"
    style = (
        f"{answer} {{ scroll-margin-top: 4rem; }}"
        f" {answer} > [data-testid=stElementContainer]:has(script) {{ display: none; }}"
    )
    st.html(f"<style>{style}</style><script>{script}</script>", unsafe_allow_javascript=True)


def locate_mode(default: LocateMode) -> LocateMode:
    """The locate option this session sends: the collector's choice, else ``default``."""
    chosen = st.session_state.get(LOCATE_ON, default)
    for mode in LOCATE_MODES:
        if chosen == mode:
            return mode
    return "auto"


def _remember_locate() -> None:
    st.session_state[LOCATE_ON] = st.session_state[_LOCATE_WIDGET]


def locate_choice(default: LocateMode, language: Language) -> None:
    """The radio for the locate option, inside "about" (for collectors who send tight crops)."""
    st.radio(
        text("locate", language),
        options=LOCATE_MODES,
        format_func=lambda mode: text(f"locate_{mode}", language),
        index=LOCATE_MODES.index(locate_mode(default)),
        key=_LOCATE_WIDGET,
        on_change=_remember_locate,
    )


def fetch_catalog(
    client: AmuletClient, session: PageSession, headers: dict[str, str]
) -> ClassesResponse | None:
    """The known types, or None while the API cannot say."""
    try:
        return connection.catalog(client, session, headers)
    except AmuletError as exc:
        logger.info("catalog fetch failed: %s", exc.code)
        return None


def catalog(known: ClassesResponse | None, language: Language) -> None:
    """The known amulet types, named in both languages, as the API describes them."""
    with st.expander(text("catalog", language)):
        if known is None:
            st.caption(text("catalog_unavailable", language))
            return
        for info in known.classes:
            name = info.name_th if language == "th" else info.name_en
            other = info.name_en if language == "th" else info.name_th
            st.markdown(f"**{name}** ({other})")
            description = info.description_th if language == "th" else info.description
            if description:
                st.caption(description)


def history(slot: DeltaGenerator, session: PageSession, language: Language) -> None:
    """This session's answers, newest first, with thumbnails; a button clears them."""
    with slot:
        st.subheader(text("history", language))
        if not session.history:
            st.caption(text("history_empty", language))
            return
        st.button(
            text("clear_history", language), key="clear_history", on_click=session.clear_history
        )
        for entry in session.history:
            picture, words = st.columns([1, 3])
            uri = session.thumbnail_uri(entry)
            if uri is not None:
                picture.image(uri, width=56)
            when = datetime.fromtimestamp(entry.created_at).strftime("%H:%M:%S")
            sides = text(
                "history_both_sides" if entry.with_back else "history_front_only", language
            )
            if entry.status in RETAKE:
                title = text(f"retake_{entry.status}_title", language)
                words.markdown(f"**{title}**  \n{sides} · {when}")
            elif entry.is_unknown:
                words.markdown(f"**{text('unknown_title', language)}**  \n{sides} · {when}")
            else:
                name = entry.name_th if language == "th" else entry.name_en
                words.markdown(f"**{name}** {percent(entry.probability)}  \n{sides} · {when}")


def failure(exc: AmuletError, language: Language, upload_limit_mb: float | None) -> None:
    """Say what went wrong, from the error's code, with a button to try again if it may help."""
    logger.info("prediction failed: %s", exc.code)
    st.error(describe(exc, language, upload_limit_mb=upload_limit_mb))
    if exc.retryable:
        # Pressing it reruns the page; failures are not remembered, so the photo is sent again.
        st.button(text("retry", language), key="retry", type="primary")


def previews(photos: dict[str, bytes], language: Language) -> dict[str, DeltaGenerator]:
    """Show each photo as the model sees it (the square centre); return a slot per side
    that :func:`overlays` can fill with the heatmap instead."""
    slots: dict[str, DeltaGenerator] = {}
    for side, photo in photos.items():
        slots[side] = st.empty()
        preview = square_picture(photo, PREVIEW_PX)
        if preview is not None:
            slots[side].image(preview, caption=text(side, language), width="stretch")
    return slots


def _data_url(jpeg: bytes) -> str:
    # As a data URL the picture reaches the browser as made; Streamlit would scale bytes
    # down to the width shown, blurring the box on a phone's dense screen.
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


@st.cache_data(max_entries=8, show_spinner=False)
def _pictures(
    photo: bytes,
    status: str,
    box: tuple[int, int, int, int, int, int] | None,
    mask_url: str | None = None,
) -> LocatedPictures | None:
    # Reruns (a switch, the language) redraw the page: decode and draw each photo once.
    mask = None
    if mask_url is not None:
        try:
            mask = mask_from_data_url(mask_url)
        except ValueError as exc:
            logger.warning("the answer's mask is not shown: %s", exc)
    corners = PixelBox(*box) if box is not None else None
    return located_pictures(photo, status, corners, mask=mask)


def located(
    slots: dict[str, DeltaGenerator],
    photos: dict[str, bytes],
    response: PredictResponse,
    heatmap: bool,
    language: Language,
    *,
    greyed: bool = False,
) -> None:
    """Each photo with its box and, beside it, the crop judged (or the heatmap, when on),
    in place of the preview; an answer without a location keeps the preview. With
    ``greyed`` (the served model greys the backdrop) a crop whose location has the
    localiser's mask is shown greyed outside it, as the model read it."""
    overlays = (response.heatmap or {}) if heatmap else {}
    results = {"front": response.images.front, "back": response.images.back}
    for side, slot in slots.items():
        result = results.get(side)
        location = result.location if result is not None else None
        side_name = text(side, language)
        heatmap_caption = text("heatmap_caption", language, side=side_name)
        if location is None:
            if side in overlays:
                slot.image(overlays[side], caption=heatmap_caption, width="stretch")
            continue
        box = location.box
        corners = (
            (box.x, box.y, box.width, box.height, box.image_width, box.image_height)
            if box is not None
            else None
        )
        mask_url = location.mask.image if greyed and location.mask is not None else None
        pictures = _pictures(photos[side], location.status, corners, mask_url)
        if pictures is None:
            continue
        shows_heatmap = side in overlays and pictures.crop is not None
        explained = _explained(location.status, pictures, shows_heatmap, language)
        with slot.container():
            # Fixed widths: small on a phone, side by side in the desktop's column too.
            with st.container(horizontal=True, wrap=False, gap="small"):
                photo = _data_url(pictures.photo)
                st.image(photo, caption=side_name, width=SHOWN_WIDTH_PX)
                if shows_heatmap:
                    # The API draws it on what it judged: the crop, or the photo whole.
                    on = "heatmap_on_photo" if pictures.whole else "heatmap_on_crop"
                    st.image(overlays[side], caption=text(on, language), width=CROP_SHOWN_PX)
                elif pictures.crop is not None:
                    crop_caption = text("crop_caption", language)
                    crop = _data_url(pictures.crop)
                    st.image(crop, caption=crop_caption, width=CROP_SHOWN_PX)
            if explained is not None:
                st.caption(explained)


def _explained(
    status: str, pictures: LocatedPictures, heatmap: bool, language: Language
) -> str | None:
    """The line under a photo and its judged picture: what the box and the small picture
    are (the crop around the box, or the photo judged whole; the heatmap on it when on)."""
    if status == "whole_photo":
        key = "whole"
    elif pictures.boxed and pictures.crop is None:
        return text("retake_found_caption", language)
    elif pictures.boxed:
        key = "filled" if pictures.whole else "found"
    else:
        return None
    if heatmap:
        return text(f"{key}_heatmap_caption", language)
    return text("found_greyed_caption" if pictures.greyed else f"{key}_caption", language)


def about(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    model: ModelInfo | None,
    result: Answer | None,
    language: Language,
    *,
    locate_default: LocateMode = "auto",
) -> HealthReport | None:
    """The locate choice and the operator's details, folded away: API address and status,
    model, timings, cache.

    Returns the health report it showed (None while the API cannot be reached).
    """
    report: HealthReport | None = None
    with st.expander(text("about", language)):
        locate_choice(locate_default, language)
        st.markdown(f"{text('api_url', language)}: `{client.base_url}`")
        refresh = st.button(text("refresh_status", language), key="refresh_status")
        try:
            report = connection.health(client, session, headers, refresh=refresh)
        except AmuletError as exc:
            logger.info("health check failed: %s", exc.code)
            st.markdown(f"{text('status', language)}: {text('status_unreachable', language)}")
        else:
            st.markdown(f"{text('status', language)}: {text(f'status_{report.status}', language)}")
        if model is not None:
            st.markdown(f"{text('model_version', language)}: `{model.name} {model.version}`")
            if model.onnx_file:
                st.markdown(f"{text('model_file', language)}: `{model.onnx_file}`")
        if result is None:
            return report
        response = result.response
        st.markdown(
            text(
                "time_taken",
                language,
                total_ms=result.elapsed_ms,
                server_ms=response.timing_ms.total,
            )
        )
        if result.from_session:
            st.markdown(text("from_session", language))
        elif response.cached:
            st.markdown(text("from_cache", language))
    return report
