"""What runs the model: the ONNX classifier, its metadata and its result shapes."""

from amulet_ai.model.classifier import AmuletClassifier, PhotoScores
from amulet_ai.model.metadata import ClassInfo, ModelMetadata
from amulet_ai.model.results import (
    Classification,
    ClassScore,
    PhotoResult,
    SideResults,
    UnknownVerdict,
)

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
