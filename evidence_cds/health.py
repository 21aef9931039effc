"""Liveness and readiness probes.

``/healthz`` answers while the process runs. ``/readyz`` answers 200 only when the database is
reachable and migrated (the ``app_meta`` table exists), else 503 with the failing check named.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from evidence_cds import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT count(*) FROM app_meta"))
        checks["database"] = "ok"
    except SQLAlchemyError as err:
        checks["database"] = f"unavailable ({type(err).__name__})"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503
