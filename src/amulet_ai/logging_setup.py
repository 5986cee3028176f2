"""Log configuration shared by the API, the page and the command line.

One line per event, as plain text or as one JSON object per line (``AMULET_LOG_FORMAT``).
:func:`logging_config` returns a :func:`logging.config.dictConfig` dictionary, which is also
what uvicorn takes as ``log_config``, so every uvicorn worker process logs the same way.

Example::

    >>> from amulet_ai.logging_setup import configure_logging
    >>> configure_logging(level="INFO", fmt="json")                  # doctest: +SKIP
    >>> logging.getLogger("amulet_ai.api").info("ready", extra={"version": "1"})  # doctest: +SKIP
    {"ts": "...", "level": "INFO", "logger": "amulet_ai.api", "message": "ready", "version": "1"}
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import Any, Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is data.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; ``extra=`` fields become keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def logging_config(level: str = "INFO", fmt: Literal["text", "json"] = "text") -> dict[str, Any]:
    """A ``dictConfig`` dictionary: one stderr handler, ``amulet_ai`` at ``level``.

    uvicorn's own access log is silenced: the API writes one line per request itself.
    """
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "amulet_ai": {"level": level.upper()},
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # A malformed upload is the client's mistake, answered with a 4xx and logged once
            # in the access line; the parser's own warning per bad body would repeat it.
            "python_multipart": {"level": "ERROR"},
        },
    }


def configure_logging(level: str = "INFO", fmt: Literal["text", "json"] = "text") -> None:
    """Apply :func:`logging_config` to this process."""
    logging.config.dictConfig(logging_config(level, fmt))
