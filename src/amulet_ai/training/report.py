"""Plain-text tables of classification figures, shared by the train and evaluate commands.

Example::

    >>> print(format_confusion([[2, 0], [1, 3]], ("a", "b")))  # doctest: +NORMALIZE_WHITESPACE
    true \\ predicted   a   b
    a                   2   0
    b                   1   3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def format_confusion(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    corner = "true \\ predicted"
    width = max(len(corner), *(len(c) for c in classes))
    cols = [f"{i:>3}" if len(classes) > 3 else f"{c:>3}" for i, c in enumerate(classes)]
    lines = [f"{corner:<{width}} " + " ".join(cols)]
    for i, row in enumerate(confusion):
        name = f"{i} {classes[i]}" if len(classes) > 3 else classes[i]
        lines.append(f"{name:<{width}} " + " ".join(f"{v:>3}" for v in row))
    return "\n".join(lines)


def format_per_class(per_class: Mapping[str, Mapping[str, float]]) -> str:
    width = max(len(c) for c in per_class)
    lines = [f"{'class':<{width}}  precision  recall  photos"]
    for name, m in per_class.items():
        lines.append(
            f"{name:<{width}}  {m['precision']:>9.3f}  {m['recall']:>6.3f}  {int(m['support']):>6}"
        )
    return "\n".join(lines)


def format_summary(figures: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``key  value`` lines for the scalar figures in ``keys`` that are present."""
    width = max(len(k) for k in keys)
    lines = []
    for key in keys:
        if key in figures:
            value = figures[key]
            text = f"{value:.4f}" if isinstance(value, float) else str(value)
            lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)
