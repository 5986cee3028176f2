"""``GET /metrics``: Prometheus exposition of this app's registry (no API key: scrapers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from amulet_ai.api.deps import MetricsDep
from amulet_ai.api.worker_metrics import multiprocess_enabled, render_all_workers

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {
                    "example": "# TYPE amulet_requests_total counter\n"
                    'amulet_requests_total{method="POST",route="/v1/predict",status="200"} 42.0\n'
                }
            },
            "description": "Prometheus text exposition.",
        }
    },
)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests, latencies, cache, rejections, memory and model, in Prometheus format."""
    # Under several workers, every worker's metrics, added up; else this app's registry.
    body = render_all_workers() if multiprocess_enabled() else metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
