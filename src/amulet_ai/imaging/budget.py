"""A byte budget that decodes running at once share: each waits, in turn, until its share is free.

The per-decode bound (``AMULET_DECODE_MEMORY_LIMIT_MB``) refuses a photo whose decode alone
would hold more; this bounds what the decodes of one process hold together, so that the
inference workers decoding three large photos at once cannot add three times the bound to
the process's memory. A photo is still refused only for its own size: a decode that fits
the bound but not what is free waits for the others to finish, it is not refused.

Shares are handed out first come, first served: a decode that does not fit yet holds its
place at the head of the line, and the decodes that arrive after it wait behind it even
where they would fit, so a stream of small decodes cannot keep a large one waiting for
ever. A wait is bounded by ``wait_s`` (none by default): a decode that is still not let in
then gives up its place in the line and raises 503 ``memory_pressure``, and the one behind
it moves up. A share of 0 bytes holds nothing and never waits.

Example::

    >>> budget = MemoryBudget(100)
    >>> with budget.hold(60):
    ...     budget.free
    40
    >>> budget.free
    100
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from amulet_ai.errors import MemoryPressure


class MemoryBudget:
    """``total`` bytes, handed out by :meth:`hold` in arrival order and waited for when short."""

    def __init__(self, total: int, *, wait_s: float | None = None) -> None:
        self.total = total
        self.wait_s = wait_s
        self._free = total
        self._changed = threading.Condition()
        # One token per decode waiting for its share, in arrival order.
        self._line: deque[object] = deque()

    @property
    def free(self) -> int:
        with self._changed:
            return self._free

    @property
    def waiting(self) -> int:
        """How many decodes are in line for their share now."""
        with self._changed:
            return len(self._line)

    def _take(self, share: int, timeout: float | None) -> None:
        # Called holding the condition's lock.
        if share == 0 or (not self._line and self._free >= share):
            self._free -= share
            return
        token = object()
        self._line.append(token)
        try:
            let_in = self._changed.wait_for(
                lambda: self._line[0] is token and self._free >= share, timeout
            )
            if not let_in:
                raise MemoryPressure(
                    f"No room to decode the image within {timeout:g} s: other images are "
                    "being decoded.",
                    retry_after=1.0,
                )
            self._free -= share
        finally:
            self._line.remove(token)
            # The next in line (or, with the line empty, anyone) may fit now.
            self._changed.notify_all()

    @contextmanager
    def hold(self, nbytes: int, *, timeout: float | None = None) -> Iterator[None]:
        """Hold ``nbytes`` (at most the whole budget) while the block runs, waiting first,
        behind the decodes that came before, until that much is free.

        Raises:
            MemoryPressure: not let in within ``timeout`` (default: the budget's
                ``wait_s``; None waits as long as it takes).
        """
        share = max(0, min(nbytes, self.total))
        with self._changed:
            self._take(share, self.wait_s if timeout is None else timeout)
        try:
            yield
        finally:
            with self._changed:
                self._free += share
                self._changed.notify_all()
