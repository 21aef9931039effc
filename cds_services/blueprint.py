"""CDS Hooks HTTP edge (CDS Hooks 2.0 §Discovery, §Calling a CDS Service)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

bp = Blueprint("cds_services", __name__, url_prefix="/cds-services")


@bp.get("")
def discovery() -> Response:
    """Discovery (§Discovery): the services this server offers. Filled from the service registry."""
    return jsonify({"services": []})
