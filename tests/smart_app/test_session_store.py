"""The server-side launch/session store on SQLite, PostgreSQL and Redis: single-use state (also under
concurrent callbacks), encrypted payloads, hashed keys, expiry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from evidence_cds import db
from smart_app.session_models import PendingLaunch, SmartSession
from smart_app.session_store import DbSessionStore, RedisSessionStore, SessionStore

REDIS_URL = "redis://127.0.0.1:6379/15"
ACCESS = "access-token-value-0123456789"


def _pending() -> PendingLaunch:
    return PendingLaunch(
        browser_hash="b" * 64,
        iss="https://ehr.example/fhir",
        launch="L1",
        code_verifier="v" * 64,
        nonce="n",
        scope="launch openid",
        client_id="evidence-cds",
        authorization_endpoint="https://ehr.example/authorize",
        token_endpoint="https://ehr.example/token",
    )


def _session() -> SmartSession:
    return SmartSession(
        browser_hash="b" * 64,
        iss="https://ehr.example/fhir",
        client_id="evidence-cds",
        token_endpoint="https://ehr.example/token",
        access_token=ACCESS,
        refresh_token="refresh-token-value",
        expires_at=2e9,
        requested_scope="launch",
        patient="p1",
    )


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store_and_raw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SessionStore, object]]:
    """The store plus a handle on its raw storage (engine or Redis client)."""
    if request.param == "redis":
        redis = pytest.importorskip("redis")
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.exceptions.ConnectionError:
            pytest.skip("Redis not reachable at 127.0.0.1:6379")
        prefix = f"evcds-test-{uuid.uuid4().hex[:8]}:"
        yield RedisSessionStore(REDIS_URL, "secret", prefix=prefix), client
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        return
    url = f"sqlite:///{tmp_path / 's.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db.upgrade(url)
    engine = db.make_engine(url)
    yield DbSessionStore(engine, "secret"), engine
    engine.dispose()


def _raw_dump(raw: object) -> str:
    if isinstance(raw, sa.Engine):
        with raw.connect() as conn:
            rows = [*conn.execute(sa.text("SELECT key_hash, payload FROM smart_session")).all()]
            rows += conn.execute(sa.text("SELECT key_hash, payload FROM smart_pending_launch")).all()
        return repr(rows)
    return repr([(k, raw.get(k)) for k in raw.scan_iter("evcds-test-*")])  # type: ignore[attr-defined]


def test_state_is_single_use(store_and_raw: tuple[SessionStore, object]) -> None:
    store, _ = store_and_raw
    store.put_pending("state-1", _pending(), 60)
    first = store.take_pending("state-1")
    assert first is not None and first.code_verifier == "v" * 64
    assert store.take_pending("state-1") is None
    assert store.take_pending("never-issued") is None


def test_concurrent_callbacks_get_the_state_once(store_and_raw: tuple[SessionStore, object]) -> None:
    store, _ = store_and_raw
    store.put_pending("state-race", _pending(), 60)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _i: store.take_pending("state-race"), range(4)))
    assert sum(r is not None for r in results) == 1


def test_sessions_are_encrypted_and_keys_hashed(store_and_raw: tuple[SessionStore, object]) -> None:
    store, raw = store_and_raw
    store.put_session("sid-secret-value", _session(), 60)
    store.put_pending("state-secret-value", _pending(), 60)
    dump = _raw_dump(raw)
    for secret in (ACCESS, "refresh-token-value", "sid-secret-value", "state-secret-value", "v" * 64):
        assert secret not in dump
    loaded = store.get_session("sid-secret-value")
    assert loaded is not None and loaded.access_token == ACCESS


def test_session_update_and_delete(store_and_raw: tuple[SessionStore, object]) -> None:
    store, _ = store_and_raw
    store.put_session("sid", _session(), 60)
    store.put_session("sid", _session().model_copy(update={"access_token": "new", "refreshed": 1}), 60)
    loaded = store.get_session("sid")
    assert loaded is not None and loaded.access_token == "new" and loaded.refreshed == 1
    store.delete_session("sid")
    assert store.get_session("sid") is None


def test_expired_database_entries_are_gone(tmp_path: Path) -> None:
    """(Redis expires keys by its own TTL.)"""
    url = f"sqlite:///{tmp_path / 'e.db'}"
    db.upgrade(url)
    store = DbSessionStore(db.make_engine(url), "secret")
    store.put_pending("old-state", _pending(), -1)
    store.put_session("old-sid", _session(), -1)
    assert store.take_pending("old-state") is None
    assert store.get_session("old-sid") is None


def test_another_secret_cannot_read_sessions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    DbSessionStore(engine, "secret-a").put_session("sid", _session(), 60)
    assert DbSessionStore(engine, "secret-b").get_session("sid") is None
    engine.dispose()
