"""The one exception hierarchy of Amulet-AI.

Every error a caller can meet derives from :class:`AmuletError`, and each class carries the
HTTP status and the stable machine ``code`` that the API puts in its error envelope::

    AmuletError                      500 internal_error
    ├── InvalidInput                 400 invalid_input
    │   ├── CorruptImage             400 corrupt_image
    │   └── ValidationFailed         422 validation_error
    ├── PayloadTooLarge              413 payload_too_large
    │   └── ImageTooLarge            413 image_too_large   (too many pixels)
    ├── UnsupportedMediaType         415 unsupported_media_type
    ├── Unauthorized                 401 unauthorized
    ├── Forbidden                    403 forbidden
    ├── NotFound                     404 not_found
    ├── MethodNotAllowed             405 method_not_allowed
    ├── RequestTimeout               408 request_timeout    (an upload stalled)
    ├── RateLimited                  429 rate_limited       (retryable, Retry-After)
    ├── Overloaded                   503 overloaded         (retryable, Retry-After)
    │   └── ShuttingDown             503 shutting_down      (the server is draining)
    ├── MemoryPressure               503 memory_pressure    (retryable, Retry-After)
    │   └── MemoryLimitExceeded      503 memory_limit_exceeded
    ├── ModelUnavailable             503 model_unavailable  (retryable)
    ├── LockTimeout                  503 lock_timeout       (retryable)
    ├── UpstreamUnavailable          503 upstream_unavailable (retryable; client side)
    │   └── CircuitOpen              503 circuit_open
    └── UpstreamTimeout              504 upstream_timeout   (retryable; client side)

The HTTP status is decided here and nowhere else.

Example::

    >>> err = CorruptImage("the JPEG stream ends early")
    >>> (err.status_code, err.code, err.retryable)
    (400, 'corrupt_image', False)
"""

from __future__ import annotations

from typing import Any, ClassVar


class AmuletError(Exception):
    """Base of every Amulet-AI error: a status, a stable code and a human message."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "Internal error."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.retry_after = retry_after
        self.details = details or {}
        super().__init__(self.message)

    def to_dict(self, request_id: str | None = None) -> dict[str, Any]:
        """The JSON error envelope the API answers with."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if request_id is not None:
            body["request_id"] = request_id
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(AmuletError):
    status_code = 400
    code = "invalid_input"
    default_message = "The request is not valid."


class CorruptImage(InvalidInput):
    code = "corrupt_image"
    default_message = "The image is truncated or corrupt."


class ValidationFailed(InvalidInput):
    status_code = 422
    code = "validation_error"
    default_message = "A field is missing or has the wrong type."


class PayloadTooLarge(AmuletError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The upload is larger than the server accepts."


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"
    default_message = "The image has more pixels than the server accepts."


class CorsRejected(InvalidInput):
    code = "cors_rejected"
    default_message = "The CORS preflight asks for something this API does not allow."


class UnsupportedMediaType(AmuletError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "Not an image in a supported format (JPEG, PNG, WebP, HEIC)."


class Unauthorized(AmuletError):
    status_code = 401
    code = "unauthorized"
    default_message = "An API key is required in the X-API-Key header."


class Forbidden(AmuletError):
    status_code = 403
    code = "forbidden"
    default_message = "The API key is not valid for this resource."


class NotFound(AmuletError):
    status_code = 404
    code = "not_found"
    default_message = "No such resource."


class MethodNotAllowed(AmuletError):
    status_code = 405
    code = "method_not_allowed"
    default_message = "This method is not allowed on this resource."


class RequestTimeout(AmuletError):
    status_code = 408
    code = "request_timeout"
    default_message = "The upload stalled; the request was abandoned."


class RateLimited(AmuletError):
    status_code = 429
    code = "rate_limited"
    retryable = True
    default_message = "Too many requests; slow down."


class Overloaded(AmuletError):
    status_code = 503
    code = "overloaded"
    retryable = True
    default_message = "The server is busy; try again shortly."


class ShuttingDown(Overloaded):
    code = "shutting_down"
    default_message = "The server is shutting down; try another instance or again shortly."


class MemoryPressure(AmuletError):
    status_code = 503
    code = "memory_pressure"
    retryable = True
    default_message = "The server is low on memory; try again shortly."


class MemoryLimitExceeded(MemoryPressure):
    code = "memory_limit_exceeded"
    default_message = "The work needed more memory than it is allowed."


class ModelUnavailable(AmuletError):
    status_code = 503
    code = "model_unavailable"
    retryable = True
    default_message = "The model is not loaded."


class LockTimeout(AmuletError):
    status_code = 503
    code = "lock_timeout"
    retryable = True
    default_message = "A shared resource stayed busy too long."


class UpstreamUnavailable(AmuletError):
    status_code = 503
    code = "upstream_unavailable"
    retryable = True
    default_message = "The Amulet-AI API cannot be reached."


class CircuitOpen(UpstreamUnavailable):
    code = "circuit_open"
    default_message = "The Amulet-AI API failed repeatedly; calls are paused for a moment."


class UpstreamTimeout(AmuletError):
    status_code = 504
    code = "upstream_timeout"
    retryable = True
    default_message = "The Amulet-AI API did not answer in time."


def _all_subclasses(cls: type[AmuletError]) -> list[type[AmuletError]]:
    out: list[type[AmuletError]] = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


def error_for_code(code: str) -> type[AmuletError]:
    """The exception class for a stable error code (used by the client library).

    >>> error_for_code("rate_limited").__name__
    'RateLimited'
    """
    for cls in _all_subclasses(AmuletError):
        if cls.code == code:
            return cls
    return AmuletError


__all__ = [
    "AmuletError",
    "CircuitOpen",
    "CorruptImage",
    "Forbidden",
    "ImageTooLarge",
    "InvalidInput",
    "LockTimeout",
    "MemoryLimitExceeded",
    "MemoryPressure",
    "MethodNotAllowed",
    "ModelUnavailable",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "ShuttingDown",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "ValidationFailed",
    "error_for_code",
]
