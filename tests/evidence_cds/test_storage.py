"""The storage layer against both SQLite and PostgreSQL (same models, same migrations)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from evidence_cds import db
from evidence_cds.models import AppMeta


def test_migrations_apply_and_are_idempotent(database_url: str) -> None:
    db.upgrade(database_url)
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    names = sa.inspect(engine).get_table_names()
    assert "app_meta" in names
    assert "alembic_version" in names
    engine.dispose()


def test_rows_round_trip(database_url: str) -> None:
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    key = f"k-{datetime.now(UTC).timestamp()}"
    with Session(engine) as s:
        s.add(AppMeta(key=key, value="v1", updated_at=datetime.now(UTC)))
        s.commit()
    with Session(engine) as s:
        row = s.get(AppMeta, key)
        assert row is not None and row.value == "v1"
    engine.dispose()
