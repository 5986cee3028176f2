"""Where a request's CPU goes: the running API sampled by ``py-spy`` under a bounded load.

``py-spy record`` attaches to the server process from outside (no code in the server, no
slowdown worth measuring: it reads the process's memory without pausing it) while
:func:`bench.load.post_photos` sends 224 px photos, every one a cache miss, at concurrency
8. Every sample of a busy thread is put in one stage by the innermost frame that names one:

    HTTP and routing     uvicorn, httptools, Starlette/FastAPI routing and dependencies,
                         the event loop's own C code (uvloop)
    body reading         Starlette's request stream, the multipart parser, api/uploads.py
    hashing              the streaming sink of runtime/streaming.py (SHA-256 and buffering)
    decode               imaging/, Pillow, the classifier's decode
    locate               the localiser and the crop (locate=auto), on the inference workers
    inference            onnxruntime, the classifier's scoring and verdict
    response             the answer's serialisation (pydantic, Starlette responses)
    logging and metrics  logging, prometheus_client, the request middleware
    serving              the prediction service, inference pool, result cache
    other                anything else (GC, imports, threads' own machinery)

A stage's CPU ms per request is its share of the samples times the server's CPU time over
the run (psutil) divided by the answers. Idle threads are not sampled (py-spy's default).

Example::

    >>> profile = asyncio.run(profile_service(server, photos, form="raw"))  # doctest: +SKIP
    >>> profile["stages"]["inference"]["cpu_ms_per_request"]                 # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.load import Form, post_photos
from bench.servers import Server, server_timing

STAGES = (
    "HTTP and routing",
    "body reading",
    "hashing",
    "decode",
    "locate",
    "inference",
    "response",
    "logging and metrics",
    "serving",
    "other",
)

# (stage, substrings of a frame "function (file:line)"); the first rule that matches the
# innermost frame that any rule matches decides the sample's stage.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hashing", ("runtime/streaming.py", "hashlib")),
    ("decode", ("amulet_ai/imaging/", "PIL/", "pillow_heif/", "Predictor.decode (")),
    ("decode", ("AmuletClassifier.decode (",)),
    ("inference", ("onnxruntime/", "amulet_ai/model/")),
    ("body reading", ("python_multipart/", "amulet_ai/api/uploads.py", "starlette/requests.py")),
    ("response", ("pydantic", "starlette/responses.py", "fastapi/responses.py", "_json (")),
    ("logging and metrics", ("logging/", "prometheus_client/", "amulet_ai/api/middleware.py")),
    ("serving", ("amulet_ai/serving/", "concurrent/futures/", "cachetools/")),
    (
        "HTTP and routing",
        (
            "uvicorn/",
            "httptools",
            "starlette/",
            "fastapi/",
            "anyio/",
            "amulet_ai/api/",
            "asyncio/runners.py",
            "uvloop/",
        ),
    ),
)
# Frames that say nothing of the stage (the event loop's and the threads' plumbing): the
# next frame out decides.
_TRANSPARENT = ("asyncio/events.py", "asyncio/tasks.py", "contextlib.py", "threading.py")


def py_spy_path() -> str | None:
    """The ``py-spy`` next to this Python, or on ``PATH``; None when it is not installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def stage_of(frames: Sequence[str]) -> str:
    """The stage of one sample, from its frames (outermost first)."""
    for frame in reversed(frames):
        if any(part in frame for part in _TRANSPARENT):
            continue
        for stage, parts in _RULES:
            if any(part in frame for part in parts):
                return stage
    return "other"


def parse_collapsed(lines: Iterable[str], thread: str = "MainThread") -> Counter[str]:
    """Samples per stage of one thread, from py-spy's raw output with ``--threads``.

    Each line is ``thread (TID): NAME;frame;frame;... count``, outermost frame first.
    """
    stages: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        first, *frames = stack.split(";")
        if first.startswith("thread (") and first.partition(": ")[2] == thread:
            stages[stage_of(frames)] += int(count)
    return stages


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of ``pid``'s threads: the event loop's (the main thread) and the others.

    The others are the inference workers and onnxruntime's own threads; Python 3.11 does
    not give its threads' names to the OS, so they are told apart by the main thread only.
    """
    roles = {"loop": 0.0, "workers": 0.0}
    for thread in psutil.Process(pid).threads():
        roles["loop" if thread.id == pid else "workers"] += thread.user_time + thread.system_time
    return roles


async def profile_service(
    server: Server,
    photos: Sequence[bytes],
    *,
    form: Form = "multipart",
    seconds: float = 5.0,
    concurrency: int = 8,
    rate_hz: int = 250,
) -> dict[str, Any]:
    """Sample ``server`` under load for ``seconds``; CPU ms per request by stage."""
    spy = py_spy_path()
    if spy is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    with tempfile.TemporaryDirectory(prefix="amulet-profile-") as folder:
        out = Path(folder) / "samples.txt"
        command = [spy, "record", "--pid", str(server.pid), "--duration", f"{seconds:g}"]
        command += ["--rate", str(rate_hz), "--format", "raw", "--output", str(out)]
        command += ["--nonblocking", "--threads", "--gil"]
        cpu_before = thread_cpu(server.pid)
        timing_before = await server_timing(server.url)
        sampler = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        load = await post_photos(
            server.url,
            photos,
            concurrency=concurrency,
            duration_s=seconds,
            form=form,
            path=server.path(form),
            unique=True,
        )
        cpu_after = thread_cpu(server.pid)
        timing = _minus(await server_timing(server.url), timing_before)
        _, err = await sampler.communicate()
        if sampler.returncode != 0 or not out.is_file():
            return {"skipped": f"py-spy failed: {err.decode(errors='replace')[-500:]}"}
        samples = parse_collapsed(out.read_text(encoding="utf-8").splitlines())
    cpu = {role: cpu_after[role] - cpu_before[role] for role in cpu_after}
    answers = max(1, load.ok)

    def per_request(seconds: float) -> float:
        return round(1000 * seconds / answers, 2)

    # The event loop's CPU, split by where its samples holding the GIL were.
    loop_total = sum(samples.values())
    stages = {
        stage: per_request(cpu["loop"] * samples[stage] / loop_total) if loop_total else 0.0
        for stage in STAGES
    }
    # The other threads' CPU (decode and the models release the GIL), split by their timing.
    work = {name: timing.get(name, 0.0) for name in ("decode", "locate", "inference")}
    total = sum(work.values())
    if total > 0:
        for name, seconds in work.items():
            stages[name] += per_request(cpu["workers"] * seconds / total)
    return {
        "form": form,
        "concurrency": concurrency,
        "seconds": round(load.seconds, 2),
        "answers": load.ok,
        "failed": sum(load.statuses.values()) + load.transport_errors,
        "throughput": round(load.throughput, 1),
        "loop_samples": loop_total,
        "cpu_ms_per_request": {role: per_request(value) for role, value in cpu.items()},
        "server_cpu_ms_per_request": per_request(sum(cpu.values())),
        "stages": {stage: round(value, 2) for stage, value in stages.items()},
    }


def _minus(after: dict[str, list[float]], before: dict[str, list[float]]) -> dict[str, float]:
    """Seconds each timing histogram gained."""
    return {name: pair[0] - before.get(name, [0.0, 0.0])[0] for name, pair in after.items()}
