"""The /librarian blueprint's plumbing: login with local accounts, roles, CSRF on every POST.

Sessions use Flask's signed cookie (``HttpOnly``, ``SameSite=Lax``); a per-session CSRF token must
come back with every POST, as a ``csrf_token`` form field or an ``X-CSRF-Token`` header (htmx sends
it from ``hx-headers`` on ``<body>``). Unauthenticated requests are redirected to the login page
(HTML) or answered 401 (htmx/JSON); a POST without a valid token is refused with 403.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import Engine
from werkzeug.wrappers import Response

from evidence_cds.app import settings_of
from evidence_cds.errors import Forbidden, Unauthorized
from knowledge.config import KnowledgeConfig
from knowledge.librarian.accounts import audit, authenticate, get_user
from knowledge.librarian.config import knowledge_config
from knowledge.librarian.login_throttle import LoginThrottle

bp = Blueprint("librarian", __name__, url_prefix="/librarian")
F = TypeVar("F", bound=Callable[..., Any])


def engine() -> Engine:
    eng: Engine = current_app.extensions["db_engine"]
    return eng


def kconfig() -> KnowledgeConfig:
    cached = current_app.extensions.get("knowledge_config")
    if cached is None:
        cached = current_app.extensions["knowledge_config"] = knowledge_config(settings_of(current_app))
    return cast(KnowledgeConfig, cached)


def throttle() -> LoginThrottle:
    found = current_app.extensions.get("librarian_login_throttle")
    if found is None:
        found = current_app.extensions["librarian_login_throttle"] = LoginThrottle()
    return cast(LoginThrottle, found)


def csrf_token() -> str:
    token = session.get("csrf_token")
    if not token:
        token = session["csrf_token"] = secrets.token_urlsafe(32)
    return str(token)


@bp.context_processor
def _inject() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "librarian_user": getattr(g, "librarian_user", None)}


@bp.before_request
def _load_user_and_check_csrf() -> None:
    user_id = session.get("librarian_user_id")
    g.librarian_user = get_user(engine(), int(user_id)) if user_id else None
    if g.librarian_user is not None and not g.librarian_user.active:
        g.librarian_user = None
    if request.method == "POST":
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf_token") or ""
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            raise Forbidden("missing or invalid CSRF token")


def login_required(role: str | None = None) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = g.librarian_user
            if user is None:
                if request.method == "GET" and not request.headers.get("HX-Request"):
                    return redirect(url_for("librarian.login", next=request.path))
                raise Unauthorized("log in to the librarian workspace first")
            if role is not None and user.role != role:
                raise Forbidden(f"this needs the {role} role")
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def actor() -> str:
    return f"web:{g.librarian_user.username}"


@bp.after_request
def _no_store(resp: Response) -> Response:
    """Librarian pages show live state to a logged-in user: never cache them (back button included).

    CSP: scripts only from our origin (the vendored htmx; no inline script in these templates), never
    framed (clickjacking of publish/rollback), forms post only to us.
    """
    resp.headers["Cache-Control"] = "no-store"
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    )
    resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    error = None
    if request.method == "POST":
        username, ip = request.form.get("username", "")[:200], request.remote_addr or "?"
        if throttle().blocked(username, ip):
            error = "Too many failed attempts. Wait a few minutes, then try again."
            return render_template("librarian/login.html", error=error), 429
        user = authenticate(engine(), username, request.form.get("password", ""))
        if user is None:
            throttle().failed(username, ip)
        else:
            throttle().succeeded(username)
            session.clear()  # a fresh session on login (no fixation), with a fresh CSRF token too:
            session["csrf_token"] = secrets.token_urlsafe(32)  # a planted pre-login token must not live on
            session["librarian_user_id"] = user.id
            audit(engine(), f"web:{user.username}", "login")
            target = request.args.get("next", "")
            safe = target.startswith("/librarian") and not target.startswith("//")
            return redirect(target if safe else url_for("librarian.index"))
        error = "Unknown user or wrong password."
    return render_template("librarian/login.html", error=error)


@bp.post("/logout")
def logout() -> Response:
    if g.librarian_user is not None:
        audit(engine(), actor(), "logout")
    session.clear()
    return redirect(url_for("librarian.login"))
