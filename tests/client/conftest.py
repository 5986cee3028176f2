"""Fixtures for the client tests: API answers built from the API's own schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from amulet_ai.api.schemas import ModelRef, PredictResponse, Timing
from amulet_ai.model.results import ClassScore, PhotoResult, SideResults, UnknownVerdict


def predict_body(class_id: str = "phra_sivali", probability: float = 0.9) -> dict[str, Any]:
    """A valid ``POST /v1/predict`` answer, as JSON."""
    scores = [
        ClassScore(
            class_id=class_id, name_en="Phra Sivali", name_th="พระสีวลี", probability=probability
        ),
        ClassScore(
            class_id="waek_man", name_en="Waek Man", name_th="แหวกม่าน", probability=1 - probability
        ),
    ]
    unknown = UnknownVerdict(is_unknown=False, score=3.0, threshold=30.0)
    response = PredictResponse(
        request_id="req-1",
        model=ModelRef(name="amulet", version="test"),
        top1=scores[0],
        predictions=scores,
        unknown=unknown,
        images=SideResults(
            front=PhotoResult(predictions=scores, unknown=unknown, width=8, height=8, format="JPEG")
        ),
        timing_ms=Timing(decode=1.0, inference=2.0, total=4.0),
    )
    return response.model_dump(mode="json")


def error_body(code: str, message: str) -> dict[str, Any]:
    """The API's error envelope."""
    return {"error": {"code": code, "message": message, "request_id": "req-err"}}


@pytest.fixture
def predict_json() -> dict[str, Any]:
    return predict_body()


@pytest.fixture
def error_json() -> Callable[[str, str], dict[str, Any]]:
    return error_body
