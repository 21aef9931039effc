"""Shared fixtures: real apps served over loopback HTTP, real SQLite / PostgreSQL, shared data paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from evidence_cds import db
from evidence_cds.app import create_app
from sandbox.app import create_sandbox_app
from tests.support.live_server import LiveServer

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EVIDENCE_CDS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PG_ADMIN_URL = os.environ.get("EVIDENCE_CDS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Settings overrides for a product app isolated in ``tmp_path``."""
    return {"instance_path": tmp_path / "instance", "testing": True, "secret_key": "test-secret"}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    application = create_app(app_config)
    db.upgrade(application.extensions["settings"].resolved_database_url())
    return application


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def live_app(app: Flask) -> Iterator[LiveServer]:
    server = LiveServer().start(app)
    yield server
    server.stop()


@dataclass
class System:
    """Both servers on loopback, wired to each other as in ``make run``."""

    app: Flask
    sandbox: Flask
    app_server: LiveServer
    sandbox_server: LiveServer

    @property
    def app_url(self) -> str:
        return self.app_server.url

    @property
    def ehr_url(self) -> str:
        return self.sandbox_server.url

    @property
    def fhir_base(self) -> str:
        return f"{self.sandbox_server.url}/fhir"


def start_system(
    tmp_path: Path,
    app_overrides: dict[str, Any] | None = None,
    sandbox_overrides: dict[str, Any] | None = None,
) -> System:
    app_server, sandbox_server = LiveServer(), LiveServer()
    app_cfg: dict[str, Any] = {
        "instance_path": tmp_path / "instance",
        "testing": True,
        "secret_key": "test-secret",
        "public_base_url": app_server.url,
        "ehr_origins": [sandbox_server.url],
        "smart_allowed_issuers": [f"{sandbox_server.url}/fhir"],
    }
    app_cfg.update(app_overrides or {})
    application = create_app(app_cfg)
    db.upgrade(application.extensions["settings"].resolved_database_url())
    sandbox_cfg: dict[str, Any] = {
        "base_url": sandbox_server.url,
        "app_base_url": app_server.url,
        "state_dir": tmp_path / "sandbox",
        "testing": True,
        "secret_key": "sandbox-test-secret",
    }
    sandbox_cfg.update(sandbox_overrides or {})
    sandbox_app = create_sandbox_app(sandbox_cfg)
    app_server.start(application)
    sandbox_server.start(sandbox_app)
    return System(application, sandbox_app, app_server, sandbox_server)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    sys_ = start_system(tmp_path)
    yield sys_
    sys_.app_server.stop()
    sys_.sandbox_server.stop()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards); skips if none runs."""
    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"evcds_{uuid.uuid4().hex[:10]}"
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as err:
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(err).__name__})")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Parametrises storage tests over SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
