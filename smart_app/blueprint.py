"""Routes of the SMART app (``/app``): launch, callback, the evidence view and its htmx partials.

Thin: parse the request, call :mod:`smart_app.launch` / :mod:`smart_app.views`, render. Every
:class:`~smart_app.errors.SmartAppError` becomes its human page with its 4xx/5xx status.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, redirect, render_template, request

from smart_app import config as cfg
from smart_app import differential_view, errors, launch, trial_view, views
from smart_app.clinical_context import landing_url
from smart_app.keys import public_jwks
from smart_app.web import (
    browser_id,
    ensure_browser_id,
    frame_and_cache_headers,
    set_browser_cookie,
    smart_state,
)

log = logging.getLogger("smart_app")

bp = Blueprint("smart_app", __name__, url_prefix="/app")
bp.after_request(frame_and_cache_headers)


@bp.errorhandler(errors.SmartAppError)
def _smart_error(err: errors.SmartAppError) -> Response:
    if request.headers.get("HX-Request"):
        # htmx does not swap 4xx/5xx answers, so a panel would spin forever: answer the fragment
        # with 200 and say the real status in a header.
        html = render_template("smart_app/_error_fragment.html", error=err, status=err.status)
        resp = Response(html, status=200, mimetype="text/html")
        resp.headers["X-Evidence-Cds-Status"] = str(err.status)
        return resp
    html = render_template("smart_app/error.html", error=err, status=err.status)
    return Response(html, status=err.status, mimetype="text/html")


@bp.get("/")
def index() -> str:
    return render_template("smart_app/index.html")


@bp.get("/launch")
def ehr_launch() -> Response:
    """SMART EHR launch: ``/app/launch?iss=<fhir base>&launch=<opaque>`` → redirect to authorize."""
    state = smart_state()
    bid, new = ensure_browser_id()
    url = launch.begin_launch(
        state.settings, state.store, bid, iss=request.args.get("iss"), launch=request.args.get("launch")
    )
    return _redirect_with_cookie(url, bid, new)


@bp.route("/standalone", methods=["GET", "POST"])
def standalone() -> Response | str:
    """Standalone launch: pick (or enter) a FHIR server; the EHR asks the user for the patient."""
    state = smart_state()
    iss = request.values.get("iss")
    if not iss:
        return render_template("smart_app/standalone.html", issuers=cfg.allowed_issuers(state.settings))
    bid, new = ensure_browser_id()
    url = launch.begin_launch(state.settings, state.store, bid, iss=iss, launch=None, standalone=True)
    return _redirect_with_cookie(url, bid, new)


@bp.get("/callback")
def callback() -> Response:
    """Redirect URI: check the single-use state, exchange the code, open the session's page (via a
    loading page whose ``meta refresh`` carries the browser on, off the callback URL with the code)."""
    state = smart_state()
    sid = launch.complete_or_retry(
        state.settings,
        state.store,
        browser_id(),
        state=request.args.get("state"),
        code=request.args.get("code"),
        error=request.args.get("error"),
    )
    if sid.startswith("http"):  # a retry with SMART v1 scopes (see complete_or_retry)
        return redirect(sid, code=302)  # type: ignore[return-value]
    # A tiny "opening the record" page that moves on at once: the browser keeps showing it (a loading
    # state) while the record is read, instead of a blank frame.
    target = landing_url(sid, browser_id())  # a card's appContext may name a view of its own
    return Response(render_template("smart_app/opening.html", target=target), mimetype="text/html")


@bp.get("/s/<sid>/")
def view(sid: str) -> str:
    return views.render_main(current_app, sid, browser_id())


@bp.get("/s/<sid>/evidence")
def evidence(sid: str) -> str:
    return views.render_evidence(current_app, sid, browser_id(), request.args.get("focus"))


@bp.get("/s/<sid>/search")
def search(sid: str) -> str:
    return views.render_search(current_app, sid, browser_id(), request.args.get("q", ""))


@bp.get("/s/<sid>/differentials")
def differentials(sid: str) -> str:
    return differential_view.render_page(current_app, sid, browser_id(), request.args.get("open"))


@bp.get("/s/<sid>/differentials/list")
def differentials_list(sid: str) -> str:
    return differential_view.render_list(current_app, sid, browser_id(), request.args.get("open"))


@bp.get("/s/<sid>/trials")
def trials(sid: str) -> str:
    return trial_view.render_page(current_app, sid, browser_id(), request.args.get("open"))


@bp.get("/s/<sid>/trials/list")
def trials_list(sid: str) -> str:
    return trial_view.render_list(current_app, sid, browser_id(), request.args.get("open"))


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Our public keys, for EHRs that authenticate us with ``private_key_jwt``."""
    resp = Response(
        json.dumps(public_jwks(launch.jwk_path(smart_state().settings))),
        mimetype="application/json",
    )
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


def _redirect_with_cookie(url: str, bid: str, new: bool) -> Response:
    resp = redirect(url, code=302)
    if new:
        set_browser_cookie(resp, bid, smart_state().settings)
    return resp  # type: ignore[return-value]
