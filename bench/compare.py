"""A/B of two versions of the service in one run: ``production_runner.py bench --against REF``.

The API of this checkout and the API of git revision ``REF`` (checked out into a temporary
worktree, its own ``src/`` first on the child's ``PYTHONPATH``, this checkout's model) run
side by side with the benchmark settings and the result cache on; loads of 224 px photos at
concurrency 8 alternate between them round by round, in both request forms, as cache
misses (every request new bytes: the whole path) and as cache hits (the same photos again:
everything but the pool, decode and the model, so the fixed cost per request alone, with
many more requests per round); and cache hits of a 12 MP phone JPEG (1.5 MB: what reading,
hashing and answering a large upload costs). Per arm: throughput, p50, and CPU ms per
request of the server, of its event loop thread (the fixed cost per request lives there)
and of its other threads (decode and the model; for a large upload, its hashing too).

A change to the serving path is kept when ``this`` beats ``REF`` here, measured like this in
one run.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.load import FORMS, LoadResult, alternate, post_photos
from bench.photos import phone_jpeg
from bench.profile import thread_cpu
from bench.servers import REPO_ROOT, Server, amulet_service

KINDS = ("miss", "hit", "12 MP hit")


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """Git revision ``ref`` of this repository in a temporary worktree, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="amulet-ab-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), ref],
            cwd=REPO_ROOT,
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=REPO_ROOT, check=False
            )


def _arm(
    server: Server, photos: Sequence[bytes], form: str, seconds: float, *, unique: bool
) -> Callable[[], Awaitable[LoadResult]]:
    async def run() -> LoadResult:
        before = thread_cpu(server.pid)
        result = await post_photos(
            server.url,
            photos,
            concurrency=8,
            duration_s=seconds,
            form="raw" if form == "raw" else "multipart",
            unique=unique,
            server_pid=server.pid,
        )
        after = thread_cpu(server.pid)
        result.thread_cpu_s = {role: after[role] - before[role] for role in after}
        return result

    return run


def _figures(result: LoadResult) -> dict[str, Any]:
    answers = max(1, result.ok)
    figures = result.as_dict()
    for role, seconds in result.thread_cpu_s.items():
        figures[f"{role}_cpu_ms_per_request"] = round(1000 * seconds / answers, 3)
    return figures


def compare(
    ref: str, photos: Sequence[bytes], *, rounds: int = 4, seconds: float = 3.0
) -> dict[str, Any]:
    """This checkout against ``ref``: each arm's figures and this / ref ratios, per form."""
    sent = {"miss": photos, "hit": photos, "12 MP hit": [phone_jpeg()]}
    with checkout(ref) as tree:
        with (
            amulet_service("this", AMULET_CACHE_ENABLED="true") as this,
            amulet_service(
                "base",
                AMULET_CACHE_ENABLED="true",
                AMULET_MODEL_DIR=str(REPO_ROOT / "models"),
                PYTHONPATH=str(tree / "src"),
            ) as base,
        ):
            arms: dict[str, Callable[[], Awaitable[LoadResult]]] = {}
            for form, kind in itertools.product(FORMS, KINDS):
                for name, server in (("this", this), ("base", base)):
                    arms[f"{name}/{form} {kind}"] = _arm(
                        server, sent[kind], form, seconds, unique=kind == "miss"
                    )
            asyncio.run(alternate(arms, 1))  # warm-up (and the hits' photos cached)
            results = asyncio.run(alternate(arms, rounds))
    out: dict[str, Any] = {"ref": ref, "rounds": rounds, "round_s": seconds, "forms": {}}
    for form, kind in itertools.product(FORMS, KINDS):
        case = f"{form} {kind}"
        mine, theirs = _figures(results[f"this/{case}"]), _figures(results[f"base/{case}"])
        out["forms"][case] = {
            "this": mine,
            "base": theirs,
            "throughput_ratio": round(mine["throughput"] / theirs["throughput"], 3)
            if theirs["throughput"]
            else None,
            "loop_cpu_ratio": round(
                mine["loop_cpu_ms_per_request"] / theirs["loop_cpu_ms_per_request"], 3
            )
            if theirs["loop_cpu_ms_per_request"]
            else None,
        }
    return out


def render(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        f"This checkout against `{result['ref']}`: 224 px (and a 12 MP JPEG, hits), "
        f"concurrency 8, {result['rounds']} alternating rounds of {result['round_s']:g} s.",
        "",
        "| request | arm | img/s | p50 ms | server CPU ms/req | event loop CPU ms/req "
        "| other threads CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for form, row in result["forms"].items():
        for arm in ("this", "base"):
            r = row[arm]
            lines.append(
                f"| {form} | {arm} | {r['throughput']} | {r['p50_ms']} "
                f"| {r.get('server_cpu_ms_per_request')} | {r['loop_cpu_ms_per_request']} "
                f"| {r['workers_cpu_ms_per_request']} |"
            )
        lines.append(
            f"| {form} | this / base | {row['throughput_ratio']}x | | "
            f"| {row['loop_cpu_ratio']}x | |"
        )
    return "\n".join(lines) + "\n"
