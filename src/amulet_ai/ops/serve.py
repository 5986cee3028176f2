"""Start the API (uvicorn) and the page (Streamlit) with the settings.

:func:`serve_api` runs uvicorn in this process. The page always runs as a child process
(``streamlit run``); :func:`frontend_command` builds its command line and :func:`child_env`
the environment every child gets, so they import this same ``amulet_ai`` even from a clone
that was never installed.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import amulet_ai
from amulet_ai.config import Settings
from amulet_ai.logging_setup import logging_config

APP_FACTORY = "amulet_ai.api.app:create_app"
PACKAGE_DIR = Path(amulet_ai.__file__).resolve().parent
SRC_DIR = PACKAGE_DIR.parent
PAGE_PATH = (
    PACKAGE_DIR / "frontend" / "app.py"
)  # amulet_ai.frontend.PAGE_FILE, without importing streamlit


def serve_api(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    reload: bool = False,
) -> int:
    """Run the API under uvicorn until it is stopped; returns the exit status.

    The app is passed as an import string (``factory=True``) so that ``--workers`` and
    ``--reload`` work: each worker process builds its own app, model and pools. Several
    workers run under :func:`amulet_ai.ops.workers.run_workers`, which aggregates their
    ``/metrics``. ``X-Forwarded-For`` is believed only from ``forwarded_allow_ips`` (the
    page, which forwards each collector's address so rate limits count collectors). A
    request uvicorn cannot parse gets the API's JSON envelope
    (:mod:`amulet_ai.ops.http_protocol`).
    """
    import uvicorn

    from amulet_ai.ops.http_protocol import JsonErrorHttpToolsProtocol

    options: dict[str, Any] = {
        "factory": True,
        "http": JsonErrorHttpToolsProtocol,
        "host": host or settings.host,
        "port": port or settings.port,
        "workers": workers or settings.workers,
        "reload": reload,
        "reload_dirs": [str(PACKAGE_DIR)] if reload else None,
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_grace_s),
        "access_log": False,
        "log_config": logging_config(settings.log_level, settings.log_format),
        "server_header": False,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
    if options["workers"] > 1 and not reload:
        from amulet_ai.ops.workers import run_workers

        return run_workers(uvicorn.Config(APP_FACTORY, **options))
    uvicorn.run(APP_FACTORY, **options)
    return 0


def frontend_command(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> list[str]:
    """The ``streamlit run`` command line of the page, headless, bound per the settings."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PAGE_PATH),
        "--server.headless",
        "true",
        "--server.address",
        host or settings.frontend_host,
        "--server.port",
        str(port or settings.frontend_port),
        "--server.maxUploadSize",
        str(max(1, math.ceil(settings.max_upload_mb))),
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        # No "Deploy" button or developer menu for the collectors using the page.
        "--client.toolbarMode",
        "minimal",
    ]


def api_command(settings: Settings) -> list[str]:
    """The command line that runs :func:`serve_api` in a child process."""
    return [
        sys.executable,
        "-m",
        "amulet_ai.cli",
        "api",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
    ]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with ``src/`` first on ``PYTHONPATH``, plus ``extra``."""
    env = dict(os.environ)
    paths = [str(SRC_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(extra or {})
    return env


def local_url(host: str, port: int) -> str:
    """A URL this machine can reach a server bound to ``host:port`` at (wildcards -> loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
