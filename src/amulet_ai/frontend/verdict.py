"""The verdict: what a collector came for, drawn first.

The type in both languages and the confidence in plain words come first, then, for a pair,
how the two sides agree; the calibrated probability, the closest types and each side's
result are one click away in an expander. An unknown answer names the side that was not
recognised. Percentages go through :func:`amulet_ai.frontend.confidence.percent`, so no
result is ever shown as 100 %.

When a photo could not be judged (the answer's ``status`` is ``no_amulet``, ``too_small``
or ``too_blurred``) the page says what to do instead, for each side that needs it, and
names no type: the API's predictions from the whole photo are not an answer.
"""

from __future__ import annotations

from typing import Final

import streamlit as st

from amulet_ai.api.schemas import ClassScore, PhotoResult, PredictResponse
from amulet_ai.frontend.confidence import LIKELY, VERY_LIKELY, band, percent
from amulet_ai.frontend.i18n import Language, class_name, text
from amulet_ai.frontend.located import RETAKE, advice

_BAND_COLOUR: Final = {"very_likely": "green", "likely": "blue", "not_sure": "orange"}


def local_name(score: ClassScore, language: Language) -> str:
    """The type's name in ``language``."""
    return score.name_th if language == "th" else score.name_en


def other_name(score: ClassScore, language: Language) -> str:
    """The type's name in the other language."""
    return score.name_en if language == "th" else score.name_th


def _recognised(side: PhotoResult | None) -> bool:
    return side is not None and not side.unknown.is_unknown and bool(side.predictions)


def pair_agreement(response: PredictResponse, language: Language) -> str | None:
    """How the two sides of a pair agree, or which one was not recognised; None for one photo.

    The per-photo results (``images.front``, ``images.back``) tell which side is unknown.
    """
    front, back = response.images.front, response.images.back
    if back is None:
        return None
    front_known, back_known = _recognised(front), _recognised(back)
    if not front_known and not back_known:
        return text("unknown_both", language)
    if not front_known:
        return text("unknown_front", language)
    if not back_known:
        return text("unknown_back", language)
    front_best, back_best = front.predictions[0], back.predictions[0]
    if front_best.class_id == back_best.class_id:
        return text("sides_agree", language)
    return text(
        "sides_disagree",
        language,
        front=local_name(front_best, language),
        back=local_name(back_best, language),
    )


def candidates(predictions: list[ClassScore], language: Language) -> None:
    """The closest types, full names in both languages, each with its bar (names wrap)."""
    for score in predictions:
        name = class_name(score.name_th, score.name_en, language)
        st.markdown(f"{name}: **{percent(score.probability)}**")
        st.progress(min(1.0, max(0.0, score.probability)))


def _side_line(title: str, side: PhotoResult, language: Language) -> str:
    if not _recognised(side):
        return f"**{title}**: {text('side_unknown', language)}"
    best = side.predictions[0]
    name = class_name(best.name_th, best.name_en, language)
    return f"**{title}**: {name} {percent(best.probability)}"


def _details(response: PredictResponse, language: Language) -> None:
    with st.expander(text("details", language)):
        if not response.unknown.is_unknown:
            st.markdown(text("calibrated", language, percent=percent(response.top1.probability)))
        st.caption(
            text(
                "bands_explained",
                language,
                very=round(VERY_LIKELY * 100),
                likely=round(LIKELY * 100),
            )
        )
        st.markdown(f"**{text('candidates', language)}**")
        candidates(response.predictions, language)
        back = response.images.back
        if back is not None:
            st.markdown(f"**{text('per_side', language)}**")
            st.markdown(_side_line(text("front", language), response.images.front, language))
            st.markdown(_side_line(text("back", language), back, language))


def retakes(response: PredictResponse) -> list[tuple[str, str, bool]]:
    """``(side, status, found_by_the_localiser)`` for each photo that could not be judged,
    the front first; empty when the answer's ``status`` is ``ok``."""
    if response.status == "ok":
        return []
    problems: list[tuple[str, str, bool]] = []
    for side, result in (("front", response.images.front), ("back", response.images.back)):
        location = result.location if result is not None else None
        if location is not None and location.status in RETAKE:
            problems.append((side, location.status, location.method == "localiser"))
    # A server that says the status but not where: the answer's own status, on the front.
    return problems or [("front", response.status, True)]


def retake(response: PredictResponse, language: Language) -> None:
    """What to do about each photo that could not be judged, instead of a verdict."""
    problems = retakes(response)
    paired = response.images.back is not None
    for side, status, _ in problems:
        title, what_to_do = advice(status, language)
        if paired:
            title = text("retake_side", language, side=text(side, language), title=title)
        st.warning(f"**{title}**\n\n{what_to_do}", icon=":material/photo_camera:")
    st.caption(text("retake_no_verdict", language))
    if any(status == "no_amulet" and located for _, status, located in problems):
        st.caption(text("retake_tight_crop", language))


def verdict(response: PredictResponse, language: Language) -> None:
    """The answer, most important first (see the module docstring)."""
    if response.status != "ok":
        retake(response, language)
        return
    agreement = pair_agreement(response, language)
    if response.unknown.is_unknown:
        body = text("unknown_body", language)
        if agreement is not None:
            body = f"{agreement}\n\n{body}"
        st.warning(f"**{text('unknown_title', language)}**\n\n{body}", icon=":material/help:")
    else:
        top1 = response.top1
        st.markdown(f"### {local_name(top1, language)}")
        st.markdown(other_name(top1, language))
        words = band(top1.probability)
        badge = f":{_BAND_COLOUR[words]}-badge[{text(f'band_{words}', language)}]"
        st.markdown(f"{text('confidence', language)}: {badge}")
        if agreement is not None:
            st.markdown(agreement)
    _details(response, language)
