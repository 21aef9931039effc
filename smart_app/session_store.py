"""Server-side store for pending launches (by ``state``) and launched sessions (by per-launch id).

Two backends with one interface: the product database (tables of the ``smart`` migration branch) or
Redis when ``redis_url`` is set (shared by all workers, expiry by TTL). Either way:

* keys are stored as SHA-256 hashes, so a database dump does not yield usable state or session keys;
* payloads (which hold access and refresh tokens) are encrypted with a key derived from the app's
  secret key (Fernet: AES-128-CBC + HMAC-SHA256);
* :meth:`take_pending` is single-use: of two concurrent callbacks with the same ``state`` exactly one
  gets the pending launch (a replayed ``state`` finds nothing).
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import sessionmaker

from smart_app.models_db import SmartPendingLaunchRow, SmartSessionRow
from smart_app.session_models import PendingLaunch, SmartSession


def key_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SessionStore(Protocol):
    def put_pending(self, state: str, pending: PendingLaunch, ttl_s: int) -> None: ...

    def take_pending(self, state: str) -> PendingLaunch | None: ...

    def put_session(self, sid: str, session: SmartSession, ttl_s: int) -> None: ...

    def get_session(self, sid: str) -> SmartSession | None: ...

    def delete_session(self, sid: str) -> None: ...


class _Sealer:
    def __init__(self, secret: str) -> None:
        digest = hashlib.sha256(b"evidence-cds smart session store\x00" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, token: str) -> str | None:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None


class DbSessionStore:
    """Pending launches and sessions in the product database."""

    def __init__(self, engine: Engine, secret: str) -> None:
        self._factory = sessionmaker(engine, expire_on_commit=False)
        self._sealer = _Sealer(secret)

    def put_pending(self, state: str, pending: PendingLaunch, ttl_s: int) -> None:
        now = time.time()
        with self._factory.begin() as db:
            db.execute(delete(SmartPendingLaunchRow).where(SmartPendingLaunchRow.expires_at < now))
            db.add(
                SmartPendingLaunchRow(
                    key_hash=key_hash(state),
                    payload=self._sealer.seal(pending.model_dump_json()),
                    expires_at=now + ttl_s,
                )
            )

    def take_pending(self, state: str) -> PendingLaunch | None:
        h = key_hash(state)
        with self._factory.begin() as db:
            row = db.get(SmartPendingLaunchRow, h)
            if row is None:
                return None
            payload, expires_at = row.payload, row.expires_at
            # The DELETE's rowcount decides which of two racing callbacks wins the state.
            result = db.execute(delete(SmartPendingLaunchRow).where(SmartPendingLaunchRow.key_hash == h))
            if getattr(result, "rowcount", 0) != 1 or expires_at < time.time():
                return None
        text = self._sealer.open(payload)
        return PendingLaunch.model_validate_json(text) if text else None

    def put_session(self, sid: str, session: SmartSession, ttl_s: int) -> None:
        now = time.time()
        h = key_hash(sid)
        sealed = self._sealer.seal(session.model_dump_json())
        with self._factory.begin() as db:
            row = db.get(SmartSessionRow, h)
            if row is None:
                db.execute(delete(SmartSessionRow).where(SmartSessionRow.expires_at < now))
                db.add(SmartSessionRow(key_hash=h, payload=sealed, expires_at=now + ttl_s, updated_at=now))
            else:
                row.payload, row.updated_at = sealed, now

    def get_session(self, sid: str) -> SmartSession | None:
        with self._factory() as db:
            row = db.execute(
                select(SmartSessionRow).where(SmartSessionRow.key_hash == key_hash(sid))
            ).scalar()
        if row is None or row.expires_at < time.time():
            return None
        text = self._sealer.open(row.payload)
        return SmartSession.model_validate_json(text) if text else None

    def delete_session(self, sid: str) -> None:
        with self._factory.begin() as db:
            db.execute(delete(SmartSessionRow).where(SmartSessionRow.key_hash == key_hash(sid)))


class RedisSessionStore:
    """The same store in Redis (``SET … EX``; ``GETDEL`` makes ``state`` single-use atomically)."""

    def __init__(self, url: str, secret: str, prefix: str = "evcds:smart:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._sealer = _Sealer(secret)
        self._prefix = prefix

    def _k(self, kind: str, value: str) -> str:
        return f"{self._prefix}{kind}:{key_hash(value)}"

    def put_pending(self, state: str, pending: PendingLaunch, ttl_s: int) -> None:
        self._redis.set(self._k("state", state), self._sealer.seal(pending.model_dump_json()), ex=ttl_s)

    def take_pending(self, state: str) -> PendingLaunch | None:
        raw = self._redis.getdel(self._k("state", state))
        if raw is None:
            return None
        text = self._sealer.open(raw.decode() if isinstance(raw, bytes) else str(raw))
        return PendingLaunch.model_validate_json(text) if text else None

    def put_session(self, sid: str, session: SmartSession, ttl_s: int) -> None:
        key = self._k("session", sid)
        ttl = self._redis.ttl(key)
        # Updating a session (refresh) keeps its original lifetime.
        ex = int(ttl) if isinstance(ttl, int) and ttl > 0 else ttl_s
        self._redis.set(key, self._sealer.seal(session.model_dump_json()), ex=ex)

    def get_session(self, sid: str) -> SmartSession | None:
        raw = self._redis.get(self._k("session", sid))
        if raw is None:
            return None
        text = self._sealer.open(raw.decode() if isinstance(raw, bytes) else str(raw))
        return SmartSession.model_validate_json(text) if text else None

    def delete_session(self, sid: str) -> None:
        self._redis.delete(self._k("session", sid))
