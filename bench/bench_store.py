"""Saved work under load: 16 clients saving and reading at once, on SQLite and PostgreSQL.

``python -m bench.bench_store [--seconds 20] [--clients 16] [--backend sqlite postgresql]``

For each backend the real API runs in its own process (``amulet-ai api``) on a fresh
database: a SQLite file under a temporary folder, or a new database on a throwaway
PostgreSQL cluster with its durable defaults (fsync on). Four owners hold one key each
(made with the store, as ``keys create`` does); each client uses one of them and loops:

    POST /v1/predict?save=true     the same 16 photos over and over (cache hits: the
                                   figures are the database's, not the model's)
    GET  /v1/history?limit=10      the owner's newest checks
    POST /v1/history/{id}/feedback every fifth loop, on the check just saved

At the end every owner's history is read back page by page and compared with the ids the
API acknowledged: none may be missing, none listed twice, none another owner's; no answer
may be a 5xx (``database is locked`` would be one). Latency percentiles per call go to
``bench/results/store.json`` and ``store.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from amulet_ai.store import Database, Store, upgrade
from bench.photos import small_photos
from bench.postgres_cluster import PG_BIN, PostgresServer
from bench.report import machine_info
from bench.servers import amulet_service

logger = logging.getLogger("bench.store")

OWNERS = 4
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figures:
    """What one backend's run measured."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, list[int]] = field(default_factory=dict)
    transport_errors: int = 0

    def record(self, call: str, started: float, status: int) -> None:
        self.statuses[f"{call} {status}"] += 1
        if status < 400:
            self.latencies.setdefault(call, []).append((time.perf_counter() - started) * 1000)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "count": len(values),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(pick(0.95), 2),
        "p99_ms": round(pick(0.99), 2),
        "max_ms": round(ordered[-1], 2),
    }


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh database of ``backend``, migrated; its URL."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="amulet-bench-") as folder:
            url = f"sqlite:///{folder}/amulet.db"
            upgrade(Database(url))
            yield url
        return
    if PG_BIN is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(durable=True).start()
    try:
        url = server.new_database()
        upgrade(Database(url))
        yield url
    finally:
        server.remove()


async def _client(
    number: int,
    base: str,
    key: str,
    owner: str,
    photos: list[bytes],
    deadline: float,
    figures: Figures,
) -> None:
    headers = {"X-API-Key": key}
    acked = figures.acknowledged.setdefault(owner, [])
    async with httpx.AsyncClient(base_url=base, timeout=30.0, headers=headers) as http:
        loop = 0
        while time.perf_counter() < deadline:
            loop += 1
            photo = photos[(number + loop) % len(photos)]
            try:
                started = time.perf_counter()
                r = await http.post(
                    "/v1/predict", params={"save": "true"}, files={"front": ("p.jpg", photo)}
                )
                figures.record("save", started, r.status_code)
                item = r.json().get("history_id") if r.status_code == 200 else None
                if item is not None:
                    acked.append(item)
                started = time.perf_counter()
                r = await http.get("/v1/history", params={"limit": 10})
                figures.record("list", started, r.status_code)
                if item is not None and loop % 5 == 0:
                    started = time.perf_counter()
                    r = await http.post(f"/v1/history/{item}/feedback", json={"correct": True})
                    figures.record("feedback", started, r.status_code)
            except httpx.HTTPError:
                figures.transport_errors += 1


async def _read_back(base: str, keys: dict[str, str]) -> dict[str, list[int]]:
    listed: dict[str, list[int]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as http:
        for owner, key in keys.items():
            ids: list[int] = []
            before: int | None = None
            while True:
                params: dict[str, int] = {"limit": 100}
                if before is not None:
                    params["before"] = before
                r = await http.get("/v1/history", params=params, headers={"X-API-Key": key})
                r.raise_for_status()
                page = r.json()
                ids += [item["id"] for item in page["items"]]
                before = page["next_before"]
                if before is None:
                    break
            listed[owner] = ids
    return listed


def run_backend(backend: str, clients: int, seconds: float) -> dict[str, Any]:
    """One backend's run: load, then the read-back check; the figures as a dict."""
    photos = small_photos(16)
    with database(backend) as url:
        store = Store(Database(url))
        keys = {f"owner-{i}": store.keys.create(f"owner-{i}").key for i in range(OWNERS)}
        store.close()
        settings = {
            "AMULET_DATABASE_URL": url,
            "AMULET_HISTORY": "results",
            "AMULET_CACHE_ENABLED": "true",
            "AMULET_QUEUE_SIZE": "64",
        }
        with amulet_service(f"store-{backend}", **settings) as server:
            figures = Figures()

            async def load() -> dict[str, list[int]]:
                # Every photo once before the clock starts: the timed saves are cache hits.
                async with httpx.AsyncClient(base_url=server.url, timeout=60.0) as http:
                    for photo in photos:
                        warm = {"X-API-Key": next(iter(keys.values()))}
                        await http.post("/v1/predict", files={"front": ("p.jpg", photo)},
                                        headers=warm)  # fmt: skip
                deadline = time.perf_counter() + seconds
                owners = list(keys)
                await asyncio.gather(
                    *(
                        _client(n, server.url, keys[owners[n % OWNERS]], owners[n % OWNERS],
                                photos, deadline, figures)
                        for n in range(clients)
                    )
                )  # fmt: skip
                return await _read_back(server.url, keys)

            listed = asyncio.run(load())
    acked = figures.acknowledged
    lost = sum(len(set(acked.get(o, [])) - set(ids)) for o, ids in listed.items())
    duplicated = sum(len(ids) - len(set(ids)) for ids in listed.values())
    foreign = sum(len(set(ids) - set(acked.get(o, []))) for o, ids in listed.items())
    server_errors = sum(n for k, n in figures.statuses.items() if k.split()[1].startswith("5"))
    return {
        "backend": backend,
        "clients": clients,
        "seconds": seconds,
        "calls": {call: _percentiles(v) for call, v in sorted(figures.latencies.items())},
        "statuses": dict(sorted(figures.statuses.items())),
        "acknowledged_saves": sum(len(v) for v in acked.values()),
        "listed": sum(len(v) for v in listed.values()),
        "lost": lost,
        "duplicated": duplicated,
        "unacknowledged_or_foreign": foreign,
        "server_errors": server_errors,
        "transport_errors": figures.transport_errors,
    }


def render(results: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = [
        "# Saved work under load",
        "",
        f"`python -m bench.bench_store`: {results[0]['clients']} clients saving and reading "
        f"for {results[0]['seconds']:g} s per backend; {machine.get('cores_logical')} logical "
        f"cores, load average {machine.get('load_average_at_start')} at the start.",
        "",
        "| backend | call | count | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for call, p in result["calls"].items():
            lines.append(
                f"| {result['backend']} | {call} | {p['count']} | {p['p50_ms']} | "
                f"{p['p95_ms']} | {p['p99_ms']} | {p['max_ms']} |"
            )
    lines += ["", "| backend | saves acknowledged | listed | lost | duplicated | 5xx |"]
    lines += ["|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['acknowledged_saves']} | {r['listed']} | {r['lost']} | "
            f"{r['duplicated']} | {r['server_errors']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_store", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"],
                        choices=("sqlite", "postgresql"))  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    results = []
    for backend in args.backend:
        logger.info("store bench: %s, %d clients, %g s", backend, args.clients, args.seconds)
        results.append(run_backend(backend, args.clients, args.seconds))
        logger.info("%s", json.dumps(results[-1]))
    machine = machine_info()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "store.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )
    (args.out / "store.md").write_text(render(results, machine))
    print(render(results, machine))
    bad = [r["backend"] for r in results if r["lost"] or r["duplicated"] or r["server_errors"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
