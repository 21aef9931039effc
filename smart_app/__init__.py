"""SMART App Launch 2.2 client and the embedded evidence UI."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from smart_app.blueprint import bp

    app.register_blueprint(bp)
