"""Shared counters, dictionaries and queues that stay correct under real threads.

Every operation takes a lock, so the guarantees hold on the free-threaded interpreter too,
where the GIL no longer makes single bytecodes atomic.

Example::

    >>> hits = AtomicCounter()
    >>> hits.increment()
    1
    >>> seen = ThreadSafeDict[str, int]()
    >>> seen.set("a", 1)
    >>> seen.items()
    [('a', 1)]
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class AtomicCounter:
    """An integer that many threads may change at once without losing updates.

    Example::

        >>> counter = AtomicCounter()
        >>> counter.increment(), counter.increment(5), counter.decrement()
        (1, 6, 5)
        >>> counter.value
        5
    """

    def __init__(self, initial: int = 0) -> None:
        self._value = initial
        self._lock = threading.Lock()

    def increment(self, n: int = 1) -> int:
        """Add ``n`` and return the new value."""
        with self._lock:
            self._value += n
            return self._value

    def decrement(self, n: int = 1) -> int:
        """Subtract ``n`` and return the new value."""
        with self._lock:
            self._value -= n
            return self._value

    @property
    def value(self) -> int:
        """The current value."""
        with self._lock:
            return self._value

    def reset(self, value: int = 0) -> int:
        """Set the value and return the one it replaced."""
        with self._lock:
            old, self._value = self._value, value
            return old

    def __repr__(self) -> str:
        return f"AtomicCounter({self.value})"


class ThreadSafeDict(Generic[K, V]):
    """A dictionary whose every operation, read-modify-write included, holds one lock.

    ``items()``, ``keys()`` and ``values()`` return snapshots (lists), so callers can
    iterate while other threads keep writing.

    Example::

        >>> d = ThreadSafeDict[str, int]()
        >>> d.set("requests", 0)
        >>> d.update("requests", lambda n: (n or 0) + 1)
        1
        >>> d.pop("requests"), len(d)
        (1, 0)
    """

    def __init__(self, initial: dict[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(initial or {})
        self._lock = threading.Lock()

    def set(self, key: K, value: V) -> None:
        """Store ``value`` under ``key``."""
        with self._lock:
            self._data[key] = value

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value under ``key``, or ``default``."""
        with self._lock:
            return self._data.get(key, default)

    def pop(self, key: K, default: V | None = None) -> V | None:
        """Remove ``key`` and return its value, or ``default`` when absent."""
        with self._lock:
            return self._data.pop(key, default)

    def setdefault(self, key: K, default: V) -> V:
        """The value under ``key``; store and return ``default`` when absent."""
        with self._lock:
            return self._data.setdefault(key, default)

    def update(self, key: K, fn: Callable[[V | None], V]) -> V:
        """Replace the value under ``key`` by ``fn(old)`` atomically; return the new value.

        ``fn`` runs under the lock: keep it short and never touch this dict from it.
        """
        with self._lock:
            new = fn(self._data.get(key))
            self._data[key] = new
            return new

    def items(self) -> list[tuple[K, V]]:
        """A snapshot of the pairs."""
        with self._lock:
            return list(self._data.items())

    def keys(self) -> list[K]:
        """A snapshot of the keys."""
        with self._lock:
            return list(self._data)

    def values(self) -> list[V]:
        """A snapshot of the values."""
        with self._lock:
            return list(self._data.values())

    def clear(self) -> None:
        """Remove everything."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __repr__(self) -> str:
        return f"ThreadSafeDict({dict(self.items())!r})"


class ThreadSafeQueue(Generic[T]):
    """A bounded FIFO queue shared by threads.

    ``put``/``get`` block the calling thread (with a timeout); a timeout raises the standard
    ``queue.Full`` / ``queue.Empty``.

    Example::

        >>> q = ThreadSafeQueue[int](maxsize=2)
        >>> q.put(1); q.put(2)
        >>> q.full(), q.get(), q.qsize()
        (True, 1, 1)
    """

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def _is_full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def _push(self, item: T) -> None:
        self._items.append(item)
        self._not_empty.notify()

    def _take(self) -> T:
        item = self._items.popleft()
        self._not_full.notify()
        return item

    def put(self, item: T, timeout: float | None = None) -> None:
        """Append ``item``, waiting up to ``timeout`` seconds for room (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_full:
            while self._is_full():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Full
                self._not_full.wait(remaining)
            self._push(item)

    def get(self, timeout: float | None = None) -> T:
        """Remove and return the oldest item, waiting up to ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_empty:
            while not self._items:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Empty
                self._not_empty.wait(remaining)
            return self._take()

    def put_nowait(self, item: T) -> None:
        """Append ``item`` or raise ``queue.Full`` at once."""
        self.put(item, timeout=0)

    def get_nowait(self) -> T:
        """Remove and return the oldest item or raise ``queue.Empty`` at once."""
        return self.get(timeout=0)

    def qsize(self) -> int:
        """Items waiting now."""
        with self._lock:
            return len(self._items)

    def empty(self) -> bool:
        """True when no item waits."""
        return self.qsize() == 0

    def full(self) -> bool:
        """True when a ``put`` would wait."""
        with self._lock:
            return self._is_full()

    def __len__(self) -> int:
        return self.qsize()
