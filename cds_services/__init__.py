"""CDS Hooks 2.0 protocol core and the decision services (https://cds-hooks.hl7.org/2.0/).

Public contracts for service authors: :mod:`cds_services.models` (cards, requests, feedback),
:mod:`cds_services.registry` (``CdsService``, ``ServiceInput``, ``register``), and
:mod:`cds_services.services` (the list of shipped service modules).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Build the CDS state (registry, JWT trust, caches) and register the blueprint."""
    from cds_services.blueprint import bp
    from cds_services.state import build_state

    app.extensions["cds_services"] = build_state(app.extensions["settings"])
    app.register_blueprint(bp)
