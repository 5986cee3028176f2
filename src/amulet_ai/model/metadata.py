"""The model's metadata file: classes, preprocessing, calibration and unknown detection.

``models/metadata.json`` travels with the ONNX file; training writes it and the runtime
reads it through :class:`ModelMetadata`, which refuses a file that does not describe the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from amulet_ai.errors import ModelUnavailable


class ClassInfo(BaseModel):
    """One known amulet type, named in English and Thai."""

    model_config = ConfigDict(extra="allow")

    id: str
    name_en: str
    name_th: str
    description: str = ""
    description_th: str = ""


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = "image"
    size: int = 224
    mean: float = 127.0
    scale: float = 128.0
    layout: str = "NCHW"
    color: str = "RGB"
    # What the model saw around the amulet in training: the photo as it is (model 1.x), or
    # the localiser's crop with everything outside its mask the neutral grey (model 2).
    backdrop: Literal["as_is", "grey_outside_mask"] = "as_is"


class OutputNames(BaseModel):
    model_config = ConfigDict(extra="allow")

    logits: str = "logits"
    unknown_score: str = "unknown_score"
    cam: str = "cam"
    # Optional: older models have no embedding output (no enrolled types, no search).
    embedding: str | None = None
    # Outputs that are maps of the frozen backbone's blocks, named ``block<N>`` (the same
    # name as output and as map): what a localiser head of that backbone reads.
    backbone_maps: list[str] = Field(default_factory=list)


class UnknownSpec(BaseModel):
    """Unknown-type detection: a distance in embedding space against a threshold."""

    model_config = ConfigDict(extra="allow")

    method: str = "mahalanobis"
    threshold: float
    target_keep_rate: float = 0.95
    cv_keep_rate: float | None = None


class ModelMetadata(BaseModel):
    """Everything the runtime needs to know about the shipped model."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str
    version: str
    created_at: str = ""
    architecture: str = "efficientnet-lite0"
    onnx_file: str = "amulet_classifier.onnx"
    onnx_sha256: str | None = None
    input: InputSpec = Field(default_factory=InputSpec)
    outputs: OutputNames = Field(default_factory=OutputNames)
    classes: list[ClassInfo] = Field(min_length=2)
    temperature: float = Field(1.0, gt=0)
    unknown: UnknownSpec
    fusion: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ModelMetadata:
        """Read and validate a metadata file; any defect is a :class:`ModelUnavailable`."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls.model_validate(raw)
        except FileNotFoundError as exc:
            raise ModelUnavailable(f"Model metadata {path.name} is missing.") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
            raise ModelUnavailable(f"Model metadata {path.name} is not valid.") from exc
