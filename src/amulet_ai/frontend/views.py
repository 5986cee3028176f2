"""The page's other pieces: the photos, a failure, the session's history, the catalog, "about".

Each function draws one part of the page with Streamlit and holds no state of its own;
labels come from :mod:`amulet_ai.frontend.i18n`, type names from the API's answers. The
verdict itself is :mod:`amulet_ai.frontend.verdict`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from amulet_ai.api.schemas import ClassesResponse, HealthReport, ModelInfo
from amulet_ai.client import AmuletClient
from amulet_ai.errors import AmuletError
from amulet_ai.frontend import connection
from amulet_ai.frontend.confidence import percent
from amulet_ai.frontend.failures import describe
from amulet_ai.frontend.i18n import Language, text
from amulet_ai.frontend.state import Answer, PageSession, square_picture

logger = logging.getLogger(__name__)

PREVIEW_PX: Final = 320


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
            if entry.is_unknown:
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


def overlays(slots: dict[str, DeltaGenerator], result: Answer, language: Language) -> None:
    """Put the heatmap overlay in place of each photo the API explained."""
    for side, overlay in (result.response.heatmap or {}).items():
        if side in slots:
            caption = text("heatmap_caption", language, side=text(side, language))
            slots[side].image(overlay, caption=caption, width="stretch")


def about(
    client: AmuletClient,
    session: PageSession,
    headers: dict[str, str],
    model: ModelInfo | None,
    result: Answer | None,
    language: Language,
) -> HealthReport | None:
    """The operator's details, folded away: API address and status, model, timings, cache.

    Returns the health report it showed (None while the API cannot be reached).
    """
    report: HealthReport | None = None
    with st.expander(text("about", language)):
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
