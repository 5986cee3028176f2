"""Confidence in plain words, from the calibrated probability, and percentages that never
claim certainty.

The model's probabilities are temperature-calibrated when it is built (its metadata keeps
the expected calibration error), so the bands read straight off them: "very likely" from
:data:`VERY_LIKELY`, "likely" from :data:`LIKELY`, "not sure" below. A percentage is shown
whole and capped: ``>99%`` instead of 100 %, ``<1%`` instead of 0 %.

Example::

    >>> band(0.97), band(0.75), band(0.41)
    ('very_likely', 'likely', 'not_sure')
    >>> percent(0.9996), percent(0.934), percent(0.001)
    ('>99%', '93%', '<1%')
"""

from __future__ import annotations

from typing import Final, Literal

Band = Literal["very_likely", "likely", "not_sure"]

VERY_LIKELY: Final = 0.90
LIKELY: Final = 0.60


def band(probability: float) -> Band:
    """The plain-words band of a calibrated probability."""
    if probability >= VERY_LIKELY:
        return "very_likely"
    if probability >= LIKELY:
        return "likely"
    return "not_sure"


def percent(probability: float) -> str:
    """``probability`` as a whole percentage, never ``100%`` nor ``0%``."""
    value = probability * 100.0
    if value > 99.0:
        return ">99%"
    if value < 1.0:
        return "<1%"
    return f"{value:.0f}%"
