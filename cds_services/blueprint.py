"""CDS Hooks HTTP edge: discovery, service calls, feedback (https://cds-hooks.hl7.org/2.0/).

Thin routes: look the service up, authenticate, hand the body to :mod:`cds_services.service_call`,
translate its exceptions, write the audit row. Status codes: unknown service → 404; bad content
type, malformed JSON, invalid request or wrong hook → 400; body over ``max_request_bytes`` → 413 (app
wide); JWT failure → bare 401 with ``WWW-Authenticate: Bearer`` (§Trusting CDS Clients); required
prefetch unobtainable → 412 (§Prefetch); every error body is an OperationOutcome without internals.
CORS (§CORS) is answered for the configured EHR origins only.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cds_services.audit import CallRecord, write_call, write_feedback
from cds_services.execution import HandlerFailed
from cds_services.jwt_trust import JwtRejected
from cds_services.prefetch import PrefetchUnavailable
from cds_services.registry import CdsService
from cds_services.service_call import BadHookRequest, authenticate, call_service, parse_feedback
from cds_services.state import CdsState, cds_state
from evidence_cds.db import session_scope
from evidence_cds.errors import operation_outcome

log = logging.getLogger(__name__)

bp = Blueprint("cds_services", __name__, url_prefix="/cds-services")

_WWW_AUTHENTICATE = 'Bearer realm="evidence-cds", error="invalid_token"'


@bp.get("")
def discovery() -> Response:
    """§Discovery: the services this server offers, generated from the registry."""
    return jsonify(cds_state().registry.discovery())


@bp.post("/<service_id>")
def call(service_id: str) -> Response:
    """§Calling a CDS Service: ``{"cards": [...]}`` for a verified hook request.

    The audit row is written once the answer has been sent (``call_on_close``), so the EHR does not
    wait for the database commit; a call that ends in an exception is audited before it propagates.
    """
    started = time.perf_counter()
    state = cds_state()
    service = state.registry.get(service_id)
    if service is None:
        return operation_outcome(404, "not-found", "no CDS service with this id")
    record = CallRecord(service_id=service.id, started=started)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        resp = _answer(state, service, record)
    except Exception:
        _write_audit(app, record, (time.perf_counter() - started) * 1000)
        raise
    latency_ms = (time.perf_counter() - started) * 1000
    resp.call_on_close(lambda: _write_audit(app, record, latency_ms))
    return resp


def _answer(state: CdsState, service: CdsService, record: CallRecord) -> Response:
    try:
        verified = authenticate(state, request.headers.get("Authorization"), [state.service_url(service)])
        record.client_iss = verified.iss if verified else "unverified"
        body = call_service(state, service, request.mimetype, _body(), record)
        return jsonify(body.to_json_dict())
    except JwtRejected as err:
        return _unauthorized(service, err, record)
    except BadHookRequest as err:
        return _refuse(record, 400, "rejected", "invalid", err.detail)
    except PrefetchUnavailable as err:
        return _refuse(record, 412, "unavailable", "not-found", str(err))
    except HandlerFailed as err:
        log.error("service %s failed: %s", service.id, err)
        resp = _refuse(record, 500, "error", "exception", "the service could not produce its cards")
        record.detail = str(err)
        return resp
    except RedisError as err:
        # A configured shared cache (jti replay, card memory) is down: fail closed, but say it is
        # transient; replay protection must not silently degrade to per-worker.
        log.error("shared cache unavailable for %s: %s", service.id, type(err).__name__)
        return _refuse(
            record, 503, "error", "transient", "a shared cache the service relies on is unavailable"
        )
    except HTTPException as err:  # e.g. 413 while reading a chunked body: audited, then app-wide handler
        record.outcome, record.status_code, record.detail, record.cards = (
            "rejected",
            err.code or 400,
            err.name,
            [],
        )
        raise
    except Exception as err:
        record.outcome, record.status_code, record.detail = "error", 500, type(err).__name__
        record.cards = []
        raise


@bp.post("/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """§Feedback: store each item, linked to the card it concerns (unknown uuids stored, flagged)."""
    state = cds_state()
    service = state.registry.get(service_id)
    if service is None:
        return operation_outcome(404, "not-found", "no CDS service with this id")
    url = state.service_url(service)
    try:
        verified = authenticate(state, request.headers.get("Authorization"), [url, f"{url}/feedback"])
        body = parse_feedback(request.mimetype, _body())
    except JwtRejected as err:
        return _unauthorized(service, err, None)
    except BadHookRequest as err:
        return operation_outcome(400, "invalid", err.detail)
    except RedisError as err:
        log.error("shared cache unavailable for %s feedback: %s", service.id, type(err).__name__)
        return operation_outcome(503, "transient", "a shared cache the service relies on is unavailable")
    with session_scope() as session:
        unknown = write_feedback(session, service.id, body.feedback, verified.iss if verified else None)
    if unknown:
        log.info("feedback for %d card(s) %s never issued (stored, flagged)", unknown, service.id)
    return jsonify({"stored": len(body.feedback), "unknownCards": unknown})


@bp.post("/_bench/noop")
def bench_noop() -> Response:
    """Baseline for ``bench/cds_load.py``: reads the JSON body, answers no cards, does nothing else."""
    if not cds_state().settings.cds_bench_noop:
        return operation_outcome(404, "not-found", "no CDS service with this id")
    request.get_json(silent=True)
    return jsonify({"cards": []})


@bp.after_request
def _cors(resp: Response) -> Response:
    """§CORS: browser-based EHR clients on the configured origins may call discovery and services."""
    origin = request.headers.get("Origin")
    if origin and origin in cds_state().settings.ehr_origins:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        resp.headers["Access-Control-Max-Age"] = "600"
        resp.headers.add("Vary", "Origin")
    return resp


def _body() -> bytes:
    """The request body, 413 when over ``max_request_bytes``.

    A declared Content-Length is checked app-wide before any route; a chunked body is cut at the
    limit by werkzeug without an error, so reaching the limit here means the body was too large.
    """
    data = request.get_data(cache=False)
    limit = request.max_content_length
    if limit and request.content_length is None and len(data) >= limit:
        raise RequestEntityTooLarge()
    return data


def _unauthorized(service: CdsService, err: JwtRejected, record: CallRecord | None) -> Response:
    # The reason goes to the log only; the caller learns nothing that helps forge a better token.
    log.warning("CDS call to %s refused: %s (iss=%r)", service.id, err.reason, err.iss or "-")
    if record is not None:
        record.client_iss = err.iss
        record.outcome, record.status_code, record.detail = "rejected", 401, f"jwt: {err.reason}"
    resp = Response(status=401)
    resp.headers["WWW-Authenticate"] = _WWW_AUTHENTICATE
    return resp


def _refuse(record: CallRecord, status: int, outcome: str, code: str, detail: str) -> Response:
    record.outcome, record.status_code, record.detail = outcome, status, detail
    record.cards = []
    return operation_outcome(status, code, detail)


def _write_audit(app: Flask, record: CallRecord, latency_ms: float) -> None:
    try:
        with session_scope(app) as session:
            write_call(session, record, latency_ms)
    except Exception as err:  # the clinician's answer must not depend on the audit store being up
        log.error("audit write failed for %s: %s", record.service_id, type(err).__name__)
