"""Librarian accounts and audit rows on SQLite and PostgreSQL (the same migration)."""

from __future__ import annotations

import json

import pytest

from evidence_cds import db
from knowledge.librarian.accounts import AccountError, audit, audit_trail, authenticate, create_user


def test_accounts_and_audit_trail(database_url: str) -> None:
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    create_user(engine, "alice", "correct horse battery")
    with pytest.raises(AccountError, match="already exists"):
        create_user(engine, "alice", "another long password")
    with pytest.raises(AccountError, match="10 characters"):
        create_user(engine, "bob", "short")
    with pytest.raises(AccountError, match="role"):
        create_user(engine, "bob", "correct horse battery", role="admin")
    user = authenticate(engine, "alice", "correct horse battery")
    assert user is not None and user.role == "librarian"
    assert "correct horse" not in user.password_hash  # stored hashed
    assert authenticate(engine, "alice", "wrong password") is None
    assert authenticate(engine, "nobody", "correct horse battery") is None
    audit(engine, "web:alice", "publish", target="r0002", forced=True, reason="urgent fix", previous="r0001")
    [row] = audit_trail(engine)
    assert (row.actor, row.action, row.target, row.forced, row.reason) == (
        "web:alice",
        "publish",
        "r0002",
        True,
        "urgent fix",
    )
    assert json.loads(row.detail or "{}") == {"previous": "r0001"}
    engine.dispose()
