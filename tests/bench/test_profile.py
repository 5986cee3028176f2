"""The profile's stage rules on stacks as py-spy writes them (``--threads``, raw format)."""

from __future__ import annotations

import pytest

from bench.profile import STAGES, parse_collapsed, stage_of

LOOP = "thread (100): MainThread;_run_module_as_main (<frozen runpy>:198);run (uvicorn/main.py:1)"
WORKER = (
    "thread (101): amulet-infer_0;Thread.run (threading.py:982);"
    "_worker (concurrent/futures/thread.py:83);"
    "Predictor.predict (amulet_ai/serving/predictor.py:75)"
)


@pytest.mark.parametrize(
    ("frames", "stage"),
    [
        (["Runner.run (asyncio/runners.py:118)"], "HTTP and routing"),
        (
            [
                "RequestContextMiddleware.__call__ (amulet_ai/api/middleware.py:120)",
                "predict (amulet_ai/api/routes/predict.py:80)",
                "read_upload (amulet_ai/api/uploads.py:300)",
                "MultipartParser.write (python_multipart/multipart.py:1)",
            ],
            "body reading",
        ),
        (
            [
                "read_upload (amulet_ai/api/uploads.py:300)",
                "_Sink.write (amulet_ai/runtime/streaming.py:170)",
            ],
            "hashing",
        ),
        (
            [
                "RequestContextMiddleware.__call__ (amulet_ai/api/middleware.py:133)",
                "Histogram.observe (prometheus_client/metrics.py:1)",
            ],
            "logging and metrics",
        ),
        (
            [
                "predict (amulet_ai/api/routes/predict.py:98)",
                "_json (amulet_ai/api/routes/predict.py:50)",
                "BaseModel.model_dump_json (pydantic/main.py:1)",
            ],
            "response",
        ),
        (
            [
                "Predictor.decode (amulet_ai/serving/predictor.py:57)",
                "AmuletClassifier.decode (amulet_ai/model/classifier.py:243)",
                "decode_image (amulet_ai/imaging/decode.py:232)",
            ],
            "decode",
        ),
        (
            [
                "AmuletClassifier.score (amulet_ai/model/classifier.py:256)",
                "Session.run (onnxruntime/capi/onnxruntime_inference_collection.py:406)",
            ],
            "inference",
        ),
        # The event loop's plumbing says nothing: the frame that scheduled it decides.
        (
            [
                "PredictionService.predict (amulet_ai/serving/service.py:150)",
                "wait (asyncio/tasks.py:418)",
            ],
            "serving",
        ),
        (["<module> (somewhere.py:1)"], "other"),
    ],
)
def test_a_sample_goes_to_the_stage_of_its_innermost_known_frame(
    frames: list[str], stage: str
) -> None:
    assert stage in STAGES
    assert stage_of(frames) == stage


def test_only_the_asked_threads_samples_are_counted() -> None:
    lines = [
        f"{LOOP};Runner.run (asyncio/runners.py:118) 7\n",
        f"{LOOP};read_upload (amulet_ai/api/uploads.py:300) 3\n",
        f"{WORKER};Session.run (onnxruntime/capi/x.py:406) 50\n",
        "not a sample line\n",
    ]
    assert parse_collapsed(lines) == {"HTTP and routing": 7, "body reading": 3}
    assert parse_collapsed(lines, thread="amulet-infer_0") == {"inference": 50}
