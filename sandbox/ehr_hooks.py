"""The EHR shell's service layer for CDS Hooks: firing a hook for a chart, and feedback items.

Kept apart from the routes so the decisions (what the context holds per hook, which token goes into
``fhirAuthorization``, what a feedback item says) are plain functions over typed arguments.

* CDS Hooks 2.0 hooks: ``patient-view`` {userId, patientId, encounterId}; ``order-select`` adds
  ``selections`` and ``draftOrders``; ``order-sign`` adds ``draftOrders``.
* §Passing the Access Token: ``fhirAuthorization`` {access_token, token_type, expires_in, scope,
  subject, patient}, a real token from the sandbox authorization server, patient scopes only.
* §Feedback: ``{"card", "outcome": accepted|overridden, "acceptedSuggestions", "overrideReason":
  {"reason", "userComment"}, "outcomeTimestamp"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.cds_client import AppRegistration, CdsClient
from sandbox.cds_models import Card, ServiceDefinition, Suggestion
from sandbox.ehr_session import ChartSession
from sandbox.prefetch import PrefetchContext, build_prefetch
from sandbox.store import PatientStore

log = logging.getLogger(__name__)

TokenMinter = Callable[..., dict[str, Any]]
MAX_COMMENT = 500


def fire_hook(
    session: ChartSession,
    hook: str,
    extra: dict[str, Any],
    *,
    client: CdsClient,
    store: PatientStore,
    fhir_base: str,
    fhir_authorization: dict[str, Any] | None,
) -> None:
    """Call every service for ``hook`` with this chart's context and put the results on screen."""
    context: dict[str, Any] = {"userId": session.user_id, "patientId": session.patient_id}
    if session.encounter_id:
        context["encounterId"] = session.encounter_id
    context.update(extra)
    pctx = PrefetchContext(session.patient_id, session.user_id, session.encounter_id)

    def prefetch_for(svc: ServiceDefinition) -> dict[str, Any]:
        return build_prefetch(svc.prefetch, pctx, store, fhir_base)

    outcome = client.call_hook(hook, context, fhir_base, prefetch_for, fhir_authorization)
    session.show_results(hook, outcome.results, outcome.message)


def fhir_authorization(
    session: ChartSession, registration: AppRegistration, mint: TokenMinter | None
) -> dict[str, Any] | None:
    """A real access token for the chart's patient, or ``None`` when none can be minted."""
    if mint is None:
        return None
    # Oracle Health (cerner flavour) speaks SMART v1 scopes only.
    version = "v1" if session.flavour == "cerner" else "v2"
    scope = " ".join(s for s in registration.scopes.get(version, "").split() if s.startswith("patient/"))
    try:
        token = mint(
            session.patient_id,
            scope,
            registration.client_id,
            flavour=session.flavour,
            user_id=session.user_id.split("/", 1)[-1],
        )
    except (KeyError, ValueError) as err:
        # The service can still work from prefetch; it just cannot fall back to the FHIR API.
        log.warning("no fhirAuthorization for this hook call: %s", type(err).__name__)
        return None
    return {
        "access_token": token["access_token"],
        "token_type": "Bearer",
        "expires_in": int(token.get("expires_in", 300)),
        "scope": token.get("scope", scope),
        "subject": registration.client_id,
        "patient": session.patient_id,
    }


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def accepted_feedback(card: Card, suggestion: Suggestion) -> dict[str, Any] | None:
    """The feedback item for an accepted suggestion; ``None`` for a card without a uuid."""
    if not card.uuid:
        return None
    item: dict[str, Any] = {"card": card.uuid, "outcome": "accepted", "outcomeTimestamp": now_iso()}
    if suggestion.uuid:
        item["acceptedSuggestions"] = [{"id": suggestion.uuid}]
    return item


def overridden_feedback(card: Card, reason_code: str, comment: str) -> dict[str, Any] | None:
    """The feedback item for a dismissed card; only a reason the card offered is sent."""
    if not card.uuid:
        return None
    item: dict[str, Any] = {"card": card.uuid, "outcome": "overridden", "outcomeTimestamp": now_iso()}
    reason = next((r for r in card.overrideReasons if r.code == reason_code), None) if reason_code else None
    comment = comment.strip()[:MAX_COMMENT]
    override: dict[str, Any] = {}
    if reason is not None:
        override["reason"] = reason.model_dump(exclude_none=True)
    if comment:
        override["userComment"] = comment
    if override:
        item["overrideReason"] = override
    return item
