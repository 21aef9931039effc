"""Brute-force brake for the librarian login: failed attempts counted per account and per client IP.

After ``max_failures`` failures within ``window_s`` for the same username, or ``max_failures * 4`` from
the same address (password spraying across accounts), further attempts are refused without checking
the password until the window has passed. In memory, per worker: a brake, not an audit; a success
clears the account's counter. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window_s: float = 900.0, max_keys: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, username: str, ip: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return (
                len(self._recent(f"u:{username.lower()}", now)) >= self.max_failures
                or len(self._recent(f"ip:{ip}", now)) >= self.max_failures * 4
            )

    def failed(self, username: str, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self._max_keys:  # bounded memory under a flood of fresh names
                self._failures.clear()
            for key in (f"u:{username.lower()}", f"ip:{ip}"):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{username.lower()}", None)
