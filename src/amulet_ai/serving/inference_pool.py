"""A bounded pool of inference threads with a bounded wait queue.

Decoding and the model run on these threads, never on the event loop. At most
``workers + queue_size`` jobs are admitted at once; one more is refused at once with
:class:`~amulet_ai.errors.Overloaded` (503, ``Retry-After``), and a job that waits
longer than ``queue_timeout_s`` for a worker is withdrawn with the same error. onnxruntime
and Pillow release the GIL while they work, so the threads run in parallel.

Example::

    >>> import asyncio
    >>> pool = InferencePool(workers=2, queue_size=4, queue_timeout_s=1.0)
    >>> asyncio.run(pool.run(lambda: 6 * 7))
    42
    >>> pool.shutdown()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from amulet_ai.errors import Overloaded, ShuttingDown
from amulet_ai.runtime.atomic import AtomicCounter

T = TypeVar("T")


class InferencePool:
    """Runs blocking jobs on ``workers`` threads, admitting ``queue_size`` more to wait."""

    def __init__(
        self,
        workers: int,
        queue_size: int,
        queue_timeout_s: float,
        *,
        on_queue_wait: Callable[[float], None] | None = None,
    ) -> None:
        if workers < 1 or queue_size < 0 or queue_timeout_s <= 0:
            raise ValueError("workers >= 1, queue_size >= 0 and queue_timeout_s > 0")
        self.workers = workers
        self.capacity = workers + queue_size
        self.queue_timeout_s = queue_timeout_s
        self._on_queue_wait = on_queue_wait
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="amulet-infer")
        # Submitted jobs not yet done (running or waiting); shared by the event loop and
        # the worker threads that finish jobs.
        self._pending = AtomicCounter()

    @property
    def pending(self) -> int:
        """Jobs running or waiting now."""
        return self._pending.value

    def check_admission(self) -> None:
        """Refuse at once, before any upload is read, while the pool and queue are full.

        A request refused here costs the event loop nothing: under overload the body of a
        request that would be refused anyway is never parsed. ``run`` still makes the
        binding decision, since the pool may fill between this check and the job.
        """
        if self._pending.value >= self.capacity:
            raise Overloaded("Every inference worker is busy and the queue is full.")

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` on a worker and return its result (or raise its exception).

        Raises:
            Overloaded: the pool and its queue are full, or no worker freed up in time.
            ShuttingDown: the pool has been shut down.
        """
        if self._pending.increment() > self.capacity:
            self._pending.decrement()
            raise Overloaded("Every inference worker is busy and the queue is full.")
        submitted = time.perf_counter()

        def timed() -> T:
            if self._on_queue_wait is not None:
                self._on_queue_wait(time.perf_counter() - submitted)
            return job()

        try:
            future: Future[T] = self._executor.submit(timed)
        except RuntimeError as exc:  # submit after shutdown
            self._pending.decrement()
            raise ShuttingDown() from exc
        future.add_done_callback(self._job_done)
        waiter = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=self.queue_timeout_s)
        except asyncio.CancelledError:
            future.cancel()  # the client left; drop the job if it has not started
            raise
        if not done and future.cancel():
            raise Overloaded(f"No inference worker became free within {self.queue_timeout_s:g} s.")
        return await waiter

    def _job_done(self, _: Future[Any]) -> None:
        self._pending.decrement()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking jobs; drop the queued ones; with ``wait``, let running ones end."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
