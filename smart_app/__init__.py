"""SMART App Launch 2.2 client and the embedded evidence UI."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the ``/app`` blueprint and the server-side session store (database or Redis)."""
    from smart_app.blueprint import bp
    from smart_app.web import init_state

    init_state(app)
    app.register_blueprint(bp)
