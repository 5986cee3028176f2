"""A stand-in for the API behind ``httpx.MockTransport``: answers built from the API's own
schemas over a catalog the page can only learn from the API; every request is kept."""

from __future__ import annotations

from typing import Literal

import httpx

from amulet_ai.api.schemas import (
    CacheHealth,
    ClassesResponse,
    HealthReport,
    MemoryHealth,
    ModelHealth,
    ModelInfo,
    ModelRef,
    PredictResponse,
    Timing,
    UnknownDetection,
    UploadLimits,
    WorkHealth,
)
from amulet_ai.model.metadata import ClassInfo
from amulet_ai.model.results import (
    ClassificationStatus,
    ClassScore,
    PhotoLocation,
    PhotoMask,
    PhotoResult,
    SideResults,
    UnknownVerdict,
)

# Names the page can only know from the API: nothing in the page spells them.
CATALOG = [
    ClassInfo(id="phra_test_one", name_en="Test Buddha One", name_th="พระทดสอบหนึ่ง"),
    ClassInfo(id="phra_test_two", name_en="Test Buddha Two", name_th="พระทดสอบสอง"),
    ClassInfo(id="phra_test_three", name_en="Test Buddha Three", name_th="พระทดสอบสาม"),
]
Backdrop = Literal["as_is", "grey_outside_mask"]
MODEL = ModelRef(name="amulet-test", version="9.9.9")
UPLOAD_LIMIT_MB = 7.5  # not the default 20: the page must show the server's own figure


def _scores(probabilities: list[float]) -> list[ClassScore]:
    scores = [
        ClassScore(class_id=c.id, name_en=c.name_en, name_th=c.name_th, probability=p)
        for c, p in zip(CATALOG, probabilities, strict=True)
    ]
    return sorted(scores, key=lambda score: -score.probability)


def model_info(backdrop: Backdrop = "as_is") -> ModelInfo:
    return ModelInfo(
        backdrop=backdrop,
        name=MODEL.name,
        version=MODEL.version,
        architecture="test",
        onnx_file="amulet_test.onnx",
        input_size=224,
        temperature=1.0,
        unknown=UnknownDetection(method="mahalanobis", threshold=30.0),
        classes=CATALOG,
        limits=UploadLimits(
            max_upload_mb=UPLOAD_LIMIT_MB, max_batch_files=16, max_image_pixels=40_000_000
        ),
    )


def location(
    status: str, box: tuple[int, int, int, int] | None = None, mask: PhotoMask | None = None
) -> PhotoLocation:
    """A photo's ``location`` on a 640 x 480 photo; ``box`` is x, y, width, height; ``mask``
    the localiser's (as ``mask=true`` answers it)."""
    whole = status == "whole_photo"
    placed = (0, 0, 640, 480) if whole else box
    return PhotoLocation.model_validate(
        {
            "status": status,
            "method": "off" if whole else "localiser",
            "box": None
            if placed is None
            else dict(zip(("x", "y", "width", "height"), placed, strict=True))
            | {"image_width": 640, "image_height": 480},
            "confidence": None if whole else 0.97,
            "mask": mask,
        }
    )


def photo_result(
    probabilities: list[float], *, unknown: bool = False, where: PhotoLocation | None = None
) -> PhotoResult:
    verdict = UnknownVerdict(is_unknown=unknown, score=50.0 if unknown else 5.0, threshold=30.0)
    return PhotoResult(
        predictions=_scores(probabilities),
        unknown=verdict,
        width=640,
        height=480,
        format="JPEG",
        location=where,
    )


def prediction(
    probabilities: list[float] | None = None,
    *,
    unknown: bool = False,
    back: PhotoResult | None = None,
    heatmap: dict[str, str] | None = None,
) -> PredictResponse:
    """A ``/v1/predict`` answer over :data:`CATALOG`."""
    probabilities = probabilities or [0.82, 0.12, 0.06]
    front = photo_result(probabilities, unknown=unknown)
    return PredictResponse(
        request_id="req-1",
        model=MODEL,
        top1=front.predictions[0],
        predictions=front.predictions,
        unknown=front.unknown.model_copy(),
        images=SideResults(front=front, back=back),
        heatmap=heatmap,
        timing_ms=Timing(decode=2.0, inference=6.0, total=9.0),
    )


def health_report() -> HealthReport:
    return HealthReport(
        status="ok",
        uptime_s=12.0,
        model=ModelHealth(loaded=True, name=MODEL.name, version=MODEL.version),
        memory=MemoryHealth(rss_mb=200.0, limit_mb=1536.0, under_limit=True),
        cache=CacheHealth(enabled=True),
        work=WorkHealth(
            requests_in_flight=0, inference_workers=2, inference_pending=0, inference_capacity=66
        ),
    )


class FakeApi:
    """A MockTransport handler standing in for the API; ``predict`` decides /v1/predict."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.predict: httpx.Response | Exception = httpx.Response(
            200, json=prediction().model_dump(mode="json")
        )
        self.down = False
        # What /v1/model says the served model judges around the amulet.
        self.backdrop: Backdrop = "as_is"

    def answer_with(
        self,
        probabilities: list[float] | None = None,
        *,
        unknown: bool = False,
        back: list[float] | None = None,
        back_unknown: bool = False,
        front_unknown: bool | None = None,
        heatmap: dict[str, str] | None = None,
        front_location: PhotoLocation | None = None,
        back_location: PhotoLocation | None = None,
        status: ClassificationStatus = "ok",
    ) -> None:
        """Make /v1/predict answer with this result (``back``: the back photo's scores).

        ``unknown`` is the pair's verdict; ``front_unknown`` and ``back_unknown`` each photo's;
        ``status`` and the locations are the located-photo contract's (None: an older server).
        """
        back_result = (
            photo_result(back, unknown=back_unknown, where=back_location)
            if back is not None
            else None
        )
        response = prediction(probabilities, unknown=unknown, back=back_result, heatmap=heatmap)
        response.images.front.location = front_location
        response.status = status
        if front_unknown is not None:
            response.images.front.unknown.is_unknown = front_unknown
        self.predict = httpx.Response(200, json=response.model_dump(mode="json"))

    def fail_with(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        body = {"error": {"code": code, "message": message, "request_id": "req-err"}}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.predict = httpx.Response(status, json=body, headers=headers)

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/health":
            return httpx.Response(200, json=health_report().model_dump(mode="json"))
        if path == "/v1/model":
            return httpx.Response(200, json=model_info(self.backdrop).model_dump(mode="json"))
        if path == "/v1/classes":
            catalog = ClassesResponse(model=MODEL, classes=CATALOG)
            return httpx.Response(200, json=catalog.model_dump(mode="json"))
        if path == "/v1/predict":
            if isinstance(self.predict, Exception):
                raise self.predict
            return self.predict
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "No."}})


class Clock:
    """The circuit breaker's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
