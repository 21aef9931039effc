"""The app's pages inside the EHR iframe."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("smart_app", __name__, url_prefix="/app")


@bp.get("/")
def index() -> str:
    return render_template("smart_app/index.html")
