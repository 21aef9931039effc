"""A tiny "seen before?" store shared by the JWT replay check and the cross-hook card memory.

In-process (a TTL dict behind a lock) by default; Redis (``SET key 1 NX EX ttl``) when ``redis_url``
is configured, so every gunicorn worker sees the same ``jti`` values and card fingerprints. With the
in-process store each worker only knows its own calls: fine for one worker, documented as a limit for
several (the architecture's answer is Redis).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class SharedCache(Protocol):
    def add(self, key: str, ttl_s: float) -> bool:
        """Store ``key`` for ``ttl_s`` seconds; True when it was not already present (atomic)."""
        ...

    def contains(self, key: str) -> bool: ...


class InProcessCache:
    """TTL set for one process; expired keys are purged lazily on write."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max = max_keys

    def add(self, key: str, ttl_s: float) -> bool:
        now = time.monotonic()
        with self._lock:
            exp = self._expiry.get(key)
            if exp is not None and exp > now:
                return False
            if len(self._expiry) >= self._max:
                self._purge(now)
            self._expiry[key] = now + max(ttl_s, 1.0)
            return True

    def contains(self, key: str) -> bool:
        exp = self._expiry.get(key)
        return exp is not None and exp > time.monotonic()

    def _purge(self, now: float) -> None:
        for k in [k for k, e in self._expiry.items() if e <= now]:
            del self._expiry[k]
        if len(self._expiry) >= self._max:
            # Still full of live keys: drop the soonest-expiring half rather than grow without bound.
            for k, _ in sorted(self._expiry.items(), key=lambda kv: kv[1])[: self._max // 2]:
                del self._expiry[k]


class RedisCache:
    """The same contract on Redis (shared by all workers and hosts)."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._ns = namespace

    def add(self, key: str, ttl_s: float) -> bool:
        return bool(self._redis.set(f"{self._ns}:{key}", b"1", nx=True, ex=max(int(ttl_s + 0.999), 1)))

    def contains(self, key: str) -> bool:
        return bool(self._redis.exists(f"{self._ns}:{key}"))


def make_cache(redis_url: str | None, namespace: str) -> SharedCache:
    """Redis when configured, otherwise an in-process cache."""
    if redis_url:
        return RedisCache(redis_url, f"evidence-cds:{namespace}")
    return InProcessCache()
