"""Per-app state and the HTTP details of living in an EHR iframe: cookie, framing, caching.

The browser cookie holds only an opaque random browser id (never a token, never a session key by
itself): ``HttpOnly``; ``Secure``, ``SameSite=None`` and ``Partitioned`` (CHIPS) so it survives the
cross-site iframe — browsers treat ``http://127.0.0.1`` / ``localhost`` as secure contexts, so the same
attributes work in loopback development; on any other plain-http origin it falls back to
``SameSite=Lax`` without ``Secure`` (which a browser would otherwise drop).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from evidence_cds.settings import Settings
from smart_app import config as cfg
from smart_app.session_store import DbSessionStore, RedisSessionStore, SessionStore

COOKIE_NAME = "evcds_browser"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class SmartState:
    settings: Settings
    store: SessionStore


def init_state(app: Flask) -> SmartState:
    settings: Settings = app.extensions["settings"]
    secret = str(app.config["SECRET_KEY"])
    store: SessionStore
    if settings.redis_url:
        store = RedisSessionStore(settings.redis_url, secret)
    else:
        store = DbSessionStore(app.extensions["db_engine"], secret)
    state = SmartState(settings=settings, store=store)
    app.extensions["smart_app"] = state
    return state


def smart_state(app: Flask | None = None) -> SmartState:
    state: SmartState = (app or current_app).extensions["smart_app"]
    return state


def cookie_secure(settings: Settings) -> bool:
    if settings.smart_cookie_secure is not None:
        return settings.smart_cookie_secure
    parts = urlsplit(settings.public_base_url)
    return parts.scheme == "https" or (parts.hostname or "") in LOOPBACK


def browser_id() -> str | None:
    value = request.cookies.get(COOKIE_NAME)
    return value if value and 20 <= len(value) <= 100 else None


def ensure_browser_id() -> tuple[str, bool]:
    """The browser id, creating one when absent; the flag says the cookie must be set."""
    existing = browser_id()
    if existing:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_browser_cookie(resp: Response, value: str, settings: Settings) -> None:
    secure = cookie_secure(settings)
    resp.set_cookie(
        COOKIE_NAME,
        value,
        max_age=settings.smart_session_ttl_s,
        path="/app/",
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
        partitioned=secure,
    )


def frame_and_cache_headers(resp: Response) -> Response:  # werkzeug base: any response type
    """CSP ``frame-ancestors`` from the configured EHR origins; PHI pages are never cached."""
    settings = smart_state().settings
    origins = " ".join(cfg.ehr_origins(settings))
    resp.headers["Content-Security-Policy"] = (
        f"frame-ancestors 'self' {origins}; default-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; form-action 'self' "
        + " ".join(sorted({_origin(i) for i in cfg.allowed_issuers(settings)}))
    )
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.pop("X-Frame-Options", None)
    return resp


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
