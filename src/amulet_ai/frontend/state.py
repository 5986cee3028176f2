"""What the page remembers within one browser session.

Results are kept under a hash of the photos (front, back) and the options, so a rerun with
the same photo shows the stored answer and makes no API call. A back photo added to the front
of the newest history entry turns that entry into one for both sides, not a second entry.
Thumbnails for the history are kept in the runtime's :class:`ImageCache` and shown as base64
``data:`` URIs. The health report, the catalog and the model's details are remembered for a
short while, so reruns do not poll the API.

Nothing here imports Streamlit: the page hands in ``st.session_state``, tests a plain dict.

Example::

    >>> session = get_session({})
    >>> key = photo_key(b"front bytes", None, explain=True)
    >>> session.result(key) is None
    True
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from cachetools import TTLCache

from amulet_ai.api.schemas import PredictResponse
from amulet_ai.errors import AmuletError
from amulet_ai.imaging.decode import decode_image
from amulet_ai.runtime.cache import ByteBudgetCache, ImageCache

SESSION_KEY: Final = "amulet_page_session"
RESULTS_MAX_MB: Final = 32.0
RESULTS_TTL_S: Final = 6 * 3600.0
THUMBNAILS_MAX_MB: Final = 8.0
THUMBNAIL_PX: Final = 96
HISTORY_MAX: Final = 50
SAVED_PHOTOS_MAX: Final = 256
CLOSEST_MAX: Final = 64
# How long the page trusts a health report, the catalog or the model details before asking again.
SERVICE_INFO_TTL_S: Final = 30.0

T = TypeVar("T")


def photo_key(front: bytes, back: bytes | None, *, explain: bool, locate: str = "auto") -> str:
    """A key for one question to the API: both photos' SHA-256 and the options.

    >>> photo_key(b"a", None, explain=False) == photo_key(b"a", None, explain=False)
    True
    >>> photo_key(b"a", b"b", explain=False) == photo_key(b"a", None, explain=False)
    False
    >>> photo_key(b"a", None, explain=False) == photo_key(b"a", None, explain=False, locate="off")
    False
    """
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(front).digest())
    digest.update(hashlib.sha256(back).digest() if back is not None else b"-")
    digest.update(b"explain" if explain else b"plain")
    digest.update(f"locate={locate}".encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One answer shown in this session, newest first in :attr:`PageSession.history`."""

    key: str
    front_digest: str
    with_back: bool
    thumbnail_key: str | None
    class_id: str
    name_th: str
    name_en: str
    probability: float
    is_unknown: bool
    elapsed_ms: float
    created_at: float
    status: str = "ok"  # not "ok": the photo could not be judged (no type is named)


@dataclass(frozen=True, slots=True)
class Answer:
    """A result and how it was obtained."""

    response: PredictResponse
    elapsed_ms: float
    from_session: bool


def _result_size(answer: Answer) -> int:
    return len(answer.response.model_dump_json())


def square_picture(photo: bytes, size: int = THUMBNAIL_PX) -> bytes | None:
    """The square centre of ``photo`` that the model sees, as a JPEG of ``size`` pixels.

    It goes through the one decoding path, so a preview shows what is classified; None
    when the photo cannot be decoded (the API will say why).
    """
    try:
        decoded = decode_image(photo, size=size)
    except AmuletError:
        return None
    buffer = io.BytesIO()
    decoded.image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@dataclass
class PageSession:
    """Results by photo key, thumbnails and the history of one browser session."""

    results: ByteBudgetCache[str, Answer] = field(
        default_factory=lambda: ByteBudgetCache(
            int(RESULTS_MAX_MB * 1024 * 1024), RESULTS_TTL_S, getsizeof=_result_size
        )
    )
    thumbnails: ImageCache = field(
        default_factory=lambda: ImageCache(max_mb=THUMBNAILS_MAX_MB, ttl_s=RESULTS_TTL_S)
    )
    history: list[HistoryEntry] = field(default_factory=list)
    service_info: TTLCache[str, Any] = field(
        default_factory=lambda: TTLCache(maxsize=8, ttl=SERVICE_INFO_TTL_S)
    )
    # Thumbnails of saved checks and pieces from the API, by route: they never change.
    saved_photos: TTLCache[str, bytes] = field(
        default_factory=lambda: TTLCache(maxsize=SAVED_PHOTOS_MAX, ttl=RESULTS_TTL_S)
    )
    # The API refused to save checks (history off, or the page's key may not save).
    saving_refused: bool = False
    # What this session did to saved work, shown once: the photo keys saved as pieces.
    pieces_saved: dict[str, str] = field(default_factory=dict)
    # "Closest in your collection" by photo key: asked once, as it runs the model again.
    closest: TTLCache[str, Any] = field(
        default_factory=lambda: TTLCache(maxsize=CLOSEST_MAX, ttl=RESULTS_TTL_S)
    )

    def result(self, key: str) -> Answer | None:
        """The stored answer for ``key``, marked as coming from this session."""
        answer = self.results.get(key)
        if answer is None:
            return None
        return Answer(answer.response, answer.elapsed_ms, from_session=True)

    def remember(self, key: str, answer: Answer, front: bytes) -> None:
        """Store a fresh answer and add it to the history with a thumbnail of the front.

        When the newest entry is this same front alone and this answer adds the back, the
        entry is replaced: one piece, one entry, marked as using both sides.
        """
        self.results.set(key, answer)
        front_digest = hashlib.sha256(front).hexdigest()
        with_back = answer.response.images.back is not None
        newest = self.history[0] if self.history else None
        if newest and newest.front_digest == front_digest and with_back and not newest.with_back:
            del self.history[0]
            thumbnail_key = newest.thumbnail_key
        else:
            thumbnail = square_picture(front)
            thumbnail_key = None
            if thumbnail is not None:
                thumbnail_key = self.thumbnails.cache_image(thumbnail, "thumbnail.jpg")
        top1 = answer.response.top1
        entry = HistoryEntry(
            key=key,
            front_digest=front_digest,
            with_back=with_back,
            thumbnail_key=thumbnail_key,
            class_id=top1.class_id,
            name_th=top1.name_th,
            name_en=top1.name_en,
            probability=top1.probability,
            is_unknown=answer.response.unknown.is_unknown,
            elapsed_ms=answer.elapsed_ms,
            created_at=time.time(),
            status=answer.response.status,
        )
        self.history.insert(0, entry)
        del self.history[HISTORY_MAX:]

    def thumbnail_uri(self, entry: HistoryEntry) -> str | None:
        """The entry's thumbnail as a ``data:`` URI, or None when it is gone."""
        if entry.thumbnail_key is None:
            return None
        image = self.thumbnails.get_image(entry.thumbnail_key)
        return None if image is None else image.data_uri()

    def clear_history(self) -> None:
        """Forget the history and its thumbnails.

        Stored results stay: the photo still on the page must not be sent again (and
        re-enter the history) on the rerun that the button itself causes.
        """
        self.history.clear()
        self.thumbnails.clear()

    def service_value(self, name: str, fetch: Callable[[], T], *, refresh: bool = False) -> T:
        """``fetch()``'s value, remembered for :data:`SERVICE_INFO_TTL_S`; errors are not kept."""
        if not refresh and name in self.service_info:
            value: T = self.service_info[name]
            return value
        value = fetch()
        self.service_info[name] = value
        return value


def get_session(state: MutableMapping[Any, Any]) -> PageSession:
    """The :class:`PageSession` kept in ``state`` (``st.session_state``), made on first use."""
    session = state.get(SESSION_KEY)
    if not isinstance(session, PageSession):
        session = PageSession()
        state[SESSION_KEY] = session
    return session
