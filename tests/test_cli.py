"""The command line: parsing, the health probe's exit codes, and `all` run as a new user would."""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from amulet_ai.cli import PASSTHROUGH, build_parser, main
from amulet_ai.ops.api_process import ApiProcess, free_port
from amulet_ai.ops.config_template import render_template

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNNER = REPO_ROOT / "production_runner.py"
# Run where no developer's .env can change the settings under test.
NEUTRAL_DIR = Path(tempfile.gettempdir())


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    """main() configures logging for the process; give pytest its handlers back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def runner_env(**settings: str) -> dict[str, str]:
    """The caller's environment without AMULET_* variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMULET_")}
    env.update(settings)
    return env


def run_runner(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), *args],
        env=env,
        cwd=NEUTRAL_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the runner exited early with {process.returncode}"
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on port {port} within {timeout_s} s")


# --- parsing ----------------------------------------------------------------------------------


def test_parser_reads_every_subcommand() -> None:
    parser = build_parser()
    api = parser.parse_args(
        ["api", "--host", "0.0.0.0", "--port", "9000", "--workers", "2", "--reload"]
    )
    assert (api.command, api.host, api.port, api.workers, api.reload) == (
        "api",
        "0.0.0.0",
        9000,
        2,
        True,
    )
    defaults = parser.parse_args(["api"])
    assert (defaults.host, defaults.port, defaults.workers, defaults.reload) == (
        None,
        None,
        None,
        False,
    )
    page = parser.parse_args(["frontend", "--port", "8600"])
    assert (page.command, page.port) == ("frontend", 8600)
    assert parser.parse_args(["all", "--ready-timeout", "30"]).ready_timeout == 30.0
    health = parser.parse_args(["health", "--json", "--url", "http://x:1", "--timeout", "1"])
    assert (health.json, health.url, health.timeout) == (True, "http://x:1", 1.0)
    assert set(PASSTHROUGH) == {"test", "train", "evaluate", "bench"}


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve-everything"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_test_subcommand_passes_arguments_to_pytest() -> None:
    # Collection only, of this small file: the arguments reach pytest unchanged.
    assert main(["test", "--collect-only", "-q", "tests/test_config.py"]) == 0
    assert main(["test", "--no-such-pytest-option"]) == 4, "pytest's usage error code"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("train", "--data"), ("evaluate", "--unknown"), ("bench", "--quick"),
        ("train --localiser", "--negatives"), ("evaluate --scenes", "--composites"),
    ],
)  # fmt: skip
def test_delegated_commands_receive_their_arguments(command: str, expected: str) -> None:
    if command == "bench" and not (REPO_ROOT / "bench" / "run.py").is_file():
        pytest.skip("bench/run.py is not here")
    result = run_runner(*command.split(), "--help", env=runner_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout


def without_modules(*modules: str) -> str:
    """A ``python -c`` program running the CLI as if ``modules`` were not installed."""
    hidden = "; ".join(f"sys.modules[{name!r}] = None" for name in modules)
    run_cli = "from amulet_ai.cli import main; raise SystemExit(main(sys.argv[1:]))"
    return f"import sys; {hidden}; {run_cli}"


@pytest.mark.parametrize(
    ("command", "missing", "extra"),
    [("test", "pytest", "dev"), ("train", "torch", "train")],
)
def test_help_works_without_the_extra_and_a_run_names_the_install_command(
    command: str, missing: str, extra: str
) -> None:
    program = without_modules(missing)
    env = runner_env(PYTHONPATH=str(REPO_ROOT / "src"))
    run = functools.partial(
        subprocess.run, env=env, cwd=NEUTRAL_DIR, capture_output=True, text=True, timeout=60
    )
    install = f"{sys.executable} -m pip install -e '{REPO_ROOT}[{extra}]'"
    helped = run([sys.executable, "-c", program, command, "--help"])
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert f"usage: amulet-ai {command}" in helped.stdout and install in helped.stdout
    assert f"'{missing}'" in helped.stdout
    refused = run([sys.executable, "-c", program, command, "--data", "x", "--out", "y"])
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ") and install in refused.stderr
    assert "Traceback" not in refused.stderr


def test_config_template_prints_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config-template"]) == 0
    assert capsys.readouterr().out == render_template()
    target = tmp_path / "config_template.env"
    assert main(["config-template", "--output", str(target)]) == 0
    assert main(["config-template", "--check", str(target)]) == 0
    target.write_text(render_template().replace("AMULET_PORT=8000", "AMULET_PORT=1"))
    assert main(["config-template", "--check", str(target)]) == 1


def test_production_without_api_keys_refuses_to_start() -> None:
    result = run_runner("api", env=runner_env(AMULET_ENV="production"), timeout=30)
    assert result.returncode == 2
    assert "AMULET_API_KEYS must be set" in result.stderr


# --- health -----------------------------------------------------------------------------------


def test_health_unreachable_exits_2() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_runner("health", "--json", "--url", url, "--timeout", "2", env=runner_env())
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert (report["status"], report["exit_code"], report["http_status"]) == (
        "unreachable",
        2,
        None,
    )


@pytest.fixture(scope="module")
def live_api() -> Iterator[ApiProcess]:
    with ApiProcess(free_port(), env={"AMULET_RATE_LIMIT": ""}, ready_timeout_s=90) as api:
        yield api


def test_health_ok_exits_0_and_prints_the_report(live_api: ApiProcess) -> None:
    result = run_runner("health", "--json", "--url", live_api.url, env=runner_env())
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["status"], report["http_status"]) == ("ok", 200)
    assert report["report"]["status"] == "ok"
    line = run_runner("health", env=runner_env(AMULET_PUBLIC_URL=live_api.url))
    assert line.returncode == 0
    assert line.stdout.startswith(f"ok {live_api.url}/health")


@pytest.mark.parametrize(
    ("setting", "value", "code", "status"),
    [
        ("AMULET_MEMORY_LIMIT_MB", "60", 1, "degraded"),  # serving, but above its ceiling
        ("AMULET_MODEL_DIR", "{empty}", 2, "unavailable"),  # no model to serve with
    ],
    ids=["degraded", "unavailable"],
)
def test_health_exit_code_follows_the_api_report(
    tmp_path: Path, setting: str, value: str, code: int, status: str
) -> None:
    env = {setting: value.format(empty=tmp_path)}
    api = ApiProcess(free_port(), env=env, output=subprocess.DEVNULL, ready_timeout_s=60)
    api.start()
    try:
        api.wait_ready("/health/live")
        result = run_runner("health", "--json", "--url", api.url, env=runner_env())
        assert result.returncode == code, result.stdout
        report = json.loads(result.stdout)
        assert (report["status"], report["report"]["status"]) == (status, status)
        assert report["report"]["reasons"], "the report says why"
        line = run_runner("health", "--url", api.url, env=runner_env())
        assert line.returncode == code
        assert line.stdout.startswith(f"{status} {api.url}/health")
    finally:
        api.stop()


# --- all, as a new user runs it -------------------------------------------------------------


def test_all_exits_3_when_the_api_cannot_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = runner_env(AMULET_PORT=str(port), AMULET_FRONTEND_PORT=str(free_port()))
        result = run_runner("all", "--ready-timeout", "60", env=env, timeout=90)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "api exited" in result.stderr.lower() or "the API exited" in result.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_all_serves_a_photo_and_stops_both_on_a_signal(
    make_photo: Callable[..., bytes], tmp_path: Path, stop_signal: signal.Signals
) -> None:
    api_port, page_port = free_port(), free_port()
    env = runner_env(AMULET_PORT=str(api_port), AMULET_FRONTEND_PORT=str(page_port))
    log = (tmp_path / "runner.log").open("wb")
    runner = subprocess.Popen(
        [sys.executable, str(RUNNER), "all"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        wait_for_port(api_port, runner, timeout_s=90)
        wait_for_port(page_port, runner, timeout_s=90)
        children = psutil.Process(runner.pid).children(recursive=True)
        assert len(children) >= 2, "the API and the page run as child processes"

        photo = make_photo(640, 480, "JPEG", seed=3)
        response = httpx.post(
            f"http://127.0.0.1:{api_port}/v1/predict",
            files={"front": ("photo.jpg", io.BytesIO(photo), "image/jpeg")},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["top1"]["class_id"] and 0.0 <= body["top1"]["probability"] <= 1.0
        page = httpx.get(f"http://127.0.0.1:{page_port}/", timeout=10)
        assert page.status_code == 200

        started = time.monotonic()
        runner.send_signal(stop_signal)
        assert runner.wait(timeout=40) == 0
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == [], f"left running: {alive}"
        assert time.monotonic() - started < 40
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        log.close()


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux only")
def test_all_children_stop_when_the_runner_is_killed_outright(tmp_path: Path) -> None:
    api_port, page_port = free_port(), free_port()
    env = runner_env(AMULET_PORT=str(api_port), AMULET_FRONTEND_PORT=str(page_port))
    log = (tmp_path / "runner.log").open("wb")
    runner = subprocess.Popen(
        [sys.executable, str(RUNNER), "all"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    children: list[psutil.Process] = []
    try:
        wait_for_port(page_port, runner, timeout_s=120)
        children = psutil.Process(runner.pid).children(recursive=True)
        assert len(children) >= 2
        runner.kill()
        runner.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=40)
        assert alive == [], f"orphans left running: {alive}"
    finally:
        for child in children:
            if child.is_running():
                child.kill()
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        log.close()
