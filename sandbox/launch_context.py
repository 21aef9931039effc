"""EHR launch contexts: the opaque ``launch`` value the EHR hands the app, and what it stands for.

The EHR shell creates one when it opens the app for a chart (SMART App Launch 2.2 §EHR launch); the
authorization server resolves it when the app asks for scope ``launch`` and returns ``patient`` /
``encounter`` (and the vendor flavour's quirks) in the token response.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

FLAVOURS = ("generic", "epic", "cerner")


@dataclass(frozen=True)
class LaunchContext:
    launch_id: str
    patient_id: str
    encounter_id: str | None
    user_id: str  # a Practitioner id: the signed-in clinician
    flavour: str
    app_context: str | None = None
    created_at: float = field(default_factory=time.time)


class LaunchRegistry:
    """Thread-safe, expiring map of launch id → context (10 minutes by default)."""

    def __init__(self, ttl_s: float = 600.0) -> None:
        self._ttl = ttl_s
        self._items: dict[str, LaunchContext] = {}
        self._lock = threading.Lock()

    def create(
        self,
        patient_id: str,
        encounter_id: str | None,
        user_id: str,
        flavour: str = "generic",
        app_context: str | None = None,
    ) -> LaunchContext:
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}")
        ctx = LaunchContext(
            secrets.token_urlsafe(16), patient_id, encounter_id, user_id, flavour, app_context
        )
        with self._lock:
            self._items[ctx.launch_id] = ctx
        return ctx

    def resolve(self, launch_id: str) -> LaunchContext | None:
        with self._lock:
            ctx = self._items.get(launch_id)
            if ctx and time.time() - ctx.created_at > self._ttl:
                del self._items[launch_id]
                return None
            return ctx
