"""Errors translated to HTTP at the edge: JSON problem bodies, OperationOutcome for FHIR-ish routes,
HTML pages for browsers. Nothing here ever returns a stack trace or internal detail.

Packages raise :class:`EvidenceCdsError` subclasses (or werkzeug ``HTTPException``); this module is the
one place that turns them into responses (RFC 9457 problem details for JSON clients).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class EvidenceCdsError(Exception):
    """Base of the product's own errors; ``status`` is the HTTP status at the edge."""

    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str, *, status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = headers or {}


class NotFound(EvidenceCdsError):
    status = 404
    title = "Not found"


class Unauthorized(EvidenceCdsError):
    status = 401
    title = "Unauthorized"


class Forbidden(EvidenceCdsError):
    status = 403
    title = "Forbidden"


class PreconditionFailed(EvidenceCdsError):
    status = 412
    title = "Precondition failed"


def wants_html() -> bool:
    """True when the client is a browser navigation (or htmx) rather than an API client."""
    if request.headers.get("HX-Request"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]
    )


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    """Render an error for the current client: HTML page or ``application/problem+json``."""
    if wants_html():
        resp = Response(
            render_template("base/error.html", status=status, title=title, detail=detail),
            status=status,
            mimetype="text/html",
        )
    else:
        body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        resp = jsonify(body)
        resp.status_code = status
        resp.mimetype = "application/problem+json"
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def operation_outcome(status: int, code: str, diagnostics: str) -> Response:
    """A FHIR R4 OperationOutcome response (used by FHIR-facing and CDS Hooks error paths)."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/fhir+json"
    return resp


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(EvidenceCdsError)
    def _own(err: EvidenceCdsError) -> Response:
        return problem(err.status, err.title, err.detail, err.headers)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        headers = {k: v for k, v in err.get_headers() if k.lower() not in {"content-type", "content-length"}}
        return problem(status, err.name, err.description or err.name, headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        # Log the type only: exception messages can carry request data (PHI, tokens).
        log.error("unhandled error on %s %s: %s", request.method, request.path, type(err).__name__)
        log.debug("unhandled error detail", exc_info=err)
        return problem(500, "Internal server error", "The server could not complete the request.")
