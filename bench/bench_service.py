"""The service over HTTP on loopback, against the naive service and against itself.

    levels      224 px uploads at concurrency 1, 8, 32: ours and the naive service,
                alternated round by round
    phone       12 MP phone JPEGs: one client (end-to-end p50) and concurrency 8, both servers
    cache       hits (the same photo again) vs misses (every request new bytes, same pixels)
                on a server with the result cache on, 224 px and phone photos
    batching    micro-batch size 1 vs 8 at concurrency 8 (and size 1 with as many threads
                as a batch of 8 gets, to tell batching from thread count)

Every figure comes from :func:`bench.load.post_photos`; every comparison alternates its
settings in rounds (:func:`bench.load.alternate`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.load import Form, LoadResult, alternate, post_photos
from bench.servers import Server, server_timing

BATCHING_MARGIN = 0.05
# The concurrency the service's throughput targets are set at (ours / naive, ours / raw):
# measured over twice the plan's rounds, since two arms of one alternation on this shared
# machine differ by a few percent from round to round.
TARGET_CONCURRENCY = 8
FORMS_MEASURED: tuple[Form, ...] = ("multipart", "raw")


@dataclass(frozen=True)
class Plan:
    """How long each measurement runs: ``rounds`` alternations of ``round_s`` seconds."""

    rounds: int
    round_s: float
    warmup_s: float
    phone_one_client_requests: int

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(rounds=2, round_s=1.0, warmup_s=1.0, phone_one_client_requests=6)
        return cls(rounds=3, round_s=3.0, warmup_s=1.0, phone_one_client_requests=24)


def _load(
    server: Server,
    photos: Sequence[bytes],
    concurrency: int,
    *,
    form: Form = "multipart",
    **kwargs: Any,
) -> Callable[[], Awaitable[LoadResult]]:
    return lambda: post_photos(
        server.url,
        photos,
        concurrency=concurrency,
        server_pid=server.pid,
        form=form,
        path=server.path(form),
        **kwargs,
    )


def _timed_load(
    server: Server, photos: Sequence[bytes], concurrency: int, **kwargs: Any
) -> Callable[[], Awaitable[LoadResult]]:
    """Like ``_load``, and reads the server's timing histograms before and after."""
    run = _load(server, photos, concurrency, **kwargs)

    async def timed() -> LoadResult:
        before = await server_timing(server.url)
        result = await run()
        after = await server_timing(server.url)
        zero = [0.0, 0.0]
        result.server_timing = {
            name: [total - before.get(name, zero)[0], count - before.get(name, zero)[1]]
            for name, (total, count) in after.items()
        }
        return result

    return timed


async def warm_up(servers: Sequence[Server], photos: Sequence[bytes], plan: Plan) -> None:
    """A short load on each server first: connections, allocator and model caches warm."""
    for server in servers:
        await post_photos(
            server.url, photos, concurrency=8, duration_s=plan.warmup_s, server_pid=server.pid
        )


def _compare(results: dict[str, LoadResult], ours: str, other: str) -> dict[str, Any]:
    mine, theirs = results[ours], results[other]
    ratio = mine.throughput / theirs.throughput if theirs.throughput else None
    return {
        ours: mine.as_dict(),
        other: theirs.as_dict(),
        "throughput_ratio": None if ratio is None else round(ratio, 2),
    }


RawRun = Callable[[int, float], Awaitable[LoadResult]]


async def levels_vs_naive(
    ours: Server,
    naive: Server,
    photos: Sequence[bytes],
    levels: Sequence[int],
    plan: Plan,
    raw: RawRun,
) -> dict[str, Any]:
    """224 px uploads at each concurrency, every request a cache miss, in both request forms.

    Ours and the naive service, each with a multipart form and with the photo as the raw
    body, and raw onnxruntime, alternated round by round. Every request carries new bytes
    (a JPEG comment with a counter), so the result cache never answers. ``raw(threads,
    seconds)`` runs the model alone on the same photos from as many threads as there are
    clients. A level's top-level figures are the multipart form's; ``raw_body`` holds the
    raw-body form's.
    """
    out = {}
    for concurrency in levels:
        arms: dict[str, Callable[[], Awaitable[LoadResult]]] = {}
        for form in FORMS_MEASURED:
            for name, server in (("amulet", ours), ("naive", naive)):
                load = _timed_load if name == "amulet" else _load
                arms[f"{name}/{form}"] = load(
                    server, photos, concurrency, form=form, unique=True, duration_s=plan.round_s
                )
        arms["raw"] = partial(raw, concurrency, plan.round_s)
        rounds = plan.rounds * 2 if concurrency == TARGET_CONCURRENCY else plan.rounds
        results = await alternate(arms, rounds)
        model = results["raw"]
        forms = {}
        for form in FORMS_MEASURED:
            mine = results[f"amulet/{form}"]
            row = _compare({"amulet": mine, "naive": results[f"naive/{form}"]}, "amulet", "naive")
            row["amulet_vs_raw"] = round(mine.throughput / model.throughput, 3)
            if mine.p50_ms and mine.p99_ms:
                row["p99_over_p50"] = round(mine.p99_ms / mine.p50_ms, 2)
            forms[form] = row
        row = forms["multipart"]
        row["raw"] = model.as_dict()
        # In process, the load generator's CPU is the model's own.
        row["raw"]["cpu_ms_per_image"] = row["raw"].pop("client_cpu_ms_per_request")
        row["raw_body"] = forms["raw"]
        out[str(concurrency)] = row
    return out


async def phone_vs_naive(ours: Server, naive: Server, phone: bytes, plan: Plan) -> dict[str, Any]:
    """The 12 MP phone photo: one client (fixed request count), then concurrency 8."""
    await post_photos(ours.url, [phone], concurrency=1, requests=2)
    await post_photos(naive.url, [phone], concurrency=1, requests=2)
    per_round = max(1, plan.phone_one_client_requests // plan.rounds)
    one = await alternate(
        {
            "amulet": _timed_load(ours, [phone], 1, requests=per_round),
            "naive": _load(naive, [phone], 1, requests=per_round),
        },
        plan.rounds,
    )
    eight = await alternate(
        {
            "amulet": _timed_load(ours, [phone], 8, duration_s=plan.round_s),
            "naive": _load(naive, [phone], 8, duration_s=plan.round_s),
        },
        plan.rounds,
    )
    return {"1": _compare(one, "amulet", "naive"), "8": _compare(eight, "amulet", "naive")}


async def cache_hit_vs_miss(
    cached: Server, photos: dict[str, bytes], plan: Plan, concurrency: int = 8
) -> dict[str, Any]:
    """Per photo kind: hits (one photo, repeated) vs misses (fresh bytes every request)."""
    out = {}
    for kind, photo in photos.items():
        await post_photos(cached.url, [photo], concurrency=1, requests=1)  # store it
        results = await alternate(
            {
                "hit": _load(cached, [photo], concurrency, duration_s=plan.round_s),
                "miss": _load(cached, [photo], concurrency, unique=True, duration_s=plan.round_s),
            },
            plan.rounds,
        )
        out[kind] = _compare(results, "hit", "miss")
    return out


async def batching(
    servers: dict[str, Server], photos: Sequence[bytes], plan: Plan, concurrency: int = 8
) -> dict[str, Any]:
    """Throughput and latency of each micro-batching setting, alternated.

    ``servers`` maps a setting's name to a server running it; the first is the default
    the others are compared with (``vs_default``, a throughput ratio).
    """
    results = await alternate(
        {
            name: _load(server, photos, concurrency, duration_s=plan.round_s)
            for name, server in servers.items()
        },
        plan.rounds,
    )
    default_name = next(iter(results))
    default = results[default_name]
    settings = {}
    for name, measured in results.items():
        settings[name] = measured.as_dict()
        settings[name]["vs_default"] = round(measured.throughput / default.throughput, 3)
    # Another setting is "best" only when it beats the default by more than run-to-run
    # noise on a shared machine; otherwise the default stands.
    best = max(results, key=lambda name: results[name].throughput)
    if results[best].throughput < default.throughput * (1 + BATCHING_MARGIN):
        best = default_name
    return {
        "concurrency": concurrency,
        "settings": settings,
        "best": best,
        "margin": BATCHING_MARGIN,
    }
