"""Happy paths of each hook over real HTTP, discovery shape, CORS, and cross-hook card memory."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import requests

from tests.cds_services.conftest import (
    CdsServer,
    EhrClient,
    demo_resources,
    full_prefetch,
    patient_view,
    searchset,
)

CARD_KEYS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
    "extension",
}


def test_discovery_lists_registered_services_with_spec_fields(cds: CdsServer) -> None:
    resp = requests.get(f"{cds.url}/cds-services", timeout=5)
    assert resp.status_code == 200
    services = {s["id"]: s for s in resp.json()["services"]}
    summary = services["record-summary"]
    assert summary["hook"] == "patient-view"
    assert summary["title"] and summary["description"]
    assert summary["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert {"test-order-select", "test-order-sign"} <= set(services)
    for s in services.values():
        assert set(s) <= {"id", "hook", "title", "description", "prefetch", "usageRequirements"}


@pytest.mark.parametrize(
    ("origin", "allowed"), [("https://ehr.test.example", True), ("https://evil.example", False)]
)
def test_cors_answers_only_configured_ehr_origins(cds: CdsServer, origin: str, allowed: bool) -> None:
    pre = requests.options(
        f"{cds.url}/cds-services/record-summary",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=5,
    )
    assert pre.status_code == 200
    assert (pre.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    if allowed:
        assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    get = requests.get(f"{cds.url}/cds-services", headers={"Origin": origin}, timeout=5)
    assert ("Access-Control-Allow-Origin" in get.headers) is allowed


def test_patient_view_returns_spec_cards_for_monitoring_gap(ehr: EhrClient) -> None:
    resources = demo_resources("demo-warfarin")
    # Only the warfarin order and an INR 20 weeks old: the INR gap must be flagged.
    meds = [
        r
        for r in resources
        if r["resourceType"] == "MedicationRequest"
        and "warfarin" in r["medicationCodeableConcept"]["text"].lower()
    ]
    inr = copy.deepcopy(
        next(r for r in resources if r["resourceType"] == "Observation" and "6301-6" in str(r))
    )
    inr["effectiveDateTime"] = "2020-01-01T08:00:00Z"
    prefetch = full_prefetch([*[r for r in resources if r["resourceType"] == "Patient"], *meds, inr])
    resp = ehr.call("record-summary", patient_view("demo-warfarin", prefetch))
    assert resp.status_code == 200, resp.text
    cards = resp.json()["cards"]
    assert len(cards) == 1
    card = cards[0]
    assert set(card) <= CARD_KEYS
    assert card["indicator"] == "warning" and "INR" in card["summary"] and len(card["summary"]) < 140
    assert card["source"]["label"] and card["source"]["url"].startswith("https://")
    assert card["selectionBehavior"] == "at-most-one"
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "ServiceRequest"
    uuid.UUID(card["uuid"])


def _order_context(hook: str, drug: str, dose: float = 400) -> dict[str, Any]:
    order = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/demo-warfarin"},
        "medicationCodeableConcept": {"text": f"{drug} {dose:g} MG Oral Tablet"},
    }
    ctx: dict[str, Any] = {
        "userId": "Practitioner/demo-practitioner",
        "patientId": "demo-warfarin",
        "draftOrders": searchset([order]) | {"type": "collection"},
    }
    if hook == "order-select":
        ctx["selections"] = ["MedicationRequest/draft-1"]
    return ctx


def _order_call(
    ehr: EhrClient, hook: str, drug: str, meds: list[dict[str, Any]], dose: float = 400
) -> list[Any]:
    body = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": _order_context(hook, drug, dose),
        "prefetch": {"medications": searchset(meds)},
    }
    resp = ehr.call(f"test-{hook}", body)
    assert resp.status_code == 200, resp.text
    cards: list[Any] = resp.json()["cards"]
    return cards


@pytest.fixture
def warfarin_meds() -> list[dict[str, Any]]:
    res = demo_resources("demo-warfarin")
    return [r for r in res if r["resourceType"] == "MedicationRequest"]


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize(("drug", "expect_card"), [("ibuprofen", True), ("paracetamol", False)])
def test_order_hooks_happy_path(
    ehr: EhrClient, warfarin_meds: list[dict[str, Any]], hook: str, drug: str, expect_card: bool
) -> None:
    # Fresh patient data per case (a distinct med id) so the card memory of other tests cannot apply.
    meds = copy.deepcopy(warfarin_meds)
    meds[0]["id"] = f"{meds[0]['id']}-{uuid.uuid4().hex[:6]}"
    cards = _order_call(ehr, hook, drug, meds)
    assert bool(cards) is expect_card
    if expect_card:
        assert cards[0]["indicator"] == "warning" and drug in cards[0]["summary"]


def test_card_shown_at_order_select_is_not_repeated_at_order_sign(
    ehr: EhrClient, warfarin_meds: list[dict[str, Any]]
) -> None:
    meds = copy.deepcopy(warfarin_meds)
    meds[0]["id"] = f"w-{uuid.uuid4().hex[:8]}"
    assert len(_order_call(ehr, "order-select", "naproxen", meds)) == 1
    assert _order_call(ehr, "order-sign", "naproxen", meds) == []
    # The order changed (dose): the card is shown again.
    assert len(_order_call(ehr, "order-sign", "naproxen", meds, dose=500)) == 1
    # The patient's data changed (another active medication): shown again.
    changed = [*meds, {**meds[1], "id": f"x-{uuid.uuid4().hex[:8]}"}]
    assert len(_order_call(ehr, "order-sign", "naproxen", changed)) == 1
