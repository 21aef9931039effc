"""One hook call, end to end, without Flask: parse → trust → prefetch → decide → remember.

CDS Hooks 2.0 §Calling a CDS Service (https://cds-hooks.hl7.org/2.0/#calling-a-cds-service). The
blueprint passes the raw body and the ``Authorization`` header; this module raises one specific
exception per refusal (:class:`BadHookRequest` → 400, ``JwtRejected`` → 401, ``PrefetchUnavailable``
→ 412, ``HandlerFailed`` → 500) and fills the :class:`~cds_services.audit.CallRecord` as it learns
things, so the edge can write the audit row whatever happened.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from cds_services.audit import CallRecord
from cds_services.execution import run_service
from cds_services.jwt_trust import VerifiedClient
from cds_services.models import CdsResponse, Feedback, HookRequest
from cds_services.prefetch import resolve_prefetch
from cds_services.registry import CdsService, ServiceInput
from cds_services.state import CdsState

log = logging.getLogger(__name__)

JSON_MIMETYPES = frozenset({"application/json"})


class BadHookRequest(Exception):
    """A request body or content type we cannot accept (→ 400; ``detail`` is safe to return)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def parse_json_body(mimetype: str, body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`BadHookRequest`."""
    if mimetype not in JSON_MIMETYPES:
        raise BadHookRequest("Content-Type must be application/json")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise BadHookRequest("request body is not valid JSON") from err
    if not isinstance(data, dict):
        raise BadHookRequest("request body must be a JSON object")
    return data


def validation_detail(err: ValidationError, limit: int = 5) -> str:
    """Where and why validation failed — never the submitted values (they can carry PHI/tokens)."""
    parts = []
    for e in err.errors(include_input=False, include_url=False, include_context=False)[:limit]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}"[:200])
    return "; ".join(parts)


def authenticate(state: CdsState, authorization: str | None, audiences: list[str]) -> VerifiedClient | None:
    """The verified client, or ``None`` when verification is switched off (development only)."""
    if state.verifier is None:
        log.warning("CDS call accepted WITHOUT JWT verification (cds_verify_jwt=False)")
        return None
    return state.verifier.verify(authorization, audiences)


def call_service(
    state: CdsState, service: CdsService, mimetype: str, body: bytes, call: CallRecord
) -> CdsResponse:
    """Run ``service`` for an authenticated request body (authentication is the caller's job)."""
    data = parse_json_body(mimetype, body)
    call.hook = data.get("hook") if isinstance(data.get("hook"), str) else None
    call.hook_instance = data.get("hookInstance") if isinstance(data.get("hookInstance"), str) else None
    try:
        request = HookRequest.model_validate(data)
    except ValidationError as err:
        raise BadHookRequest(validation_detail(err)) from err
    call.patient_id = request.patient_id
    if request.hook != service.hook:
        raise BadHookRequest(f"service {service.id} answers the {service.hook} hook, not {request.hook}")
    if request.fhirServer and not state.fhir_servers.allows(request.fhirServer, _verified_iss(call)):
        # SSRF guard: never fetch from (or send the bearer token to) a server we do not know;
        # treated as "no fhirServer", so a required key that is not prefetched ends in 412.
        log.warning("fhirServer not on the allowlist for %s; ignored", call.client_iss or "unverified caller")
        call.notes["fhir_server_refused"] = True
        request = request.model_copy(update={"fhirServer": None, "fhirAuthorization": None})
    settings = state.settings
    resolved = resolve_prefetch(
        service,
        request,
        state.executor,
        timeout_s=settings.cds_prefetch_timeout_s,
        http_timeout_s=settings.cds_http_timeout_s,
        cache=state.resource_cache,
        max_bytes=settings.cds_prefetch_max_bytes,
    )
    if resolved.fetched:
        call.notes["fetched"] = resolved.fetched
    if resolved.invalid:
        call.notes["invalid_resources"] = resolved.invalid
    inp = ServiceInput(
        service=service,
        request=request,
        prefetch=resolved.resources,
        draft_orders=resolved.draft_orders,
        settings=settings,
        invalid_resources=resolved.invalid,
    )
    cards, dropped = run_service(service, inp, state.executor)
    if dropped:
        call.notes["dropped_steps"] = dropped
    if inp.time_left_s() <= 0:  # the handler itself overran: visible in the audit, answer still sent
        call.notes["over_budget"] = service.time_budget_ms
    if service.dedup_group and request.hook == "order-select":
        state.card_memory.remember(service.dedup_group, inp, cards)
    elif service.dedup_group and request.hook == "order-sign":
        cards, repeats = state.card_memory.drop_repeats(service.dedup_group, inp, cards)
        if repeats:
            call.notes["suppressed_repeats"] = repeats
    if inp.notes:
        call.notes["service"] = inp.notes
    call.release_id = inp.knowledge_release
    call.cards = cards
    return CdsResponse(cards=cards)


def _verified_iss(call: CallRecord) -> str | None:
    return None if call.client_iss in (None, "unverified") else call.client_iss


def parse_feedback(mimetype: str, body: bytes) -> Feedback:
    data = parse_json_body(mimetype, body)
    try:
        return Feedback.model_validate(data)
    except ValidationError as err:
        raise BadHookRequest(validation_detail(err)) from err
