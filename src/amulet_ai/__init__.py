"""Amulet-AI: a photo classifier for Thai Buddhist amulets (พระเครื่อง).

Example::

    >>> from amulet_ai import AmuletClassifier          # doctest: +SKIP
    >>> classifier = AmuletClassifier.load()             # doctest: +SKIP
    >>> verdict = classifier.classify(front_bytes, back_bytes)          # doctest: +SKIP
    >>> verdict.top1.name_th, verdict.top1.probability, verdict.unknown.is_unknown  # doctest: +SKIP
    ('พระสีวลี', 0.97, False)

The model (onnxruntime) loads only when ``AmuletClassifier`` is first touched, so importing
the settings or the client stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amulet_ai.config import Settings, get_settings

if TYPE_CHECKING:
    from amulet_ai.model import AmuletClassifier, Classification

__version__ = "1.0.0"
__all__ = ["AmuletClassifier", "Classification", "Settings", "__version__", "get_settings"]


def __getattr__(name: str) -> Any:
    if name in ("AmuletClassifier", "Classification"):
        from amulet_ai import model

        return getattr(model, name)
    raise AttributeError(f"module 'amulet_ai' has no attribute {name!r}")
