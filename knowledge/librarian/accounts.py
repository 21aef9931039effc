"""Librarian accounts and the audit trail: thin functions over an SQLAlchemy engine, so the CLI (no
Flask app) and the blueprint share them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from knowledge.librarian.models_db import LibrarianAudit, LibrarianUser

ROLES = ("librarian", "viewer")  # only librarians change the index; viewers may look


class AccountError(ValueError):
    """A user could not be created (duplicate name, weak password, unknown role)."""


def create_user(engine: Engine, username: str, password: str, role: str = "librarian") -> None:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if len(password) < 10:
        raise AccountError("password must have at least 10 characters")
    with Session(engine) as s, s.begin():
        if s.scalar(select(LibrarianUser).where(LibrarianUser.username == username)):
            raise AccountError(f"user {username!r} already exists")
        s.add(
            LibrarianUser(
                username=username,
                password_hash=generate_password_hash(password),
                role=role,
                active=True,
                created_at=datetime.now(UTC),
            )
        )


def authenticate(engine: Engine, username: str, password: str) -> LibrarianUser | None:
    """The active user with these credentials, or ``None`` (same answer for every kind of failure)."""
    with Session(engine) as s:
        user = s.scalar(select(LibrarianUser).where(LibrarianUser.username == username))
        if user is None or not user.active:
            check_password_hash(generate_password_hash("x"), password)  # similar timing either way
            return None
        return user if check_password_hash(user.password_hash, password) else None


def get_user(engine: Engine, user_id: int) -> LibrarianUser | None:
    with Session(engine) as s:
        return s.get(LibrarianUser, user_id)


def audit(
    engine: Engine,
    actor: str,
    action: str,
    target: str | None = None,
    forced: bool = False,
    reason: str | None = None,
    **detail: Any,
) -> None:
    with Session(engine) as s, s.begin():
        s.add(
            LibrarianAudit(
                at=datetime.now(UTC),
                actor=actor,
                action=action,
                target=target,
                forced=forced,
                reason=reason,
                detail=json.dumps(detail, default=str) if detail else None,
            )
        )


def audit_trail(engine: Engine, limit: int = 200) -> list[LibrarianAudit]:
    with Session(engine) as s:
        return list(s.scalars(select(LibrarianAudit).order_by(LibrarianAudit.id.desc()).limit(limit)))
