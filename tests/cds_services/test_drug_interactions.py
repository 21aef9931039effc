"""Drug-interaction services over real HTTP: the demo patients, spec-valid cards, de-duplication,
order-select vs order-sign, a few ONC high-priority pairs end to end, silence for unlisted pairs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from clinical.codes import RXNORM
from tests.cds_services.conftest import CdsServer, EhrClient, KeyHost, demo_resources, searchset, start_cds

MODULE = "cds_services.services.drug_interactions"


@pytest.fixture(scope="module")
def ddi(tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost) -> Iterator[CdsServer]:
    srv = start_cds(tmp_path_factory.mktemp("ddi"), key_host, cds_service_modules=[MODULE])
    yield srv
    srv.server.stop()


@pytest.fixture
def client(ddi: CdsServer, ec_key: Any) -> EhrClient:
    return EhrClient(ddi.url, ec_key)


def draft(code: str, display: str, rid: str | None = None, patient: str = "demo-warfarin") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid or f"draft-{uuid.uuid4().hex[:8]}",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        },
    }


def prefetch_for(resources: list[dict[str, Any]]) -> dict[str, Any]:
    by = lambda t: [r for r in resources if r["resourceType"] == t]  # noqa: E731
    return {
        "patient": by("Patient")[0] if by("Patient") else None,
        "medications": searchset(by("MedicationRequest") + by("Medication")),
        "conditions": searchset(by("Condition")),
        "labs": searchset(by("Observation")),
        "statements": searchset([]),
        "dispenses": searchset([]),
        "administrations": searchset([]),
    }


def sign(
    client: EhrClient,
    patient: str,
    drafts: list[dict[str, Any]],
    resources: list[dict[str, Any]] | None = None,
    hook: str = "order-sign",
    selections: list[str] | None = None,
) -> list[dict[str, Any]]:
    context: dict[str, Any] = {
        "userId": "Practitioner/demo-practitioner",
        "patientId": patient,
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in drafts],
        },
    }
    service = "drug-interactions"
    if hook == "order-select":
        context["selections"] = selections or [f"MedicationRequest/{drafts[0]['id']}"]
        service = "drug-interactions-select"
    body = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch_for(resources if resources is not None else demo_resources(patient)),
    }
    resp = client.call(service, body)
    assert resp.status_code == 200, resp.text
    cards: list[dict[str, Any]] = resp.json()["cards"]
    return cards


def test_discovery_lists_both_hooks(ddi: CdsServer) -> None:
    services = {s["id"]: s for s in requests.get(f"{ddi.url}/cds-services", timeout=5).json()["services"]}
    assert services["drug-interactions"]["hook"] == "order-sign"
    assert services["drug-interactions-select"]["hook"] == "order-select"
    prefetch = services["drug-interactions"]["prefetch"]
    assert "{{context.patientId}}" in prefetch["medications"]
    # only the labs the context rules read: INR, digoxin level, potassium, creatinine ...
    for loinc in ("6301-6", "10535-3", "2823-3", "2160-0"):
        assert loinc in prefetch["labs"]


def test_ibuprofen_for_warfarin_patient_gives_one_critical_actionable_card(
    client: EhrClient, ddi: CdsServer
) -> None:
    order = draft("197805", "Ibuprofen 400 MG Oral Tablet")
    cards = sign(client, "demo-warfarin", [order])
    ddi_cards = [c for c in cards if c["source"]["topic"]["code"] == "pddi-warfarin-nsaids"]
    assert len(ddi_cards) == 1
    card = ddi_cards[0]
    assert card["indicator"] == "critical"
    assert (
        len(card["summary"]) < 140
        and "ibuprofen" in card["summary"].lower()
        and "warfarin" in card["summary"]
    )
    assert "Why this patient" in card["detail"] and "not taking a proton pump inhibitor" in card["detail"]
    assert "INR" in card["detail"] and "2.8" in card["detail"] and "What to do" in card["detail"]
    assert card["source"]["label"] and card["source"]["url"].startswith("https://")
    assert card["selectionBehavior"] == "any"
    actions = [a for s in card["suggestions"] for a in s["actions"]]
    assert {"type": "delete", "resourceId": f"MedicationRequest/{order['id']}"}.items() <= next(
        a for a in actions if a["type"] == "delete"
    ).items()
    created = {a["resource"]["resourceType"] for a in actions if a["type"] == "create"}
    assert created == {"MedicationRequest", "ServiceRequest"}  # acetaminophen / PPI, and the INR
    assert all(r["system"] and r["code"] and r["display"] for r in card["overrideReasons"])
    link = card["links"][0]
    assert link["type"] == "smart" and link["url"] == f"{ddi.url}/app/launch"
    assert json.loads(link["appContext"])["entry"] == "pddi-warfarin-nsaids"
    assert [c for c in cards if c["indicator"] == "critical"] == [
        card
    ]  # others (ONC non-interruptive) are info


def test_ppi_on_board_lowers_the_card_to_warning(client: EhrClient) -> None:
    cards = sign(
        client,
        "demo-warfarin-ppi",
        [draft("198014", "naproxen 500 MG Oral Tablet", patient="demo-warfarin-ppi")],
    )
    card = next(c for c in cards if c["source"]["topic"]["code"] == "pddi-warfarin-nsaids")
    assert card["indicator"] == "warning" and "omeprazole" in card["detail"]
    labels = " ".join(s["label"] for s in card["suggestions"])
    assert "omeprazole" not in labels  # no "add a PPI" when one is on board


def test_brand_and_generic_drafts_and_both_orderings_make_one_card(client: EhrClient) -> None:
    drafts = [
        draft("197805", "Ibuprofen 400 MG Oral Tablet"),
        draft("731535", "ibuprofen 100 MG Oral Tablet [Advil]"),
        draft("855332", "warfarin sodium 5 MG Oral Tablet"),
    ]
    patient = [r for r in demo_resources("demo-warfarin") if r["resourceType"] in {"Patient", "Observation"}]
    cards = sign(client, "demo-warfarin", drafts, patient)
    assert [c["source"]["topic"]["code"] for c in cards] == ["pddi-warfarin-nsaids"]


def test_digoxin_patient_cyclosporine_renewal_follows_pddi_continuation(client: EhrClient) -> None:
    order = draft("328160", "cyclosporine 100 MG Oral Capsule", patient="demo-digoxin")
    cards = sign(client, "demo-digoxin", [order])
    card = next(c for c in cards if c["source"]["topic"]["code"] == "pddi-digoxin-cyclosporine")
    assert card["indicator"] == "warning"  # continuation, but digoxin 1.6 ng/mL and potassium 5.4
    assert "1.6" in card["detail"] and "5.4" in card["detail"]
    services = {
        a["resource"]["resourceType"]
        for s in card["suggestions"]
        for a in s["actions"]
        if a["type"] == "create"
    }
    assert services == {"ServiceRequest"}


@pytest.mark.parametrize(
    ("new", "active"),
    [
        (("36567", "simvastatin 20 MG"), ("21212", "clarithromycin 500 MG")),
        (("10689", "tramadol 50 MG"), ("8123", "phenelzine 15 MG")),
        (("57258", "tizanidine 4 MG"), ("2551", "ciprofloxacin 500 MG")),
    ],
)
def test_onc_high_priority_pairs_over_http_are_critical(
    client: EhrClient, new: tuple[str, str], active: tuple[str, str]
) -> None:
    current = draft(active[0], active[1], patient="demo-trial") | {"status": "active"}
    patient = [r for r in demo_resources("demo-trial") if r["resourceType"] == "Patient"]
    cards = sign(client, "demo-trial", [draft(new[0], new[1], patient="demo-trial")], [*patient, current])
    assert [c["indicator"] for c in cards] == ["critical"]
    assert cards[0]["source"]["topic"]["code"].startswith("onc-hp-")


def test_pair_on_no_list_gives_no_card(client: EhrClient) -> None:
    # clopidogrel for the warfarin patient: on none of the shipped lists → silence, not a weak card
    assert sign(client, "demo-warfarin", [draft("309362", "clopidogrel 75 MG Oral Tablet")]) == []


def test_order_select_checks_only_the_selected_draft(client: EhrClient) -> None:
    nsaid = draft("197805", "Ibuprofen 400 MG Oral Tablet")
    other = draft("314076", "lisinopril 10 MG Oral Tablet")
    picked_other = sign(
        client,
        "demo-warfarin",
        [nsaid, other],
        hook="order-select",
        selections=[f"MedicationRequest/{other['id']}"],
    )
    assert all(c["source"]["topic"]["code"] != "pddi-warfarin-nsaids" for c in picked_other)
    picked_nsaid = sign(client, "demo-warfarin", [nsaid, other], hook="order-select")
    assert any(c["source"]["topic"]["code"] == "pddi-warfarin-nsaids" for c in picked_nsaid)


def test_missing_prefetch_without_fhir_server_is_412(client: EhrClient) -> None:
    body = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/x",
            "patientId": "demo-warfarin",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []},
        },
    }
    resp = client.call("drug-interactions", body)
    assert resp.status_code == 412
    assert resp.json()["resourceType"] == "OperationOutcome"
