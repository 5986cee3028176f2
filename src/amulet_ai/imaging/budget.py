"""A byte budget that decodes running at once share: each waits until its share is free.

The per-decode bound (``AMULET_DECODE_MEMORY_LIMIT_MB``) refuses a photo whose decode alone
would hold more; this bounds what the decodes of one process hold together, so that the
inference workers decoding three large photos at once cannot add three times the bound to
the process's memory. A photo is still refused only for its own size: a decode that fits
the bound but not what is free waits for the others to finish, it is not refused.

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
from collections.abc import Iterator
from contextlib import contextmanager


class MemoryBudget:
    """``total`` bytes, handed out by :meth:`hold` and waited for when short."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._changed = threading.Condition()

    @property
    def free(self) -> int:
        with self._changed:
            return self._free

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` (at most the whole budget) while the block runs, waiting first
        until that much is free."""
        share = max(0, min(nbytes, self.total))
        with self._changed:
            self._changed.wait_for(lambda: self._free >= share)
            self._free -= share
        try:
            yield
        finally:
            with self._changed:
                self._free += share
                self._changed.notify_all()
