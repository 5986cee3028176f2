"""Log lines: plain text or one JSON object per line, the same in every process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from amulet_ai.logging_setup import configure_logging, logging_config

_NAMES = ("amulet_ai", "uvicorn", "uvicorn.error", "uvicorn.access", "python_multipart")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put back the handlers and levels configure_logging replaces."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {name: logging.getLogger(name) for name in _NAMES}
    state = {name: (lg.handlers[:], lg.level, lg.propagate) for name, lg in saved.items()}
    yield
    root.handlers[:], level = saved_root
    root.setLevel(level)
    for name, (handlers, lvl, propagate) in state.items():
        logger = saved[name]
        logger.handlers[:] = handlers
        logger.setLevel(lvl)
        logger.propagate = propagate


def test_json_lines_carry_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("amulet_ai.api.access").info(
        "GET /health 200", extra={"status": 200, "request_id": "r1"}
    )
    logging.getLogger("amulet_ai.x").debug("below the level")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "GET /health 200"
    assert (record["level"], record["logger"]) == ("INFO", "amulet_ai.api.access")
    assert (record["status"], record["request_id"]) == (200, "r1")
    assert record["ts"].endswith("Z")


def test_json_keeps_the_traceback_in_the_same_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("amulet_ai.x").exception("failed")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "ValueError: boom" in json.loads(lines[0])["exc_info"]


def test_text_lines_and_levels(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "text")
    logging.getLogger("amulet_ai.x").debug("shown at debug")
    logging.getLogger("uvicorn.access").info("silenced: the API logs its own request line")
    logging.getLogger("uvicorn.error").info("server started")
    err = capsys.readouterr().err
    assert " DEBUG amulet_ai.x: shown at debug" in err
    assert " INFO uvicorn.error: server started" in err
    assert "silenced" not in err


def test_the_config_is_what_uvicorn_workers_apply() -> None:
    config = logging_config("INFO", "json")
    assert config["formatters"]["default"]["()"] == "amulet_ai.logging_setup.JsonFormatter"
    assert config["disable_existing_loggers"] is False
