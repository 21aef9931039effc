"""ORM rows of the ``smart`` migration branch (see ``smart_0001_sessions``)."""

from __future__ import annotations

from sqlalchemy import Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from evidence_cds.db import Base


class SmartPendingLaunchRow(Base):
    __tablename__ = "smart_pending_launch"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[str] = mapped_column(Text())
    expires_at: Mapped[float] = mapped_column(Float(), index=True)


class SmartSessionRow(Base):
    __tablename__ = "smart_session"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[str] = mapped_column(Text())
    expires_at: Mapped[float] = mapped_column(Float(), index=True)
    updated_at: Mapped[float] = mapped_column(Float())
