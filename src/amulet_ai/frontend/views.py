"""The page's pieces: the sidebar, the answer, a failure, the history.

Each function draws one part of the page with Streamlit and holds no state of its own;
labels come from :mod:`amulet_ai.frontend.i18n`, type names from the API's answers.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from amulet_ai.api.schemas import ClassScore, HealthReport, PhotoResult
from amulet_ai.client import AmuletClient
from amulet_ai.errors import AmuletError, CircuitOpen, UpstreamTimeout, UpstreamUnavailable
from amulet_ai.frontend.i18n import Language, class_name, text
from amulet_ai.frontend.state import SIDEBAR_TTL_S, Answer, PageSession, square_picture

logger = logging.getLogger(__name__)

PREVIEW_PX: Final = 320
_STATUS_BOX: Final = {"ok": st.success, "degraded": st.warning, "unavailable": st.error}


def _local_name(score: ClassScore, language: Language) -> str:
    return score.name_th if language == "th" else score.name_en


def _other_name(score: ClassScore, language: Language) -> str:
    return score.name_en if language == "th" else score.name_th


@st.fragment(run_every=SIDEBAR_TTL_S)
def api_status(client: AmuletClient, session: PageSession, language: Language) -> None:
    """The API's URL, live status and model version; refreshed every ``SIDEBAR_TTL_S``."""
    st.caption(f"{text('api_url', language)}: `{client.base_url}`")
    refresh = st.button(text("refresh_status", language), key="refresh_status")
    try:
        report: HealthReport = session.sidebar_value("health", client.health, refresh=refresh)
    except AmuletError as exc:
        logger.info("health check failed: %s", exc.code)
        st.error(f"{text('status', language)}: {text('status_unreachable', language)}")
        return
    label = text(f"status_{report.status}", language)
    _STATUS_BOX[report.status](f"{text('status', language)}: {label}")
    if report.model.version:
        st.caption(f"{text('model_version', language)}: {report.model.name} {report.model.version}")


def catalog(client: AmuletClient, session: PageSession, language: Language) -> None:
    """The known amulet types, named in both languages, as the API describes them."""
    with st.expander(text("catalog", language)):
        try:
            known = session.sidebar_value("classes", client.classes)
        except AmuletError as exc:
            logger.info("catalog fetch failed: %s", exc.code)
            st.caption(text("catalog_unavailable", language))
            return
        for info in known.classes:
            name = info.name_th if language == "th" else info.name_en
            other = info.name_en if language == "th" else info.name_th
            st.markdown(f"**{name}** ({other})")
            description = info.description_th if language == "th" else info.description
            if description or info.description:
                st.caption(description or info.description)


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
            if entry.is_unknown:
                words.markdown(f"**{text('unknown_title', language)}**  \n{when}")
            else:
                name = entry.name_th if language == "th" else entry.name_en
                words.markdown(f"**{name}** {entry.probability:.0%}  \n{when}")


def failure(exc: AmuletError, language: Language) -> None:
    """Say what went wrong in words a collector can act on, with a button to try again."""
    if isinstance(exc, CircuitOpen):
        st.error(text("api_paused", language))
    elif isinstance(exc, UpstreamTimeout):
        st.error(text("api_slow", language))
    elif isinstance(exc, UpstreamUnavailable):
        st.error(text("api_down", language))
    else:
        # The API's own message: it explains what is wrong with the photo or the request.
        st.error(text("api_error", language, message=exc.message))
    if exc.retryable:
        # Pressing it reruns the page; failures are not remembered, so the photo is sent again.
        st.button(text("retry", language), key="retry", type="primary")


def _chart(predictions: list[ClassScore], language: Language) -> None:
    name_column = text("amulet_type", language)
    value_column = text("probability", language)
    data = {
        name_column: [_local_name(p, language) for p in predictions],
        value_column: [round(p.probability * 100.0, 1) for p in predictions],
    }
    st.bar_chart(data, x=name_column, y=value_column, horizontal=True, sort=f"-{value_column}")


def _side_summary(
    column: DeltaGenerator, title: str, side: PhotoResult, language: Language
) -> None:
    with column:
        st.markdown(f"**{title}**")
        if side.unknown.is_unknown or not side.predictions:
            st.markdown(text("side_unknown", language))
            return
        best = side.predictions[0]
        st.markdown(f"{class_name(best.name_th, best.name_en, language)}: {best.probability:.0%}")


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


def overlays(slots: dict[str, DeltaGenerator], result: Answer, language: Language) -> None:
    """Put the heatmap overlay in place of each photo the API explained."""
    for side, overlay in (result.response.heatmap or {}).items():
        if side in slots:
            caption = text("heatmap_caption", language, side=text(side, language))
            slots[side].image(overlay, caption=caption, width="stretch")


def answer(result: Answer, language: Language) -> None:
    """The verdict: the type in both languages, confidence, top 3, sides, time taken."""
    response = result.response
    st.subheader(text("result", language))
    if response.unknown.is_unknown:
        st.warning(
            f"**{text('unknown_title', language)}**\n\n{text('unknown_body', language)}",
            icon=":material/help:",
        )
        with st.expander(text("closest_types", language)):
            _chart(response.predictions, language)
    else:
        top1 = response.top1
        st.markdown(f"### {_local_name(top1, language)}")
        st.caption(_other_name(top1, language))
        st.markdown(text("confidence_value", language, percent=top1.probability * 100.0))
        st.progress(min(1.0, max(0.0, top1.probability)))
        st.markdown(f"**{text('top3', language)}**")
        _chart(response.predictions, language)

    back = response.images.back
    if back is not None:
        st.markdown(f"**{text('per_side', language)}**")
        left, right = st.columns(2)
        _side_summary(left, text("front", language), response.images.front, language)
        _side_summary(right, text("back", language), back, language)

    st.caption(
        text(
            "time_taken",
            language,
            total_ms=result.elapsed_ms,
            server_ms=response.timing_ms.total,
        )
    )
    if result.from_session:
        st.caption(text("from_session", language))
