"""The runtime toolkit: caches, pooled HTTP, streaming, memory control, concurrency, errors.

Every piece is small and built on the standard library plus cachetools, httpx, psutil and
tenacity::

    ImageCache, ByteBudgetCache        TTL + LRU caches bounded by bytes       (cache)
    ConnectionPool, SyncConnectionPool pooled httpx clients                    (pool)
    StreamingFileHandler               chunked, hashed, capped reads; mmap      (streaming)
    GarbageCollectionManager           RSS watcher: gc.collect + cache shrink   (gc_manager)
    memory_limit_context               RSS-growth limit for a block             (memory)
    LockManager, lock_manager          named locks in one global order          (locks)
    AtomicCounter, ThreadSafeDict,     structures shared by threads/coroutines  (atomic)
    ThreadSafeQueue
    retrying, async_retrying,          tenacity policies honouring Retry-After  (retry)
    with_retries
    CircuitBreaker                     closed / open / half-open                (circuit)
    AmuletError and below              the one exception hierarchy              (errors)

Example::

    >>> from amulet_ai.runtime import AtomicCounter, lock_manager
    >>> served = AtomicCounter()
    >>> with lock_manager.acquire_lock("global_data", timeout=1.0):
    ...     served.increment()
    1
"""

from amulet_ai.errors import (
    AmuletError,
    CircuitOpen,
    CorruptImage,
    CorsRejected,
    Forbidden,
    ImageTooLarge,
    InvalidInput,
    LockTimeout,
    MemoryLimitExceeded,
    MemoryPressure,
    MethodNotAllowed,
    ModelUnavailable,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    ShuttingDown,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
    error_for_code,
)
from amulet_ai.runtime.atomic import AtomicCounter, ThreadSafeDict, ThreadSafeQueue
from amulet_ai.runtime.cache import (
    ByteBudgetCache,
    CachedImage,
    CacheStats,
    ImageCache,
    content_key,
    decode_base64,
    encode_base64,
)
from amulet_ai.runtime.circuit import (
    CircuitBreaker,
    CircuitState,
    CircuitStats,
    is_upstream_failure,
)
from amulet_ai.runtime.gc_manager import GarbageCollectionManager, GcStats
from amulet_ai.runtime.http_pool import ConnectionPool, PoolOptions, SyncConnectionPool
from amulet_ai.runtime.locks import LockManager, lock_manager
from amulet_ai.runtime.memory import MemoryGuard, memory_limit_context, process_rss
from amulet_ai.runtime.retry import async_retrying, is_retryable, retrying, with_retries
from amulet_ai.runtime.streaming import StreamedFile, StreamingFileHandler

__all__ = [
    "AmuletError",
    "AtomicCounter",
    "ByteBudgetCache",
    "CacheStats",
    "CachedImage",
    "CircuitBreaker",
    "CircuitOpen",
    "CircuitState",
    "CircuitStats",
    "ConnectionPool",
    "CorruptImage",
    "CorsRejected",
    "Forbidden",
    "GarbageCollectionManager",
    "GcStats",
    "ImageCache",
    "ImageTooLarge",
    "InvalidInput",
    "LockManager",
    "LockTimeout",
    "MemoryGuard",
    "MemoryLimitExceeded",
    "MemoryPressure",
    "MethodNotAllowed",
    "ModelUnavailable",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PoolOptions",
    "RateLimited",
    "ShuttingDown",
    "StreamedFile",
    "StreamingFileHandler",
    "SyncConnectionPool",
    "ThreadSafeDict",
    "ThreadSafeQueue",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "ValidationFailed",
    "async_retrying",
    "content_key",
    "decode_base64",
    "encode_base64",
    "error_for_code",
    "is_retryable",
    "is_upstream_failure",
    "lock_manager",
    "memory_limit_context",
    "process_rss",
    "retrying",
    "with_retries",
]
