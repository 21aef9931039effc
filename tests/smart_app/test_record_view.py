"""Building the view from a vendor's FHIR answers (a scripted server): medication references that the
search did not include, types not granted, one panel failing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from clinical.fhir_client import FhirClient, FhirClientConfig, FhirNotFound
from smart_app import errors
from smart_app.record_view import load_record_view
from smart_app.session_models import SmartSession
from smart_app.session_store import key_hash
from smart_app.views import record_view
from smart_app.web import smart_state
from tests.smart_app.fhir_stub import StubFhir, bundle, observation, running_stub

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"text": "Ann Doe"}], "gender": "female"}


@pytest.fixture
def stub_fhir() -> Iterator[StubFhir]:
    with running_stub() as stub:
        yield stub


def _request(rid: str, **medication: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        **medication,
    }


def _medication(mid: str, code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": mid,
        "code": {"coding": [{"system": RXNORM, "code": code}], "text": text},
    }


def test_medications_inline_contained_included_and_referenced(stub_fhir: StubFhir) -> None:
    stub_fhir.serve("/fhir/Patient/p1", PATIENT)
    contained = _request(
        "mr-contained",
        contained=[_medication("c1", "197604", "digoxin 0.125 MG Oral Tablet")],
        medicationReference={"reference": "#c1"},
    )
    search = bundle(
        [
            _request("mr-inline", medicationCodeableConcept={"text": "warfarin sodium 5 MG Oral Tablet"}),
            contained,
            _request("mr-included", medicationReference={"reference": "Medication/inc"}),
            _request("mr-referenced", medicationReference={"reference": "Medication/ref"}),
        ]
    )
    search["entry"].append(
        {"resource": _medication("inc", "198051", "omeprazole 20 MG"), "search": {"mode": "include"}}
    )
    stub_fhir.serve("/fhir/MedicationRequest", search)
    stub_fhir.serve("/fhir/Medication/ref", _medication("ref", "310965", "ibuprofen 200 MG Oral Tablet"))
    for rtype in ("Condition", "AllergyIntolerance", "Observation"):
        stub_fhir.serve(f"/fhir/{rtype}", bundle([]))
    client = FhirClient(stub_fhir.base, token="t", config=FhirClientConfig(max_retries=0))
    view = load_record_view(client, "p1", encounter_id=None, granted_types=set(), wildcard=True)
    texts = sorted(m.text for m in view.record.active_medications)
    assert texts == [
        "digoxin 0.125 MG Oral Tablet",
        "ibuprofen 200 MG Oral Tablet",
        "omeprazole 20 MG",
        "warfarin sodium 5 MG Oral Tablet",
    ]
    assert stub_fhir.hits["/fhir/Medication/ref"] == 1  # only the one the search did not include
    assert "/fhir/Medication/inc" not in stub_fhir.hits
    assert view.record.name == "Ann Doe"


def test_types_not_granted_are_not_fetched_and_a_failing_panel_degrades_alone(stub_fhir: StubFhir) -> None:
    stub_fhir.serve("/fhir/Patient/p1", PATIENT)
    stub_fhir.serve("/fhir/MedicationRequest", bundle([]))
    stub_fhir.script("/fhir/Observation", (500, {}, {}))
    client = FhirClient(stub_fhir.base, token="t", config=FhirClientConfig(max_retries=0))
    view = load_record_view(
        client,
        "p1",
        encounter_id=None,
        granted_types={"Patient", "MedicationRequest", "Observation"},
        wildcard=False,
    )
    assert view.panels["problems"].state == "not-granted"
    assert view.panels["allergies"].state == "not-granted"
    assert "/fhir/Condition" not in stub_fhir.hits and "/fhir/AllergyIntolerance" not in stub_fhir.hits
    assert view.panels["labs"].state == "error" and view.panels["medications"].ok
    assert view.record.name == "Ann Doe"


def test_labs_newest_first_and_missing_patient_is_not_found(stub_fhir: StubFhir) -> None:
    stub_fhir.serve("/fhir/Patient/p1", PATIENT)
    stub_fhir.serve("/fhir/Observation", bundle([observation(3), observation(20), observation(9)]))
    for rtype in ("MedicationRequest", "Condition", "AllergyIntolerance"):
        stub_fhir.serve(f"/fhir/{rtype}", bundle([]))
    client = FhirClient(stub_fhir.base, token="t", config=FhirClientConfig(max_retries=0))
    view = load_record_view(client, "p1", encounter_id=None, granted_types=set(), wildcard=True)
    dates = [o.effective for o in view.record.observations if o.effective is not None]
    assert dates == sorted(dates, reverse=True)
    with pytest.raises(FhirNotFound):
        load_record_view(client, "nobody", encounter_id=None, granted_types=set(), wildcard=True)


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, errors.PatientNotFound), (403, errors.AuthorizationDenied), (500, errors.FhirAccessFailed)],
)
def test_patient_read_failures_become_human_errors(
    app: Flask, stub_fhir: StubFhir, status: int, error: type[errors.SmartAppError]
) -> None:
    """The page's own FHIR failures (the patient itself) map to specific pages; panels degrade alone."""
    stub_fhir.script("/fhir/Patient/p1", (status, {"resourceType": "OperationOutcome"}, {}))
    for rtype in ("MedicationRequest", "Condition", "AllergyIntolerance", "Observation"):
        stub_fhir.serve(f"/fhir/{rtype}", bundle([]))
    session = SmartSession(
        browser_hash=key_hash("browser-1"),
        iss=stub_fhir.base,
        client_id="evidence-cds",
        token_endpoint=f"{stub_fhir.server.url}/token",
        access_token="t",
        expires_at=time.time() + 3600,
        requested_scope="launch patient/*.rs",
        patient="p1",
    )
    smart_state(app).store.put_session("sid-1", session, 60)
    with pytest.raises(error) as info:
        record_view(app, "sid-1", "browser-1", use_cache=False)
    assert 400 <= info.value.status < 600
