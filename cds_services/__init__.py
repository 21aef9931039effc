"""CDS Hooks 2.0 protocol core and the decision services (https://cds-hooks.hl7.org/2.0/).

Public contracts for service authors: :mod:`cds_services.models` (cards, requests, feedback),
:mod:`cds_services.registry` (``CdsService``, ``ServiceInput``, ``register``), and
:mod:`cds_services.services` (the list of shipped service modules).
"""

from __future__ import annotations

from flask import Flask, request


def init_app(app: Flask) -> None:
    """Build the CDS state (registry, JWT trust, caches) and register the blueprint."""
    from cds_services.blueprint import bp
    from cds_services.state import build_state

    settings = app.extensions["settings"]
    state = build_state(settings)
    app.extensions["cds_services"] = state
    app.register_blueprint(bp)

    # App-level (not blueprint) so it runs before the app-wide body-size check, which create_app
    # registers after the packages' init_app; were the order ever reversed, the smaller limit applies.
    @app.before_request
    def _hook_body_limit() -> None:
        # Calls to a service we offer only: feedback and unknown ids keep the app-wide limit.
        service_id = (request.view_args or {}).get("service_id")
        if request.endpoint == f"{bp.name}.call" and state.registry.get(str(service_id)) is not None:
            request.max_content_length = settings.cds_max_request_bytes
