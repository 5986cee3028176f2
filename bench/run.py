"""Every Amulet-AI benchmark in one run: ``python production_runner.py bench [--quick]``.

Sections, in order (``--only`` picks some):

    model     in process: classifier call vs raw session.run; draft vs full decode;
              raw batch of 8 vs single runs
    service   over HTTP on loopback, against the naive service (bench/naive_service.py)
              and raw onnxruntime: 224 px at concurrency 1, 8, 32; 12 MP phone JPEGs
    profile   the service sampled by py-spy under load: CPU ms per request by stage, both
              request forms (bench/profile.py)
    batching  the inference thread layout: the default vs one session, vs 8 workers
    cache     result-cache hits vs misses over HTTP, 224 px and 12 MP
    memory    20 MB uploads, 8 at a time: the server's RSS against its ceiling
    runtime   pooled vs new client, streaming vs read-all, GC regimes, in-process cache
    workers   2 API worker processes vs 1
    locate    locate=auto vs off, one client: 12 MP and 224 px photos (bench/bench_locate.py)

The full run writes ``latest.json`` and ``latest.md`` to ``--out`` (default bench/results/)
and refreshes README.md's generated blocks from them; it reports each target and exits 0.
``--only`` on top of a full run's ``latest.json`` replaces just those sections there (each
noted with its own date and load in ``rerun`` and under the machine line), so the results
stay whole; without one, it writes the sections it ran.
``--quick`` (CI, under three minutes on 2 cores; 224 px at concurrency 8 only) writes
``quick.json`` and ``quick.md`` instead and exits 1 when one of its wide-margin ratios fails.
``--against REF`` instead runs an A/B of this checkout's API against git revision REF.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from amulet_ai.config import Settings, get_settings
from amulet_ai.imaging.decode import DecodedImage, decode_image
from amulet_ai.model.classifier import AmuletClassifier
from bench import (
    bench_locate,
    bench_memory,
    bench_model,
    bench_runtime,
    bench_service,
    bench_workers,
    compare,
    profile,
)
from bench.bench_service import Plan
from bench.load import LoadResult
from bench.photos import large_upload_jpeg, phone_jpeg, small_photos
from bench.report import evaluate_targets, failed_assertions, machine_info, render_markdown
from bench.servers import Server, amulet_service, naive_service

logger = logging.getLogger("bench")

SECTIONS = (
    "model",
    "service",
    "profile",
    "batching",
    "cache",
    "memory",
    "runtime",
    "workers",
    "locate",
)
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


class Photos:
    """The generated photos, made once: 224 px set, phone JPEG, 20 MB upload (on demand)."""

    def __init__(self) -> None:
        self.small = small_photos(32)
        self.phone = phone_jpeg()
        self._large: bytes | None = None

    @property
    def large(self) -> bytes:
        if self._large is None:
            self._large = large_upload_jpeg()
        return self._large


def _step(name: str) -> Callable[[], None]:
    started = time.perf_counter()
    logger.info("%s ...", name)
    return lambda: logger.info("%s done in %.1f s", name, time.perf_counter() - started)


def _raw_runner(
    classifier: AmuletClassifier, decoded: Sequence[DecodedImage]
) -> bench_service.RawRun:
    async def run(threads: int, seconds: float) -> LoadResult:
        return await asyncio.to_thread(
            bench_model.raw_throughput, classifier, decoded, threads=threads, duration_s=seconds
        )

    return run


def _service_vs_naive(
    main: Server, photos: Photos, classifier: AmuletClassifier, plan: Plan, levels: Sequence[int]
) -> dict[str, Any]:
    with naive_service() as naive:
        asyncio.run(bench_service.warm_up([main, naive], photos.small, plan))
        decoded = [decode_image(p, size=classifier.input_size) for p in photos.small]
        raw = _raw_runner(classifier, decoded)
        return {
            "levels": asyncio.run(
                bench_service.levels_vs_naive(main, naive, photos.small, levels, plan, raw)
            ),
            "phone": asyncio.run(bench_service.phone_vs_naive(main, naive, photos.phone, plan)),
        }


def _profile(main: Server, photos: Photos, plan: Plan, *, quick: bool) -> dict[str, Any]:
    asyncio.run(bench_service.warm_up([main], photos.small, plan))
    seconds = 2.0 if quick else 8.0
    return {
        form: asyncio.run(profile.profile_service(main, photos.small, form=form, seconds=seconds))
        for form in bench_service.FORMS_MEASURED
    }


def _batching(main: Server, photos: Photos, plan: Plan, settings: Settings) -> dict[str, Any]:
    # Each arm turns one part of the default layout back: "one_session" runs every photo on
    # the many-thread session (as if busy_intra_op_threads were off; the default hands runs
    # that overlap another to a one-thread session); "workers_per_core" has one inference
    # worker per core instead of one more; "switch_5ms" keeps Python's switch interval;
    # "batch_1_threads_8" has 8 workers.
    cores = os.cpu_count() or 1
    with (
        amulet_service("batch_1_threads_8", AMULET_INFERENCE_WORKERS="8") as threaded,
        amulet_service(
            "one_session", AMULET_BUSY_INTRA_OP_THREADS=str(settings.intra_op_threads)
        ) as one_session,
        amulet_service("workers_per_core", AMULET_INFERENCE_WORKERS=str(cores)) as per_core,
        amulet_service("switch_5ms", AMULET_GIL_SWITCH_INTERVAL_MS="5") as switch_5ms,
    ):
        arms = {
            "default": main,
            "one_session": one_session,
            "workers_per_core": per_core,
            "switch_5ms": switch_5ms,
            "batch_1_threads_8": threaded,
        }
        asyncio.run(bench_service.warm_up(list(arms.values()), photos.small, plan))
        verdict = asyncio.run(bench_service.batching(arms, photos.small, plan))
    verdict["default_inference_workers"] = settings.inference_workers
    verdict["default_intra_op_threads"] = settings.intra_op_threads
    verdict["default_busy_intra_op_threads"] = settings.busy_intra_op_threads
    verdict["default_gil_switch_interval_ms"] = settings.gil_switch_interval_ms
    verdict["default_is_best"] = verdict["best"] == "default"
    return verdict


def _cache(photos: Photos, plan: Plan) -> dict[str, Any]:
    with amulet_service("cached", AMULET_CACHE_ENABLED="true") as cached:
        asyncio.run(bench_service.warm_up([cached], photos.small, plan))
        kinds = {"small": photos.small[0], "phone": photos.phone}
        return asyncio.run(bench_service.cache_hit_vs_miss(cached, kinds, plan))


def _measure_servers(
    results: dict[str, Any],
    sections: set[str],
    photos: Photos,
    classifier: AmuletClassifier,
    settings: Settings,
    *,
    quick: bool,
) -> None:
    """The sections that need servers; the default server is started once for all."""
    plan = Plan.for_mode(quick)
    levels = (8,) if quick else (1, 8, 32)
    results["plan"] = {**dataclasses.asdict(plan), "levels": list(levels)}
    if not sections & {"service", "profile", "batching", "cache", "memory"}:
        return
    service: dict[str, Any] = {}
    with amulet_service("amulet") as main:
        if "service" in sections:
            done = _step("service vs naive and raw onnxruntime")
            service.update(_service_vs_naive(main, photos, classifier, plan, levels))
            done()
        if "profile" in sections:
            done = _step("profile")
            service["profile"] = _profile(main, photos, plan, quick=quick)
            done()
        if "batching" in sections:
            done = _step("inference thread layout")
            service["batching"] = _batching(main, photos, plan, settings)
            done()
        if "cache" in sections:
            done = _step("cache hit vs miss")
            service["cache"] = _cache(photos, plan)
            done()
        if "memory" in sections:
            done = _step("20 MB uploads")
            results["memory"] = bench_memory.large_uploads(
                main,
                photos.large,
                uploads=24 if quick else 200,
                group=8,
                ceiling_mb=settings.memory_limit_mb,
            )
            done()
    if service:
        results["service"] = service


def run_benchmarks(sections: set[str], *, quick: bool) -> dict[str, Any]:
    """Run the chosen sections; returns the results dict (targets included)."""
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": quick, "sections": sorted(sections), "env": machine_info()}
    settings = get_settings()
    results["service_settings"] = settings.model_dump(
        include={
            "inference_workers",
            "intra_op_threads",
            "inter_op_threads",
            "queue_size",
            "memory_limit_mb",
            "max_upload_mb",
            "stream_spool_mb",
        }
    )
    done = _step("photos")
    photos = Photos()
    done()
    classifier = AmuletClassifier.from_settings(settings)
    if "model" in sections:
        done = _step("model")
        results["model"] = bench_model.bench_model(
            classifier, photos.small, photos.phone, quick=quick
        )
        done()
    _measure_servers(results, sections, photos, classifier, settings, quick=quick)
    if "runtime" in sections:
        done = _step("runtime")
        results["runtime"] = {
            "pool": bench_runtime.bench_pool(quick=quick),
            "streaming": bench_runtime.bench_streaming(),
            "gc": bench_runtime.bench_gc(quick=quick),
            "cache_in_process": bench_runtime.bench_cache(
                lambda data: classifier.classify(data),
                quick=quick,
                image=photos.phone,
                work_name="decode + classify, 12 MP JPEG",
            ),
        }
        done()
    if "workers" in sections:
        done = _step("workers")
        results["workers"] = bench_workers.bench_workers(concurrency=8, quick=quick)
        done()
    if "locate" in sections:
        done = _step("locate")
        results["locate"] = bench_locate.bench_locate(quick=quick)
        done()
    results["env"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate_targets(results, quick=quick)
    return results


def merged_results(previous: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """A full run's ``previous`` results with the sections ``results`` measured replaced,
    each noted under ``rerun`` with the date, load and seconds of its own run; the targets
    are evaluated again on the whole."""
    merged = {**previous, "rerun": dict(previous.get("rerun", {}))}
    env = results["env"]
    for section in results["sections"]:
        if section in results:
            merged[section] = results[section]
        merged["rerun"][section] = {
            "date": env["date"],
            "load_average_at_start": env["load_average_at_start"],
            "load_average_at_end": env.get("load_average_at_end"),
            "seconds": results["seconds"],
        }
    merged["targets"] = evaluate_targets(merged, quick=False)
    return merged


def write_results(results: dict[str, Any], out: Path, *, quick: bool) -> tuple[Path, Path]:
    """``latest.json`` and ``latest.md`` (``quick.*`` in quick mode), each written whole."""
    out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if quick else "latest"
    paths = (out / f"{stem}.json", out / f"{stem}.md")
    texts = (json.dumps(results, indent=2, ensure_ascii=False) + "\n", render_markdown(results))
    for path, text in zip(paths, texts, strict=True):
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return paths


def _refresh_readme() -> None:
    from amulet_ai.ops import readme_blocks

    if readme_blocks.README_PATH.is_file():
        readme_blocks.main([])
        logger.info("README.md generated blocks refreshed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="production_runner.py bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 done (full run: whatever the targets say), 1 a quick-mode "
        "ratio failed.",
    )
    parser.add_argument("--quick", action="store_true", help="short runs, wide-margin checks (CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, metavar="SECTION", help=", ".join(SECTIONS)
    )
    parser.add_argument(
        "--against",
        metavar="REF",
        help="instead: A/B this checkout's API against git revision REF (bench/compare.py)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if args.against:
        rounds, seconds = (2, 2.0) if args.quick else (4, 3.0)
        ab = compare.compare(args.against, small_photos(32), rounds=rounds, seconds=seconds)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ab.json").write_text(json.dumps(ab, indent=2) + "\n", encoding="utf-8")
        print(compare.render(ab))
        return 0
    sections = set(args.only or SECTIONS)
    results = run_benchmarks(sections, quick=args.quick)
    previous_path = args.out / "latest.json"
    complete = sections == set(SECTIONS)
    if not args.quick and not complete and previous_path.is_file():
        previous = json.loads(previous_path.read_text(encoding="utf-8"))
        if set(previous.get("sections", ())) == set(SECTIONS) and not previous.get("quick"):
            results = merged_results(previous, results)
            complete = True
    json_path, md_path = write_results(results, args.out, quick=args.quick)
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path}")
    if not args.quick and complete and args.out.resolve() == DEFAULT_OUT:
        _refresh_readme()
    failures = failed_assertions(results["targets"])
    for failure in failures:
        print(
            f"FAILED: {failure['label']}: {failure['measured']} "
            f"(quick bound {failure['quick_bound']})",
            file=sys.stderr,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
