"""The EHR's CDS Hooks client end to end over loopback HTTP, against a recording stand-in service.

Checks the request per hook (CDS Hooks 2.0 §HTTP Request, the patient-view / order-select /
order-sign context), the prefetch the EHR built from its own data, suggestions applied to the draft
orders, feedback posted (§Feedback), and that failing services never break the chart.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests

from tests.sandbox.ehr_support import (
    OTHER_PATIENT_ID,
    PATIENT_ID,
    EhrUnderTest,
    RecordingCdsService,
    start_ehr,
)

HX = {"HX-Request": "true"}
IBUPROFEN = "310965"
NAPROXEN = "198014"


def open_chart(ehr: EhrUnderTest, flavour: str = "generic") -> str:
    page = requests.get(f"{ehr.url}/chart/{PATIENT_ID}", params={"flavour": flavour}, timeout=10)
    assert page.status_code == 200
    match = re.search(r"/ehr/([0-9a-f]{32})/", page.text)
    assert match
    return match.group(1)


def post(ehr: EhrUnderTest, path: str, data: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{ehr.url}{path}", data=data or {}, headers=HX, timeout=15)


def draft_ids(html: str) -> list[str]:
    return re.findall(r'data-order-id="([^"]+)"', html)


def test_patient_view_sends_context_and_prefetch_from_the_ehrs_own_data(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    sid = open_chart(ehr)
    resp = post(ehr, f"/ehr/{sid}/hooks/patient-view")
    assert resp.status_code == 200
    assert "Record summary from the test service" in resp.text
    [call] = [c for c in cds.of_hook("patient-view") if c.path.endswith("test-patient-view")]
    body = call.body
    uuid.UUID(body["hookInstance"])
    assert body["fhirServer"] == f"{ehr.url}/fhir"
    assert body["context"] == {
        "userId": "Practitioner/demo-practitioner",
        "patientId": PATIENT_ID,
        "encounterId": "enc-now",  # the in-progress encounter, not the older finished one
    }
    prefetch = body["prefetch"]
    assert prefetch["patient"]["id"] == PATIENT_ID
    assert prefetch["user"]["resourceType"] == "Practitioner"
    assert prefetch["encounter"]["id"] == "enc-now"
    meds = prefetch["medications"]
    assert meds["resourceType"] == "Bundle" and meds["type"] == "searchset"
    assert sorted(e["resource"]["id"] for e in meds["entry"]) == ["mr-digoxin", "mr-warfarin"]
    assert all(e["fullUrl"].startswith(f"{ehr.url}/fhir/MedicationRequest/") for e in meds["entry"])
    assert [e["resource"]["id"] for e in prefetch["conditions"]["entry"]] == ["cond-af"]
    assert sorted(e["resource"]["id"] for e in prefetch["labs"]["entry"]) == ["obs-inr", "obs-k"]
    assert "unanswerable" not in prefetch  # left out, so the service falls back to FHIR
    # Nothing of the other patient is ever sent.
    assert OTHER_PATIENT_ID not in str(body)


def test_order_select_sends_selection_and_draft_orders_then_shows_the_card(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    sid = open_chart(ehr)
    first = post(ehr, f"/ehr/{sid}/orders", {"code": NAPROXEN})
    second = post(ehr, f"/ehr/{sid}/orders", {"code": IBUPROFEN})
    assert first.status_code == second.status_code == 200
    calls = cds.of_hook("order-select")
    assert len(calls) == 2
    ctx = calls[1].body["context"]
    assert set(ctx) == {"userId", "patientId", "encounterId", "selections", "draftOrders"}
    drafts = [e["resource"] for e in ctx["draftOrders"]["entry"]]
    assert ctx["draftOrders"]["resourceType"] == "Bundle"
    assert [d["medicationCodeableConcept"]["coding"][0]["code"] for d in drafts] == [NAPROXEN, IBUPROFEN]
    assert all(d["status"] == "draft" and d["intent"] == "order" for d in drafts)
    assert all(d["subject"] == {"reference": f"Patient/{PATIENT_ID}"} for d in drafts)
    assert ctx["selections"] == [f"MedicationRequest/{drafts[1]['id']}"]
    included = [
        e for e in calls[1].body["prefetch"]["medications"]["entry"] if e["search"]["mode"] == "include"
    ]
    assert [e["resource"]["id"] for e in included] == ["med-digoxin"]
    assert "Interaction check: ibuprofen 200 MG Oral Tablet" in second.text
    assert draft_ids(second.text) == [d["id"] for d in drafts]


def test_delete_suggestion_removes_the_draft_and_posts_accepted_feedback(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    sid = open_chart(ehr)
    post(ehr, f"/ehr/{sid}/orders", {"code": NAPROXEN})
    resp = post(ehr, f"/ehr/{sid}/orders", {"code": IBUPROFEN})
    naproxen_id, ibuprofen_id = draft_ids(resp.text)
    key = f"card-os-{ibuprofen_id}"
    applied = post(ehr, f"/ehr/{sid}/cards/{key}/suggestions/0")
    assert applied.status_code == 200
    assert draft_ids(applied.text) == [naproxen_id]  # exactly the suggested draft is gone
    assert key not in applied.text
    [fb] = cds.feedback
    assert fb.path == "/cds-services/test-order-select/feedback"
    [item] = fb.body["feedback"]
    assert item["card"] == key
    assert item["outcome"] == "accepted"
    assert item["acceptedSuggestions"] == [{"id": "sug-cancel"}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["outcomeTimestamp"])
    assert fb.headers["Authorization"].startswith("Bearer ")


def test_create_suggestion_adds_a_draft(ehr: EhrUnderTest, cds: RecordingCdsService) -> None:
    sid = open_chart(ehr)
    resp = post(ehr, f"/ehr/{sid}/orders", {"code": IBUPROFEN})
    [ibuprofen_id] = draft_ids(resp.text)
    applied = post(ehr, f"/ehr/{sid}/cards/card-os-{ibuprofen_id}/suggestions/1")
    ids = draft_ids(applied.text)
    assert len(ids) == 2 and ids[0] == ibuprofen_id
    assert "omeprazole 20 MG (suggested)" in applied.text


def test_dismiss_with_override_reason_posts_overridden_feedback(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    sid = open_chart(ehr)
    resp = post(ehr, f"/ehr/{sid}/orders", {"code": IBUPROFEN})
    [order_id] = draft_ids(resp.text)
    key = f"card-os-{order_id}"
    assert "Benefit outweighs risk" in resp.text  # override reasons offered
    dismissed = post(
        ehr, f"/ehr/{sid}/cards/{key}/dismiss", {"reason": "will-monitor", "comment": "INR Friday"}
    )
    assert dismissed.status_code == 200
    assert draft_ids(dismissed.text) == [order_id]  # overriding keeps the order
    [item] = cds.feedback[0].body["feedback"]
    assert item["card"] == key and item["outcome"] == "overridden"
    assert item["overrideReason"] == {
        "reason": {
            "system": "http://example.org/override",
            "code": "will-monitor",
            "display": "Will monitor closely",
        },
        "userComment": "INR Friday",
    }


def test_order_sign_sends_all_drafts_and_holds_signing_while_a_card_is_shown(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    sid = open_chart(ehr)
    post(ehr, f"/ehr/{sid}/orders", {"code": NAPROXEN})
    post(ehr, f"/ehr/{sid}/orders", {"code": IBUPROFEN})
    signed = post(ehr, f"/ehr/{sid}/orders/sign")
    [call] = cds.of_hook("order-sign")
    ctx = call.body["context"]
    assert set(ctx) == {"userId", "patientId", "encounterId", "draftOrders"}
    assert len(ctx["draftOrders"]["entry"]) == 2
    assert "2 draft order(s) reviewed" in signed.text
    assert 'data-indicator="critical"' in signed.text
    assert len(draft_ids(signed.text)) == 2  # a card holds the orders until confirmed
    confirmed = post(ehr, f"/ehr/{sid}/orders/sign", {"confirm": "1"})
    assert draft_ids(confirmed.text) == []
    assert 'id="signed-orders"' in confirmed.text
    assert len(cds.of_hook("order-sign")) == 1  # confirming does not call the hook again


def test_card_detail_markdown_is_rendered_without_raw_html(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    sid = open_chart(ehr)
    resp = post(ehr, f"/ehr/{sid}/hooks/patient-view")
    assert "<strong>Bold</strong>" in resp.text
    assert "<script>alert(1)</script>" not in resp.text
    assert 'href="https://example.org/guideline#s2"' in resp.text  # source link
    assert 'target="_blank" rel="noopener noreferrer">Guideline</a>' in resp.text  # absolute link: new tab


def test_a_failing_service_shows_a_note_and_the_others_still_show_cards(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    cds.broken.add("test-broken")
    sid = open_chart(ehr)
    resp = post(ehr, f"/ehr/{sid}/hooks/patient-view")
    assert resp.status_code == 200
    assert "Broken service: HTTP 500" in resp.text
    assert "Record summary from the test service" in resp.text


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "CDS discovery answered HTTP 404"), (500, "CDS discovery answered HTTP 500")],
)
def test_discovery_failure_gives_an_empty_panel_with_a_clear_message(
    ehr: EhrUnderTest, cds: RecordingCdsService, status: int, message: str
) -> None:
    cds.discovery_status = status
    sid = open_chart(ehr)
    resp = post(ehr, f"/ehr/{sid}/hooks/patient-view")
    assert resp.status_code == 200
    assert message in resp.text
    assert "cds-card" not in resp.text
    assert cds.calls == []


def test_a_slow_service_is_cut_off_at_the_timeout(tmp_path: Path) -> None:
    running = start_ehr(tmp_path, {"cds_timeout_s": 0.5})
    try:
        running.cds.slow["test-patient-view"] = 2.0
        sid = open_chart(running)
        resp = post(running, f"/ehr/{sid}/hooks/patient-view")
        assert resp.status_code == 200
        assert "Test summary: timed out after 0.5 s" in resp.text
        assert resp.elapsed.total_seconds() < 1.9
    finally:
        running.stop()


def test_unknown_medication_code_is_a_400_not_a_draft(ehr: EhrUnderTest, cds: RecordingCdsService) -> None:
    sid = open_chart(ehr)
    assert post(ehr, f"/ehr/{sid}/orders", {"code": "999999999"}).status_code == 400
    assert post(ehr, f"/ehr/{sid}/orders", {}).status_code == 400
    assert cds.of_hook("order-select") == []


@pytest.mark.parametrize(("flavour", "scope_suffix"), [("generic", ".rs"), ("cerner", ".read")])
def test_fhir_authorization_is_a_real_token_limited_to_the_patient(
    ehr: EhrUnderTest, cds: RecordingCdsService, flavour: str, scope_suffix: str
) -> None:
    sid = open_chart(ehr, flavour)
    post(ehr, f"/ehr/{sid}/hooks/patient-view")
    body = cds.of_hook("patient-view")[0].body
    auth = body["fhirAuthorization"]
    assert auth["token_type"] == "Bearer" and auth["subject"] == "evidence-cds"
    assert auth["patient"] == PATIENT_ID and 0 < auth["expires_in"] <= 3600
    scopes = auth["scope"].split()
    assert scopes and all(s.startswith("patient/") and s.endswith(scope_suffix) for s in scopes)
    bearer = {"Authorization": f"Bearer {auth['access_token']}", "Accept": "application/fhir+json"}
    own = requests.get(f"{body['fhirServer']}/Patient/{PATIENT_ID}", headers=bearer, timeout=5)
    assert own.status_code == 200 and own.json()["id"] == PATIENT_ID
    other = requests.get(f"{body['fhirServer']}/Patient/{OTHER_PATIENT_ID}", headers=bearer, timeout=5)
    assert other.status_code == 403
