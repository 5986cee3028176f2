"""What the page says when a question to the API fails, in the collector's language.

The words are chosen from the error's stable ``code`` (the API's envelope, mapped to a class
by the client), never from the API's English ``message``. A busy server (429, or 503 while
overloaded, draining or short of memory) is "busy, try again in N s", N from ``Retry-After``.

Example::

    >>> from amulet_ai.errors import RateLimited
    >>> describe(RateLimited("Rate limit of 120 requests exceeded", retry_after=41), "en")
    'The server is busy. Please try again in 41 s.'
    >>> describe(RateLimited(), "th")
    'เซิร์ฟเวอร์มีงานมาก กรุณาลองใหม่อีกครั้งในอีกสักครู่'
"""

from __future__ import annotations

import math
from typing import Final

from amulet_ai.errors import AmuletError
from amulet_ai.frontend.i18n import Language, megabytes

# Codes that mean "not now": the photo is fine, the server cannot take it at the moment.
BUSY_CODES: Final = frozenset(
    {
        "rate_limited",
        "overloaded",
        "shutting_down",
        "memory_pressure",
        "memory_limit_exceeded",
        "lock_timeout",
        "model_unavailable",
    }
)

MESSAGES: Final[dict[str, dict[Language, str]]] = {
    "busy_in": {
        "th": "เซิร์ฟเวอร์มีงานมาก กรุณาลองใหม่อีกครั้งในอีก {seconds} วินาที",
        "en": "The server is busy. Please try again in {seconds} s.",
    },
    "busy": {
        "th": "เซิร์ฟเวอร์มีงานมาก กรุณาลองใหม่อีกครั้งในอีกสักครู่",
        "en": "The server is busy. Please try again in a moment.",
    },
    "unsupported_media_type": {
        "th": "ไฟล์นี้ไม่ใช่รูปแบบที่รองรับ กรุณาใช้รูป JPG, PNG, WebP หรือ HEIC",
        "en": "This file is not a supported photo. Please use a JPG, PNG, WebP or HEIC photo.",
    },
    "corrupt_image": {
        "th": "รูปนี้เสียหรือไม่สมบูรณ์ กรุณาถ่ายหรือเลือกรูปใหม่",
        "en": "This photo is damaged or incomplete. Please take or choose another one.",
    },
    "invalid_input": {
        "th": "ส่งรูปไม่สำเร็จ กรุณาเลือกรูปใหม่อีกครั้ง",
        "en": "The photo could not be sent. Please choose it again.",
    },
    "payload_too_large_limit": {
        "th": "รูปนี้ใหญ่เกิน {limit} กรุณาใช้รูปที่เล็กกว่านี้",
        "en": "This photo is larger than {limit}. Please use a smaller one.",
    },
    "payload_too_large": {
        "th": "รูปนี้ใหญ่เกินกว่าที่เซิร์ฟเวอร์รับได้ กรุณาใช้รูปที่เล็กกว่านี้",
        "en": "This photo is larger than the server accepts. Please use a smaller one.",
    },
    "image_too_large": {
        "th": "รูปนี้มีความละเอียดสูงเกินไป กรุณาย่อรูปแล้วลองใหม่",
        "en": "This photo has too many pixels. Please shrink it and try again.",
    },
    "not_allowed": {
        "th": "หน้าเว็บนี้ยังไม่ได้รับอนุญาตให้ใช้เซิร์ฟเวอร์ กรุณาแจ้งผู้ดูแลระบบ",
        "en": "This page is not allowed to use the server. Please tell its operator.",
    },
    "request_timeout": {
        "th": "ส่งรูปไม่ทันเวลา กรุณาลองใหม่อีกครั้ง",
        "en": "The photo did not arrive in time. Please try again.",
    },
    "upstream_unavailable": {
        "th": "ติดต่อเซิร์ฟเวอร์ไม่ได้ในขณะนี้ กรุณาลองใหม่อีกครั้ง",
        "en": "The server cannot be reached right now. Please try again.",
    },
    "circuit_open": {
        "th": "ติดต่อเซิร์ฟเวอร์ไม่ได้หลายครั้งติดกัน ระบบจึงหยุดส่งคำขอชั่วคราว กรุณาลองใหม่ในอีกสักครู่",
        "en": "The server could not be reached several times in a row, so requests are "
        "paused for a moment. Please try again shortly.",
    },
    "upstream_timeout": {
        "th": "เซิร์ฟเวอร์ตอบช้าเกินไป กรุณาลองใหม่อีกครั้ง",
        "en": "The server took too long to answer. Please try again.",
    },
    "internal_error": {
        "th": "เกิดข้อผิดพลาดที่เซิร์ฟเวอร์ กรุณาลองใหม่อีกครั้ง",
        "en": "Something went wrong on the server. Please try again.",
    },
}

# Codes that share a message with another.
_SAME_AS: Final = {
    "validation_error": "invalid_input",
    "cors_rejected": "invalid_input",
    "not_found": "internal_error",
    "method_not_allowed": "internal_error",
    "unauthorized": "not_allowed",
    "forbidden": "not_allowed",
}


def message(key: str, language: Language, **values: object) -> str:
    """The failure message ``key`` in ``language``."""
    template = MESSAGES[key][language]
    return template.format(**values) if values else template


def describe(exc: AmuletError, language: Language, *, upload_limit_mb: float | None = None) -> str:
    """What to tell a collector about ``exc``; ``upload_limit_mb`` is the server's limit."""
    code = exc.code
    if code in BUSY_CODES:
        if exc.retry_after:
            return message("busy_in", language, seconds=max(1, math.ceil(exc.retry_after)))
        return message("busy", language)
    if code == "payload_too_large" and upload_limit_mb is not None:
        return message("payload_too_large_limit", language, limit=megabytes(upload_limit_mb))
    key = _SAME_AS.get(code, code)
    return message(key if key in MESSAGES else "internal_error", language)
