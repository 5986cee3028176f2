"""Amulet-AI feature by feature, with real output: ``python usage_examples.py``.

Part 1 runs each runtime piece in this process: cache, connection pool, streaming, the GC
manager, the memory limit, named locks, the atomic counter, the thread-safe structures,
retries and the circuit breaker. Part 2 walks through the REST API: it uses the API at
``AMULET_PUBLIC_URL`` when that one is healthy, and otherwise starts one on a free port of
127.0.0.1 and stops it at the end. Rate limiting is shown on an API of its own, started with
``AMULET_RATE_LIMIT=5/minute``.

Every figure printed is measured while the script runs.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from amulet_ai.config import REPO_ROOT, get_settings  # noqa: E402
from amulet_ai.logging_setup import configure_logging  # noqa: E402
from amulet_ai.ops.api_process import ApiProcess, free_port  # noqa: E402
from amulet_ai.ops.health_probe import probe_health  # noqa: E402
from amulet_ai.runtime import (  # noqa: E402
    AtomicCounter,
    ByteBudgetCache,
    CircuitBreaker,
    CircuitOpen,
    CorruptImage,
    GarbageCollectionManager,
    ImageCache,
    LockManager,
    LockTimeout,
    MemoryLimitExceeded,
    Overloaded,
    PayloadTooLarge,
    StreamingFileHandler,
    SyncConnectionPool,
    ThreadSafeDict,
    ThreadSafeQueue,
    memory_limit_context,
    process_rss,
    retrying,
)

MB = 1024 * 1024
SHARED_PHOTOS = REPO_ROOT.parent / "shared" / "data" / "amulets"


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(3, 74 - len(title)))


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def drawn_photo(seed: int = 0, size: int = 320) -> bytes:
    """A photo-like picture drawn on the spot: smooth colour gradients and a few blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    channels = [
        127 + 100 * np.sin(xx * rng.uniform(2, 8) + rng.uniform(0, 6)) * np.cos(yy * 5)
        for _ in range(3)
    ]
    image = Image.fromarray(np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y, r = (int(v) for v in rng.integers(20, size - 20, 3) // 2)
        draw.ellipse((x, y, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return jpeg_bytes(image)


# --- Part 1: the runtime toolkit ------------------------------------------------------------


def demo_cache() -> None:
    section("ImageCache and ByteBudgetCache: content keys, TTL, a byte budget")
    images = ImageCache(max_mb=1, ttl_s=600)
    photo = drawn_photo(1)
    key = images.cache_image(photo, "front.jpg")
    same = images.cache_image(photo, "copy-of-front.jpg")
    print(f"key of a {len(photo):,}-byte photo: {key[:16]}...; same bytes, same key: {key == same}")
    cached = images.get_image(key)
    assert cached is not None
    print(
        f"get_image -> {cached.filename!r}, {cached.content_type}, "
        f"data URI {cached.data_uri()[:30]}..."
    )
    print(f"a key never stored -> {images.get_image('0' * 64)}")
    stats = images.stats()
    print(
        f"stats: hits={stats.hits} misses={stats.misses} bytes={stats.bytes:,}/{stats.max_bytes:,}"
    )

    now = [0.0]
    results = ByteBudgetCache[str, bytes](max_bytes=10_000, ttl_s=60, timer=lambda: now[0])
    for name in ("a", "b", "c"):
        results.set(name, bytes(4_000))
    print(f"three 4 kB values in a 10 kB budget -> kept {sorted(results.keys())} (LRU 'a' evicted)")
    now[0] = 61.0
    print(f"after the 60 s TTL -> get('c') = {results.get('c')!r}; stats {results.stats()}")


def demo_streaming() -> None:
    section("StreamingFileHandler: chunked, hashed, capped; spill to disk; memory-map")
    handler = StreamingFileHandler(max_bytes=200 * MB, spool_bytes=2 * MB, mmap_bytes=50 * MB)
    with handler.read_stream([b"amu", b"let"]) as small:
        print(f"6 bytes in 2 chunks: in memory={small.in_memory}, sha256={small.sha256[:16]}...")
    chunks = (bytes([i]) * MB for i in range(5))
    with handler.read_stream(chunks) as spilled:
        print(
            f"5 MB stream: in memory={spilled.in_memory} (spilled past 2 MB), size={spilled.size:,}"
        )
    capped = StreamingFileHandler(max_bytes=1 * MB)
    try:
        capped.read_stream(bytes(256 * 1024) for _ in range(100))
    except PayloadTooLarge as exc:
        print(
            f"a 25 MB stream against a 1 MB ceiling -> {exc.code} ({exc.status_code}): "
            f"{exc.message}"
        )
    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "big.bin"
        with big.open("wb") as out:
            for _ in range(80):
                out.write(np.random.default_rng(0).bytes(MB))
        before = process_rss()
        with handler.read_file(big) as mapped:
            growth = (process_rss() - before) / MB
            print(
                f"80 MB file: memory-mapped={mapped.memory_mapped}, "
                f"sha256={mapped.sha256[:16]}..., "
                f"RSS growth while hashing {growth:.1f} MB"
            )


def demo_gc_manager() -> None:
    section("GarbageCollectionManager: above the high-water mark, collect and shrink caches")
    images = ImageCache(max_mb=4)
    for seed in range(6):
        images.cache_image(drawn_photo(seed, size=200), f"{seed}.jpg")
    before = images.stats().entries
    rss_mb = process_rss() / MB
    gcm = GarbageCollectionManager(high_water_mb=rss_mb / 2, interval_s=1.0, cooldown_s=0.0)
    gcm.add_shrink_callback(images.shrink)
    gc.disable()  # let cyclic garbage pile up, as a busy process would between collections
    try:
        for _ in range(20_000):
            node: dict[str, Any] = {}
            node["self"] = node
        acted = gcm.check()
    finally:
        gc.enable()
    stats = gcm.stats()
    print(
        f"RSS {stats.last_rss_mb:.0f} MB > mark {gcm.high_water_mb:.0f} MB -> acted={acted}: "
        f"gc freed {stats.objects_freed:,} objects; cache entries {before} -> "
        f"{images.stats().entries}"
    )

    async def background() -> bool:
        async with GarbageCollectionManager(high_water_mb=100_000, interval_s=0.05) as watcher:
            await asyncio.sleep(0.2)
            print(
                f"as a background task: running={watcher.running}, "
                f"samples={watcher.stats().samples}"
            )
        return watcher.running

    print(f"stopped with the app: running={asyncio.run(background())}")


def demo_memory_limit() -> None:
    section("memory_limit_context: bound the RSS a block may add")
    with memory_limit_context(100) as guard:
        small = np.ones(10 * MB // 8)
        small += 1
    print(f"10 MB inside a 100 MB limit: fine, peak growth {guard.peak_mb:.0f} MB")
    try:
        with memory_limit_context(50) as guard:
            large = np.ones(120 * MB // 8)
            large += 1
            del large
    except MemoryLimitExceeded as exc:
        print(f"120 MB inside a 50 MB limit -> {exc.code} ({exc.status_code}): {exc.message}")


def demo_locks() -> None:
    section("LockManager: named locks with typed timeouts")
    locks = LockManager(default_timeout=5.0)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locks.acquire_lock("model"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with locks.acquire_lock("model", timeout=0.2):
            pass
    except LockTimeout as exc:
        print(f"'model' held by another thread -> {exc.code} ({exc.status_code}): {exc.message}")
    finally:
        release.set()
        thread.join()


def demo_atomic_and_structures() -> None:
    section("AtomicCounter, ThreadSafeDict, ThreadSafeQueue under real threads")
    counter = AtomicCounter()
    seen = ThreadSafeDict[int, int]()

    def count(worker: int) -> None:
        for i in range(10_000):
            counter.increment()
            seen.update(i % 10, lambda old: (old or 0) + 1)

    threads = [threading.Thread(target=count, args=(n,)) for n in range(8)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(
        f"8 threads x 10,000 increments -> {counter.value:,} (expected 80,000) in {elapsed:.2f} s"
    )
    print(
        f"ThreadSafeDict tallies: {sum(v for _, v in seen.items()):,} over {len(seen.keys())} keys"
    )

    jobs = ThreadSafeQueue[int](maxsize=4)

    def produce() -> None:
        for item in range(20):
            jobs.put(item, timeout=5)

    producer = threading.Thread(target=produce)
    producer.start()
    received = [jobs.get(timeout=5) for _ in range(20)]
    producer.join()
    print(
        "one thread -> another through a 4-slot queue: 20 items in order: "
        f"{received == list(range(20))}"
    )
    try:
        jobs.get(timeout=0.05)
    except queue.Empty:
        print("get() on the empty queue with a timeout -> queue.Empty")


def demo_retry() -> None:
    section("retrying: exponential backoff with jitter, Retry-After honoured, retryable only")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    calls: list[int] = []

    def overloaded_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Overloaded("busy", retry_after=0.05)
        return "answered"

    policy = retrying(attempts=4, backoff_s=0.01, sleep=sleep)
    print(
        f"{policy(overloaded_twice)!r} after {len(calls)} calls; "
        f"waits {[round(w, 3) for w in waits]} s"
    )

    def corrupt() -> None:
        calls.append(1)
        raise CorruptImage("not retryable")

    calls.clear()
    try:
        retrying(attempts=4, backoff_s=0.01)(corrupt)
    except CorruptImage as exc:
        print(f"a non-retryable {exc.code} is raised after {len(calls)} call, unchanged")


def demo_circuit_breaker() -> None:
    section("CircuitBreaker: closed -> open -> half-open -> closed")
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=15.0, clock=lambda: now[0])

    def unreachable() -> None:
        raise httpx.ConnectError("connection refused")

    for attempt in range(3):
        try:
            breaker.call(unreachable)
        except httpx.ConnectError:
            print(f"failure {attempt + 1}: state {breaker.state.value}")
    try:
        breaker.call(lambda: "never called")
    except CircuitOpen as exc:
        print(f"while open, calls fail at once -> {exc.code}: {exc.message}")
    now[0] = 15.0
    print(f"15 s later: state {breaker.state.value}")
    print(f"a trial call succeeds -> {breaker.call(lambda: 'ok')!r}, state {breaker.state.value}")
    print(f"stats: {breaker.stats()}")


# --- Part 2: the REST API -------------------------------------------------------------------


def demo_pool(base_url: str) -> None:
    section("SyncConnectionPool: one pooled client against a new client per request")

    def timed(run: Callable[[], None]) -> float:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    def fresh() -> None:
        for _ in range(30):
            with httpx.Client(base_url=base_url) as client:
                client.get("/health/live").raise_for_status()

    with SyncConnectionPool(base_url, max_connections=4) as pool:

        def pooled() -> None:
            for _ in range(30):
                pool.get("/health/live").raise_for_status()

        pooled()  # connect once before timing
        pooled_s, fresh_s = timed(pooled), timed(fresh)
        print(
            f"30 GET /health/live: pooled {pooled_s * 1000:.0f} ms, new client each "
            f"{fresh_s * 1000:.0f} ms ({fresh_s / pooled_s:.1f}x); "
            f"{pool.requests_sent} requests through the pool, warm-up included"
        )


def sample_photo() -> tuple[bytes, str]:
    """A real amulet photo from the development set when it is here, else one drawn now."""
    fronts = sorted(SHARED_PHOTOS.glob("*/front/*.jpg")) if SHARED_PHOTOS.is_dir() else []
    if fronts:
        return fronts[0].read_bytes(), f"{fronts[0].parent.parent.name} front photo (shared data)"
    return drawn_photo(8), "another picture drawn now (no amulet photos on this machine)"


def not_an_amulet() -> bytes:
    """A synthetic picture that is plainly not an amulet: a colour chart on a checkerboard."""
    size = 320
    yy, xx = np.mgrid[0:size, 0:size]
    board = ((xx // 40 + yy // 40) % 2 * 255).astype(np.uint8)
    image = Image.fromarray(np.stack([board, np.roll(board, 40, 0), 255 - board], -1))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate(["red", "yellow", "lime", "cyan", "blue", "magenta"]):
        draw.rectangle((20 + i * 48, 130, 60 + i * 48, 190), fill=colour)
    return jpeg_bytes(image)


def show_prediction(label: str, body: dict[str, Any]) -> None:
    top1, unknown = body["top1"], body["unknown"]
    location = body["images"]["front"]["location"]
    print(
        f"{label}: status {body['status']}; top1 {top1['class_id']} ({top1['name_th']} / "
        f"{top1['name_en']}) p={top1['probability']:.3f}; unknown={unknown['is_unknown']} "
        f"(score {unknown['score']:.2f} vs threshold {unknown['threshold']:.2f}); "
        f"location {location['status']} box {location['box']}; cached={body['cached']}; "
        f"locate {body['timing_ms']['locate']:.1f} ms, total {body['timing_ms']['total']:.1f} ms"
    )


def on_a_table(photo: bytes) -> bytes:
    """A phone-like photo: ``photo`` at a third of the width of a 1600 x 1200 wooden-brown
    canvas, off centre (what locate=auto is for)."""
    canvas = Image.new("RGB", (1600, 1200), (150, 110, 70))
    amulet = Image.open(io.BytesIO(photo)).convert("RGB").resize((540, 540))
    canvas.paste(amulet, (820, 380))
    return jpeg_bytes(canvas)


def demo_api(base_url: str, api_key: str | None) -> None:
    section(f"The REST API at {base_url}")
    headers = {"X-API-Key": api_key} if api_key else {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        drawn = http.post("/v1/predict", files={"front": ("drawn.jpg", drawn_photo(7))})
        drawn.raise_for_status()
        show_prediction("a photo-like picture drawn just now", drawn.json())

        photo, where = sample_photo()
        print(f"photo: {where}, {len(photo):,} bytes")
        files = {"front": ("front.jpg", photo, "image/jpeg")}
        first = http.post("/v1/predict", files=files, params={"top_k": 3})
        first.raise_for_status()
        show_prediction("POST /v1/predict", first.json())
        ranked = [(p["class_id"], round(p["probability"], 3)) for p in first.json()["predictions"]]
        print(f"top 3: {ranked}")

        again = http.post("/v1/predict", files=files, params={"top_k": 3})
        again.raise_for_status()
        show_prediction("the same photo again", again.json())

        # The photo alone as the body: an image type, an alias (image/jpg) or
        # application/octet-stream; the server tells the format from the bytes.
        for media_type in ("image/jpg", "application/octet-stream"):
            raw = http.post("/v1/predict", content=photo, headers={"Content-Type": media_type})
            raw.raise_for_status()
            show_prediction(f"the same photo as the raw body, {media_type}", raw.json())

        # locate=auto (the default) finds the amulet and judges its crop; off judges the
        # whole photo, for photos already cropped tight.
        table = {"front": ("table.jpg", on_a_table(photo), "image/jpeg")}
        for mode in ("auto", "off"):
            placed = http.post("/v1/predict", files=table, params={"locate": mode})
            placed.raise_for_status()
            show_prediction(f"the photo placed on a table, locate={mode}", placed.json())

        odd = http.post(
            "/v1/predict", files={"front": ("chart.jpg", not_an_amulet(), "image/jpeg")}
        )
        odd.raise_for_status()
        show_prediction("a colour chart, not an amulet", odd.json())
        verdict = "flagged unknown" if odd.json()["unknown"]["is_unknown"] else "NOT flagged"
        print(f"-> the non-amulet picture was {verdict}")

        bad = http.post("/v1/predict", files={"front": ("x.jpg", b"<html>not a photo</html>")})
        print(f"HTML posing as a JPEG -> {bad.status_code} {bad.json()['error']}")

        health = http.get("/health").json()
        print("GET /health ->")
        print(json.dumps(health, indent=2, ensure_ascii=False))


def demo_client(base_url: str, api_key: str | None) -> None:
    section("AmuletClient: the Python client (pooled, retries, circuit breaker)")
    from amulet_ai.client import AmuletClient

    with AmuletClient(base_url, api_key=api_key) as client:
        photo, where = sample_photo()
        result = client.predict(photo)
        print(f"client.predict({where!r}) -> {result.top1.class_id}, cached={result.cached}")
        catalog = client.classes()
        print(f"client.classes() -> {[c.id for c in catalog.classes]}")
        print(f"client.health().status -> {client.health().status}")
        limits = client.model_info().limits
        print(
            f"client.model_info().limits -> {limits.max_upload_mb:g} MB per photo, "
            f"{limits.max_batch_files} files per batch"
        )
        show_mask(client.predict(on_a_table(photo), mask=True))


def show_mask(result: Any) -> None:
    """The localiser's mask of a located photo (``mask=True``): a small 1-bit PNG over the
    whole photo, stretched onto it; how much of the box it covers, and of the rest."""
    from amulet_ai.imaging.masks import mask_from_data_url

    location = result.images.front.location
    if location is None or location.mask is None or location.box is None:
        print(f"client.predict(table photo, mask=True) -> no mask ({location})")
        return
    shape, box = location.mask, location.box
    mask = mask_from_data_url(shape.image)
    sx, sy = shape.width / box.image_width, shape.height / box.image_height
    left, top = round(box.x * sx), round(box.y * sy)
    right, bottom = round((box.x + box.width) * sx), round((box.y + box.height) * sy)
    inside = np.zeros_like(mask)
    inside[top:bottom, left:right] = True
    print(
        f"client.predict(table photo, mask=True) -> location.mask {shape.width} x "
        f"{shape.height} PNG ({len(shape.image):,} characters) over the "
        f"{box.image_width} x {box.image_height} photo; on: {mask[inside].mean():.0%} of the "
        f"box, {mask[~inside].mean():.1%} of the photo outside it"
    )


def demo_rate_limit(log: Any) -> None:
    section("Rate limiting: an API of its own with AMULET_RATE_LIMIT=5/minute")
    limited = ApiProcess(
        free_port(), env={"AMULET_RATE_LIMIT": "5/minute", "AMULET_API_KEYS": ""}, output=log
    )
    with limited as api, httpx.Client(base_url=api.url, timeout=10) as http:
        for attempt in range(1, 8):
            response = http.get("/v1/classes")
            remaining = response.headers.get("RateLimit-Remaining")
            retry_after = response.headers.get("Retry-After")
            extra = f", Retry-After {retry_after} s" if retry_after else ""
            print(f"request {attempt}: {response.status_code} (remaining {remaining}{extra})")
        print(f"the refusal: {response.json()['error']}")
        # The page sits on 127.0.0.1, the address the API believes X-Forwarded-For from
        # (AMULET_FORWARDED_ALLOW_IPS): each collector it forwards has a limit of its own.
        for collector in ("198.51.100.7", "198.51.100.8"):
            forwarded = {"X-Forwarded-For": collector}
            statuses = [http.get("/v1/classes", headers=forwarded).status_code for _ in range(6)]
            print(f"collector {collector} through the page: {statuses}")


def demo_saved_work(log: Any) -> None:
    section("Saved work: owners' keys, history, feedback, a collection, enrolled types, export")
    from amulet_ai.client import AmuletClient
    from amulet_ai.store import Database, Store, export_feedback, upgrade

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/amulet.db"
        store = Store(Database(url))
        upgrade(store.db)  # what `production_runner.py db upgrade` does
        # What `production_runner.py keys create --owner NAME` does: the key is shown once.
        ann = {"X-API-Key": store.keys.create("ann").key}
        bob = {"X-API-Key": store.keys.create("bob").key}
        print(f"keys: {[(k.owner, k.prefix + '...', k.scopes) for k in store.keys.list()]}")
        env = {"AMULET_DATABASE_URL": url, "AMULET_HISTORY": "photos", "AMULET_RATE_LIMIT": ""}
        with (
            ApiProcess(free_port(), env=env, output=log) as api,
            httpx.Client(base_url=api.url, timeout=30) as http,
        ):
            photo, where = sample_photo()
            files = {"front": ("front.jpg", photo, "image/jpeg")}
            print(f"no key -> {http.get('/v1/history').status_code} (keys exist now)")
            saved = http.post("/v1/predict?save=true", files=files, headers=ann).json()
            item = saved["history_id"]
            print(f"POST /v1/predict?save=true ({where}) -> history_id {item}")
            page = http.get("/v1/history", headers=ann).json()
            entry = page["items"][0]
            print(f"GET /v1/history -> {len(page['items'])} item: {entry['top1']['class_id']}, "
                  f"photos {entry['photos']}, thumbnail {entry['thumbnail_url']}")  # fmt: skip
            thumb = http.get(entry["thumbnail_url"], headers=ann)
            print(f"the thumbnail: {thumb.headers['content-type']}, {len(thumb.content):,} bytes")
            classes = [c["id"] for c in http.get("/v1/classes", headers=ann).json()["classes"]]
            right = next(c for c in classes if c != entry["top1"]["class_id"])
            wrong = {"correct": False, "class_id": right}
            fb = http.post(f"/v1/history/{item}/feedback", json=wrong, headers=ann).json()
            print(f"feedback 'this answer is wrong, it is {right}' -> {fb['class_id']}")
            other = http.get(f"/v1/history/{item}", headers=bob)
            print(f"another owner's id -> {other.status_code} {other.json()['error']['code']}")
            piece = http.post(
                "/v1/pieces",
                files={**files, "name": (None, "Grandfather's"), "notes": (None, "ตลาดพระ 2530")},
                headers=ann,
            ).json()
            print(f"POST /v1/pieces -> piece {piece['id']} {piece['name']!r}: "
                  f"{piece['top1']['class_id']}")  # fmt: skip
            print(f"bob's pieces: {http.get('/v1/pieces', headers=bob).json()['items']}")
            # The same through the Python client, with ann's key (what the page does).
            with AmuletClient(api.url, api_key=ann["X-API-Key"]) as client:
                checks = client.history(limit=5).items
                print(f"client.history() -> {[(e.id, e.top1.class_id) for e in checks]}")
                kept = client.history_photo(checks[0].id)
                print(f"client.history_photo({checks[0].id}) -> {len(kept.content):,} bytes")
                pieces = client.pieces().items
                print(f"client.pieces() -> {[(p.id, p.name) for p in pieces]}")
            demo_enrolled_types(http, ann, bob)
        manifest = export_feedback(store.db, Path(folder) / "feedback")
        print(f"export-feedback -> {[e['path'] for e in manifest['entries']]}")
        store.close()


def sideways_photos(count: int) -> list[bytes]:
    """Development photos of one type turned on their side: a stand-in for a new type
    (amulet-like, unlike every training photo); empty without the shared photos."""
    fronts = sorted((SHARED_PHOTOS / "phra_sivali" / "front").glob("*.jpg"))[:count]
    return [jpeg_bytes(Image.open(p).convert("RGB").rotate(90, expand=True)) for p in fronts]


def demo_enrolled_types(http: httpx.Client, ann: dict[str, str], bob: dict[str, str]) -> None:
    """Enrol a type, predict with it, search the collection, delete it."""
    photos = sideways_photos(6)
    if len(photos) < 6:
        print("enrolled types: skipped (needs the development photos in ../shared)")
        return
    files = [("photos", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos[:5])]
    files += [("name_en", (None, b"Sideways Sivali")), ("photos", ("x.txt", b"not a photo"))]
    files += [("photos", ("chart.jpg", not_an_amulet(), "image/jpeg"))]  # no amulet on it
    made = http.post("/v1/types", files=files, headers=ann).json()
    print(f"POST /v1/types -> {made['type_id']} {made['name_en']!r}: {made['photos']} photos, "
          f"rejected {[(r['index'], r['reason']) for r in made['rejected']]}")  # fmt: skip
    print(f"  chart.jpg was not used: {made['rejected'][-1]['message']}")
    probe = {"front": ("probe.jpg", photos[0], "image/jpeg")}
    top1 = http.post("/v1/predict", files=probe, headers=ann).json()["top1"]
    print(f"ann's prediction -> {top1['class_id']} ({top1['source']}, p={top1['probability']})")
    theirs = http.post("/v1/predict", files=probe, headers=bob).json()["top1"]
    print(f"bob's prediction of the same photo -> {theirs['class_id']} ({theirs['source']})")
    similar = http.post("/v1/similar", files={**probe, "limit": (None, b"3")}, headers=ann).json()
    hits = [
        (h["kind"], h["id"], h["distance"], h["name_en"], h["alike"]) for h in similar["results"]
    ]
    print(f"POST /v1/similar -> {hits} of {similar['searched']} photos, status {similar['status']}")
    cut = {"max_distance": similar["alike_distance"]}  # only the alike ones
    alike = http.post("/v1/similar", params=cut, files=probe, headers=ann).json()["results"]
    print(f"  with max_distance={cut['max_distance']} -> {len(alike)} alike photos")
    http.delete(f"/v1/types/{made['type_id']}", headers=ann)
    after = http.post("/v1/predict", files=probe, headers=ann).json()["top1"]
    print(f"after DELETE /v1/types/{made['type_id']} -> {after['class_id']} ({after['source']})")


def api_under_test(log: Any) -> tuple[str, str | None, ApiProcess | None]:
    """The API at AMULET_PUBLIC_URL when it is healthy, else one started here."""
    settings = get_settings()
    key = settings.frontend_api_key.get_secret_value() if settings.frontend_api_key else None
    probe = probe_health(settings.public_url, timeout_s=2.0, api_key=key)
    if probe.exit_code in (0, 1):
        print(f"\nusing the API already running at {settings.public_url} ({probe.status})")
        return settings.public_url.rstrip("/"), key, None
    api = ApiProcess(free_port(), env={"AMULET_RATE_LIMIT": "", "AMULET_API_KEYS": ""}, output=log)
    started = time.perf_counter()
    api.start()
    api.wait_ready()
    print(
        f"\nno API at {settings.public_url} ({probe.status}); started one at {api.url} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return api.url, None, api


def main() -> int:
    # Log lines (stderr) and printed lines (stdout) appear in the order they happen.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    configure_logging("WARNING", "text")
    demo_cache()
    demo_streaming()
    demo_gc_manager()
    demo_memory_limit()
    demo_locks()
    demo_atomic_and_structures()
    demo_retry()
    demo_circuit_breaker()

    with tempfile.TemporaryFile() as log:
        base_url, key, started = api_under_test(log)
        try:
            demo_api(base_url, key)
            demo_client(base_url, key)
            demo_pool(base_url)
        finally:
            if started is not None:
                started.stop()
        demo_rate_limit(log)
        demo_saved_work(log)
        log.seek(0)
        access = [
            line for line in log.read().decode().splitlines() if "amulet_ai.api.access" in line
        ]
        section("The API's log: one line per request")
        print(
            "\n".join(access[-6:]) if access else "(the API here is not ours: its log is elsewhere)"
        )
    print("\nall examples ran")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
