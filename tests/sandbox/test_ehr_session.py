"""Draft orders under suggestion actions (CDS Hooks 2.0 §Action) and feedback items (§Feedback)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.cds_models import Action, Card
from sandbox.ehr_hooks import accepted_feedback, overridden_feedback
from sandbox.ehr_session import CATALOG_BY_CODE, ChartSession, ChartSessions, UnknownMedication


@pytest.fixture
def session() -> ChartSession:
    s = ChartSessions().open("p1", "enc-1", "Practitioner/demo-practitioner", "generic")
    s.add_medication_order("310965")
    s.add_medication_order("198014")
    return s


def codes(s: ChartSession) -> list[str]:
    return [o["medicationCodeableConcept"]["coding"][0]["code"] for o in s.draft_orders]


def test_new_draft_is_a_draft_medication_request_for_the_chart(session: ChartSession) -> None:
    order = session.draft_orders[0]
    assert order["resourceType"] == "MedicationRequest"
    assert (order["status"], order["intent"]) == ("draft", "order")
    assert order["subject"] == {"reference": "Patient/p1"}
    assert order["encounter"] == {"reference": "Encounter/enc-1"}
    assert order["requester"] == {"reference": "Practitioner/demo-practitioner"}
    coding = order["medicationCodeableConcept"]["coding"][0]
    assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert coding["display"] == CATALOG_BY_CODE["310965"]
    with pytest.raises(UnknownMedication):
        session.add_medication_order("0")


@pytest.mark.parametrize("as_list", [False, True])
def test_delete_removes_exactly_the_named_draft(session: ChartSession, as_list: bool) -> None:
    ref = f"MedicationRequest/{session.draft_orders[0]['id']}"
    session.apply_action(Action.model_validate({"type": "delete", "resourceId": [ref] if as_list else ref}))
    assert codes(session) == ["198014"]


def test_delete_of_an_unknown_or_other_type_reference_changes_nothing(session: ChartSession) -> None:
    order_id = session.draft_orders[0]["id"]
    for ref in ("MedicationRequest/nope", f"ServiceRequest/{order_id}"):
        session.apply_action(Action.model_validate({"type": "delete", "resourceId": ref}))
    assert codes(session) == ["310965", "198014"]


def test_create_adds_a_draft_with_an_id_and_update_replaces_in_place(session: ChartSession) -> None:
    resource: dict[str, Any] = {"resourceType": "ServiceRequest", "intent": "order", "code": {"text": "INR"}}
    session.apply_action(Action.model_validate({"type": "create", "resource": resource}))
    created = session.draft_orders[-1]
    assert created["resourceType"] == "ServiceRequest" and created["status"] == "draft" and created["id"]
    first = dict(session.draft_orders[0], dosageInstruction=[{"text": "200 mg twice daily"}])
    session.apply_action(Action.model_validate({"type": "update", "resource": first}))
    assert len(session.draft_orders) == 3
    updated = next(o for o in session.draft_orders if o["id"] == first["id"])
    assert updated["dosageInstruction"] == [{"text": "200 mg twice daily"}]


def test_draft_bundle_and_signing(session: ChartSession) -> None:
    bundle = session.draft_bundle()
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) == 2
    signed = session.sign_all()
    assert [o["status"] for o in signed] == ["active", "active"]
    assert session.draft_orders == [] and len(session.signed_orders) == 2


REASON = {"system": "x", "code": "r1", "display": "Reason one"}
CARD = Card.model_validate(
    {
        "uuid": "c1",
        "summary": "s",
        "suggestions": [{"label": "a", "uuid": "s1"}, {"label": "b"}],
        "overrideReasons": [REASON],
    }
)


def test_accepted_feedback_names_the_suggestion_only_when_it_has_a_uuid() -> None:
    with_id = accepted_feedback(CARD, CARD.suggestions[0])
    without = accepted_feedback(CARD, CARD.suggestions[1])
    assert with_id is not None and with_id["acceptedSuggestions"] == [{"id": "s1"}]
    assert without is not None and "acceptedSuggestions" not in without
    assert accepted_feedback(CARD.model_copy(update={"uuid": None}), CARD.suggestions[0]) is None


@pytest.mark.parametrize(
    ("reason", "comment", "expected"),
    [
        ("r1", "", {"reason": {"system": "x", "code": "r1", "display": "Reason one"}}),
        (
            "r1",
            "  ok  ",
            {"reason": {"system": "x", "code": "r1", "display": "Reason one"}, "userComment": "ok"},
        ),
        ("not-offered", "", None),  # only reasons the card offered are sent
        ("", "just a comment", {"userComment": "just a comment"}),
    ],
)
def test_overridden_feedback(reason: str, comment: str, expected: dict[str, Any] | None) -> None:
    item = overridden_feedback(CARD, reason, comment)
    assert item is not None and item["outcome"] == "overridden" and item["card"] == "c1"
    assert item.get("overrideReason") == expected
