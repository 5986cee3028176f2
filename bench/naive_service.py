"""The reference the service is measured against: a hand-rolled FastAPI wrapper of the model.

This is what a first version usually looks like, and what the benchmark compares with:

* ``UploadFile`` -- Starlette reads the whole request body before the route runs, then
  ``await front.read()`` copies the whole file;
* a full decode (``draft=False``), however large the photo;
* ``session.run`` called on the event loop, with onnxruntime's default session options;
* no cache, no limits, no worker pool.

``POST /v1/predict/raw`` is the same with the photo as the raw body (``await
request.body()``), for the comparison with the raw-body form of the real API.

It shares the model file and the one preprocessing function with the real service, so the
comparison is about serving, not about the model. Run it with::

    uvicorn bench.naive_service:create_app --factory --port 8001
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request, UploadFile

from amulet_ai.config import DEFAULT_MODEL_DIR
from amulet_ai.imaging.decode import decode_image, to_tensor

RAW_PATH = "/v1/predict/raw"


def create_app(model_dir: Path = DEFAULT_MODEL_DIR) -> FastAPI:
    """The naive app: ``POST /v1/predict`` with a ``front`` file, top-3 in the answer."""
    metadata = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    session = ort.InferenceSession(
        str(model_dir / metadata["onnx_file"]), providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name
    classes = [c["id"] for c in metadata["classes"]]
    app = FastAPI(title="naive amulet service")

    def classify(data: bytes) -> dict[str, Any]:
        decoded = decode_image(data, draft=False)
        logits = session.run(None, {input_name: to_tensor(decoded.image)[None]})[0][0]
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        top = np.argsort(-probabilities)[:3]
        return {
            "predictions": [
                {"class_id": classes[i], "probability": float(probabilities[i])} for i in top
            ],
            "width": decoded.width,
            "height": decoded.height,
        }

    @app.post("/v1/predict")
    async def predict(front: UploadFile) -> dict[str, Any]:
        return classify(await front.read())

    @app.post(RAW_PATH)
    async def predict_raw(request: Request) -> dict[str, Any]:
        return classify(await request.body())

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app
