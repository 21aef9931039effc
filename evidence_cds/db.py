"""Database engine, ORM base and migrations (SQLAlchemy 2.0 + alembic).

One engine per app, created in :func:`init_app`. SQLite under ``instance/`` is the embedded default;
the same models and migrations run against PostgreSQL when ``EVIDENCE_CDS_DATABASE_URL`` points at
one. Every package that stores rows declares its ORM classes on :class:`Base` and ships its own alembic
branch under ``evidence_cds/migrations/versions`` (``branch_labels=("<package>",)``), so packages evolve
their tables without editing each other's migration chain; ``upgrade`` applies all heads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base for every table of the product."""


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL + foreign keys so concurrent workers behave."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL never corrupts the database; a power loss may drop the last commits. Without
            # it every audit row costs a disk sync, capping hook throughput at ~50 calls/s.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Apply every migration branch to ``url`` (idempotent)."""
    command.upgrade(alembic_config(url), "heads")


def init_app(app: Flask, url: str) -> None:
    """Create the app's engine and session factory; migrate on start-up when configured."""
    engine = make_engine(url)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)


def engine() -> Engine:
    eng: Engine = current_app.extensions["db_engine"]
    return eng


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    factory: sessionmaker[Session] = (app or current_app).extensions["db_sessionmaker"]
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
