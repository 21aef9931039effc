"""Content-addressed cache of validated FHIR R4B resources (per worker process, short TTL).

One chart event reaches several services with overlapping prefetch (the same Patient, medications
and labs), and order-select fires again on every selection: validating the same JSON with
``fhir.resources`` each time is most of a hook call's CPU. Resources are keyed by a digest of their
canonical JSON, so only byte-for-byte equal content is shared; anything changed is validated anew.
Entries expire after ``ttl_s`` (patient data should not linger in memory) and invalid resources are
never cached. Cached models are shared between requests: handlers treat prefetch as read-only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cachetools import TTLCache
from fhir.resources.R4B.resource import Resource


class ParsedResourceCache:
    def __init__(self, maxsize: int, ttl_s: float) -> None:
        self._cache: TTLCache[bytes, Resource] = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def parse(self, raw: Mapping[str, Any], parse: Callable[[Mapping[str, Any]], Resource]) -> Resource:
        """``parse(raw)``, or the model parsed earlier from identical JSON."""
        try:
            text = json.dumps(raw, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return parse(raw)  # not canonical JSON: validate without caching
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self.hits += 1
                return found
        model = parse(raw)
        with self._lock:
            self.misses += 1
            self._cache[key] = model
        return model
