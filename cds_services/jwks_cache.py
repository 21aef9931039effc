"""JWKS fetching for the JWT trust check: cached with a TTL, refetched once when a ``kid`` is unknown.

CDS Hooks 2.0 §Trusting CDS Clients: the client publishes its keys at a JWKS URL; keys rotate by
adding a new ``kid``. A token with an unknown ``kid`` therefore triggers one refetch; refetches of one
URL are spaced by a minimum interval, so a flood of made-up kids cannot turn us into a request
amplifier against the EHR (a key published while tokens signed with it were already arriving is
accepted at most that interval late).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from joserfc.jwk import KeySet


class JwksUnavailable(Exception):
    """The JWKS could not be fetched or parsed."""


@dataclass
class _Entry:
    keys: KeySet
    fetched_at: float


def key_set_from_json(data: Any) -> KeySet:
    """Parse a JWKS document; private members are dropped (we only ever verify)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksUnavailable("not a JWKS document")
    public = []
    for jwk in data["keys"]:
        if isinstance(jwk, dict) and jwk.get("kty") in {"EC", "RSA"}:
            public.append({k: v for k, v in jwk.items() if k not in {"d", "p", "q", "dp", "dq", "qi"}})
    try:
        return KeySet.import_key_set({"keys": public})
    except Exception as err:  # joserfc raises several types for malformed keys
        raise JwksUnavailable(f"invalid key in JWKS ({type(err).__name__})") from err


def find_key(keys: KeySet, kid: str) -> Any | None:
    for key in keys.keys:
        if key.kid == kid:
            return key
    return None


class JwksCache:
    """Thread-safe JWKS cache keyed by URL."""

    def __init__(self, ttl_s: float, timeout_s: float, min_refetch_interval_s: float) -> None:
        self._ttl = ttl_s
        self._timeout = timeout_s
        self._min_interval = min_refetch_interval_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def key_for(self, url: str, kid: str) -> Any | None:
        """The key with ``kid`` from the JWKS at ``url`` (refetched once if the kid is not cached)."""
        now = time.monotonic()
        entry = self._entries.get(url)
        if entry is None or now - entry.fetched_at > self._ttl:
            entry = self._refresh(url)
        key = find_key(entry.keys, kid)
        if key is None and now - entry.fetched_at >= self._min_interval:
            key = find_key(self._refresh(url).keys, kid)
        return key

    def _refresh(self, url: str) -> _Entry:
        try:
            resp = requests.get(url, timeout=self._timeout, headers={"Accept": "application/json"})
        except requests.RequestException as err:
            raise JwksUnavailable(f"JWKS fetch failed ({type(err).__name__})") from err
        if resp.status_code != 200:
            raise JwksUnavailable(f"JWKS fetch answered HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as err:
            raise JwksUnavailable("JWKS is not JSON") from err
        entry = _Entry(key_set_from_json(data), time.monotonic())
        with self._lock:
            self._entries[url] = entry
        return entry
