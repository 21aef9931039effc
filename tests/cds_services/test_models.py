"""Spec rules of the wire models and the registry (CDS Hooks 2.0 §Card Attributes, §Discovery)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cds_services.hook_contexts import HookContext
from cds_services.models import Action, Card, CdsResponse, Feedback, HookRequest, Link, OverrideReason
from cds_services.prefetch import render_template
from cds_services.registry import CdsService, RegistryError, ServiceRegistry

SOURCE = {"label": "Guideline"}


def _card(**kw: Any) -> dict[str, Any]:
    return {"summary": "ok", "indicator": "info", "source": SOURCE, **kw}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"summary": "x" * 140}, "shorter than 140"),
        ({"summary": ""}, "at least 1"),
        ({"indicator": "urgent"}, "indicator"),
        ({"source": {}}, "label"),
        ({"source": {"label": "a", "url": "javascript:alert(1)"}}, "absolute"),
        ({"suggestions": [{"label": "do it"}]}, "selectionBehavior is required"),
        (
            {
                "suggestions": [{"label": "a", "uuid": "1"}, {"label": "b", "uuid": "1"}],
                "selectionBehavior": "any",
            },
            "unique",
        ),
        (
            {"links": [{"label": "l", "url": "https://x.example", "type": "absolute", "appContext": "c"}]},
            "only allowed on smart",
        ),
        ({"overrideReasons": [{"code": "x"}]}, "display"),
        ({"unknownField": 1}, "Extra inputs"),
    ],
)
def test_card_spec_rules(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Card.model_validate(_card(**fields))


def test_valid_card_round_trips_without_nulls() -> None:
    card = Card.model_validate(
        _card(
            suggestions=[
                {
                    "label": "stop",
                    "actions": [{"type": "delete", "description": "d", "resourceId": "MedicationRequest/1"}],
                }
            ],
            selectionBehavior="at-most-one",
            links=[
                {"label": "app", "url": "https://app.example/launch", "type": "smart", "appContext": "ctx"}
            ],
            overrideReasons=[{"code": "r", "system": "http://s", "display": "Reason"}],
        )
    )
    out = CdsResponse(cards=[card]).to_json_dict()
    assert out["cards"][0]["uuid"] and "detail" not in out["cards"][0]
    assert Card.model_validate(out["cards"][0]) == card


@pytest.mark.parametrize(
    ("action", "ok"),
    [
        ({"type": "create", "description": "d", "resource": {"resourceType": "ServiceRequest"}}, True),
        ({"type": "create", "description": "d"}, False),
        ({"type": "update", "description": "d", "resource": {"id": "1"}}, False),
        ({"type": "delete", "description": "d", "resourceId": "MedicationRequest/1"}, True),
        ({"type": "delete", "description": "d"}, False),
        ({"type": "patch", "description": "d", "resourceId": "X/1"}, False),
    ],
)
def test_action_targets(action: dict[str, Any], ok: bool) -> None:
    if ok:
        Action.model_validate(action)
    else:
        with pytest.raises(ValidationError):
            Action.model_validate(action)


def test_link_and_override_reason_models() -> None:
    assert Link(label="l", url="https://a.example", type="smart", appContext="x").appContext == "x"  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        OverrideReason(code="c", display="")


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        (
            {
                "hook": "patient-view",
                "hookInstance": "1",
                "context": {"userId": "Practitioner/1", "patientId": "p"},
            },
            True,
        ),
        ({"hook": "patient-view", "hookInstance": "1", "context": {"patientId": "p"}}, False),
        (
            {
                "hook": "order-select",
                "hookInstance": "1",
                "context": {
                    "userId": "Practitioner/1",
                    "patientId": "p",
                    "selections": [],
                    "draftOrders": {"resourceType": "Bundle"},
                },
            },
            False,
        ),
        (
            {
                "hook": "order-sign",
                "hookInstance": "1",
                "context": {
                    "userId": "Practitioner/1",
                    "patientId": "p",
                    "draftOrders": {"resourceType": "Patient"},
                },
            },
            False,
        ),
        ({"hook": "encounter-start", "hookInstance": "1", "context": {"anything": 1}}, True),
        (
            {
                "hook": "patient-view",
                "hookInstance": "1",
                "context": {"userId": "Practitioner/1", "patientId": "p"},
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 1,
                    "scope": "s",
                    "subject": "x",
                },
            },
            False,
        ),
        (
            {
                "hook": "patient-view",
                "hookInstance": "1",
                "fhirServer": "ftp://x",
                "context": {"userId": "Practitioner/1", "patientId": "p"},
            },
            False,
        ),
    ],
)
def test_hook_request_rules(body: dict[str, Any], ok: bool) -> None:
    if ok:
        HookRequest.model_validate(body)
    else:
        with pytest.raises(ValidationError):
            HookRequest.model_validate(body)


def test_feedback_outcome_rules() -> None:
    ok = {
        "card": "c",
        "outcome": "overridden",
        "outcomeTimestamp": "t",
        "overrideReason": {"userComment": "x"},
    }
    assert Feedback.model_validate({"feedback": [ok]}).feedback[0].overrideReason is not None
    with pytest.raises(ValidationError):
        Feedback.model_validate({"feedback": [{**ok, "acceptedSuggestions": [{"id": "s"}]}]})


def _noop(inp: Any) -> list[Card]:
    return []


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"id": "Bad Id"}, "must match"),
        ({"prefetch": {"p": "Patient/{{context.patient}}"}}, "unsupported token"),
        ({"prefetch": {"p": "Patient/{{Patient.id}}"}}, "unsupported token"),
        ({"optional_prefetch": frozenset({"nope"})}, "unknown keys"),
        ({"time_budget_ms": 0}, "positive"),
    ],
)
def test_service_definition_is_checked(kw: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "id": "ok",
        "hook": "patient-view",
        "title": "t",
        "description": "d",
        "handler": _noop,
    }
    with pytest.raises(RegistryError, match=message):
        CdsService(**{**base, **kw})


def test_registry_refuses_one_id_from_two_modules() -> None:
    a = CdsService(id="dup", hook="patient-view", title="t", description="d", handler=_noop)
    b = CdsService(id="dup", hook="patient-view", title="t", description="d", handler=lambda inp: [])
    object.__setattr__(b.handler, "__module__", "elsewhere")
    with pytest.raises(RegistryError):
        ServiceRegistry([a, b])


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("Patient/{{context.patientId}}", {"patientId": "p1"}, "Patient/p1"),
        ("Encounter/{{context.encounterId}}", {"patientId": "p1"}, None),
        ("Practitioner/{{userPractitionerId}}", {"userId": "Practitioner/abc"}, "Practitioner/abc"),
        ("PractitionerRole/{{userPractitionerRoleId}}", {"userId": "Practitioner/abc"}, None),
        (
            "Observation?patient={{ context.patientId }}&code=4548-4",
            {"patientId": "p.1"},
            "Observation?patient=p.1&code=4548-4",
        ),
    ],
)
def test_prefetch_template_rendering(template: str, context: dict[str, Any], expected: str | None) -> None:
    assert render_template(template, HookContext.model_validate(context)) == expected
