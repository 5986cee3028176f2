"""What runs the model: the ONNX classifier, its metadata and its result shapes.

The classifier (and onnxruntime with it) is imported on first use, so the result and
metadata types stay light for the client library and the API's wire models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amulet_ai.model.metadata import ClassInfo, ModelMetadata
from amulet_ai.model.results import (
    Classification,
    ClassScore,
    PhotoResult,
    SideResults,
    UnknownVerdict,
)

if TYPE_CHECKING:
    from amulet_ai.model.classifier import AmuletClassifier, PhotoScores

__all__ = [
    "AmuletClassifier",
    "ClassInfo",
    "ClassScore",
    "Classification",
    "ModelMetadata",
    "PhotoResult",
    "PhotoScores",
    "SideResults",
    "UnknownVerdict",
]


def __getattr__(name: str) -> Any:
    if name in ("AmuletClassifier", "PhotoScores"):
        from amulet_ai.model import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'amulet_ai.model' has no attribute {name!r}")
