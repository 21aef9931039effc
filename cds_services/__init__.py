"""CDS Hooks 2.0 protocol core and the decision services (https://cds-hooks.hl7.org/2.0/)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the CDS Hooks blueprint (discovery, service endpoints, feedback)."""
    from cds_services.blueprint import bp

    app.register_blueprint(bp)
