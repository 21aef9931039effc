"""Librarian accounts and the audit trail, in the product database (migration ``knowledge_0001``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from evidence_cds.db import Base


class LibrarianUser(Base):
    """A local account; ``password_hash`` is werkzeug's salted scrypt/pbkdf2 hash, never the password."""

    __tablename__ = "librarian_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32), default="librarian")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LibrarianAudit(Base):
    """Who did what to the knowledge index, when, and why (forced publishes carry their reason)."""

    __tablename__ = "librarian_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text(), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text(), nullable=True)
