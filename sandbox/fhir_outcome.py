"""Errors at the sandbox's edge: OperationOutcome for the FHIR API, JSON problem or HTML elsewhere.

FHIR R4 §http.html#summary: errors carry an ``OperationOutcome`` with ``application/fhir+json``.
Every bad request gets a 4xx and a body that names the problem; nothing leaks a stack trace.
These handlers are app-wide (routing errors such as 404/405 never reach a blueprint's handlers), so
they answer by path: ``/fhir/...`` → OperationOutcome, ``/auth/...`` → OAuth-style JSON, anything
else → RFC 9457 problem JSON, or a small HTML page for browsers.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"

# HTTP status → FHIR IssueType (R4 ValueSet issue-type)
_ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    410: "deleted",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    500: "exception",
}


class FhirError(Exception):
    """An error the FHIR API reports as an OperationOutcome with ``status``."""

    def __init__(
        self, status: int, diagnostics: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code or _ISSUE_CODE.get(status, "processing")
        self.headers = headers or {}


def operation_outcome(diagnostics: str, code: str = "processing", severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def fhir_json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status, mimetype=FHIR_JSON
    )
    resp.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def outcome_response(err: FhirError) -> Response:
    return fhir_json(operation_outcome(err.diagnostics, err.code), err.status, err.headers)


def _is_fhir_path() -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]
    )


def _http_error(err: HTTPException) -> Response:
    status = err.code or 500
    if _is_fhir_path():
        valid: list[str] | None = getattr(err, "valid_methods", None)
        headers = {"Allow": ", ".join(valid)} if valid else {}
        return outcome_response(FhirError(status, err.description or err.name, headers=headers))
    if request.path.startswith("/auth/"):
        body = {
            "error": "invalid_request" if status < 500 else "server_error",
            "error_description": err.description or err.name,
        }
        return Response(json.dumps(body), status=status, mimetype="application/json")
    if _wants_html():
        html = render_template("base/error.html", status=status, title=err.name, detail=err.description)
        return Response(html, status=status, mimetype="text/html")
    problem = {"type": "about:blank", "title": err.name, "status": status, "detail": err.description}
    return Response(json.dumps(problem), status=status, mimetype="application/problem+json")


def _unexpected(err: Exception) -> Response:
    log.exception("sandbox: unhandled error on %s %s", request.method, request.path)
    if _is_fhir_path():
        return outcome_response(FhirError(500, "Internal server error", "exception"))
    problem = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The sandbox EHR hit an unexpected error.",
    }
    return Response(json.dumps(problem), status=500, mimetype="application/problem+json")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(FhirError, outcome_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
