"""Tables of the CDS Hooks core (alembic branch ``cds``): audit rows, issued cards, feedback.

``cds_audit`` is append-only (one row per hook call; the migration adds triggers that refuse UPDATE
and DELETE on SQLite and PostgreSQL). ``cds_card`` indexes every issued card uuid so feedback
(CDS Hooks 2.0 §Feedback) can be linked to the call that produced the card. Patient ids are stored
only as :func:`evidence_cds.logging_setup.hash_id` values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from evidence_cds.db import Base


class CdsAudit(Base):
    __tablename__ = "cds_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    client_iss: Mapped[str | None] = mapped_column(String(500))
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    hook: Mapped[str | None] = mapped_column(String(200))
    hook_instance: Mapped[str | None] = mapped_column(String(200))
    patient_hash: Mapped[str] = mapped_column(String(32))
    card_uuids: Mapped[list[str]] = mapped_column(JSON)
    indicators: Mapped[list[str]] = mapped_column(JSON)
    card_count: Mapped[int] = mapped_column(Integer)
    release_id: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(32))  # ok | rejected | unavailable | error
    status_code: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON)


class CdsCard(Base):
    __tablename__ = "cds_card"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(String(200), index=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("cds_audit.id"))
    service_id: Mapped[str] = mapped_column(String(64))
    indicator: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CdsFeedback(Base):
    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    card_uuid: Mapped[str] = mapped_column(String(200), index=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cds_card.id"))
    known_card: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    override_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_timestamp: Mapped[str] = mapped_column(String(64))
    client_iss: Mapped[str | None] = mapped_column(String(500))
