"""The composition root: ``create_app`` wires settings, storage, blueprints, errors and logging.

Each top-level package exposes ``init_app(app)``, which registers its blueprint and any per-app
resources; nothing heavy happens at import time (models and indexes load on first use).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request

from evidence_cds import db, health
from evidence_cds.errors import register_errorhandlers
from evidence_cds.logging_setup import configure_logging
from evidence_cds.settings import PROJECT_ROOT, Settings, load_settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the evidence-cds Flask app. ``test_config`` overrides settings (tests, benchmarks)."""
    settings = load_settings(test_config)
    configure_logging(settings.log_level)
    settings.instance_path.mkdir(parents=True, exist_ok=True)

    app = Flask(
        "evidence_cds",
        root_path=str(PROJECT_ROOT),
        instance_path=str(settings.instance_path.resolve()),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key or _instance_secret(settings.instance_path),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
        # Flask's signed session cookie (librarian login): never readable by script, not sent on
        # cross-site subrequests, and only over https when we are served over https.
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
    )
    app.extensions["settings"] = settings

    register_extensions(app, settings)
    register_blueprints(app)
    register_errorhandlers(app)
    app.before_request(_reject_oversized_body)
    app.after_request(_security_headers)
    return app


def settings_of(app: Flask) -> Settings:
    s: Settings = app.extensions["settings"]
    return s


def register_extensions(app: Flask, settings: Settings) -> None:
    db.init_app(app, settings.resolved_database_url())


def register_blueprints(app: Flask) -> None:
    import cds_services
    import knowledge
    import smart_app

    app.register_blueprint(health.bp)
    cds_services.init_app(app)
    smart_app.init_app(app)
    knowledge.init_app(app)


def _instance_secret(instance: Path) -> str:
    """A per-installation secret kept in ``instance/secret_key`` (created once, mode 600)."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


def _reject_oversized_body() -> None:
    """Refuse a declared body over the limit before any route reads it (413, not a dropped connection)."""
    limit = request.max_content_length  # MAX_CONTENT_LENGTH unless a package set it for this request
    if request.content_length is not None and limit and request.content_length > limit:
        abort(413)


def _security_headers(resp: Response) -> Response:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    return resp
