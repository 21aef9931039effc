"""Prefetch templates rendered and answered from the EHR's own store (CDS Hooks 2.0 §Prefetch Template)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.prefetch import PrefetchContext, UnsupportedQuery, build_prefetch, evaluate, render_template
from sandbox.store import PatientStore
from tests.sandbox.ehr_support import OTHER_PATIENT_ID, PATIENT_ID, ehr_test_bundle

FHIR = "http://ehr.test/fhir"
CTX = PrefetchContext(PATIENT_ID, "Practitioner/demo-practitioner", "enc-now")


@pytest.fixture(scope="module")
def store() -> PatientStore:
    s = PatientStore()
    s.add_bundle(ehr_test_bundle())
    return s


def ids(bundle: dict[str, Any] | None) -> list[str]:
    assert bundle is not None and bundle["type"] == "searchset"
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("Patient/{{context.patientId}}", f"Patient/{PATIENT_ID}"),
        ("Practitioner/{{userPractitionerId}}", "Practitioner/demo-practitioner"),
        ("Practitioner?_id={{ context.userId }}", "Practitioner?_id=Practitioner/demo-practitioner"),
        ("Encounter/{{context.encounterId}}", "Encounter/enc-now"),
    ],
)
def test_tokens_render(template: str, rendered: str) -> None:
    assert render_template(template, CTX) == rendered


@pytest.mark.parametrize("template", ["Patient/{{context.medications}}", "Patient/{{userPatientId}}"])
def test_a_token_without_a_value_is_unsupported(template: str) -> None:
    with pytest.raises(UnsupportedQuery):
        render_template(template, CTX)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"MedicationRequest?patient={PATIENT_ID}", ["mr-digoxin", "mr-stopped", "mr-warfarin"]),
        (f"MedicationRequest?patient={PATIENT_ID}&status=active", ["mr-digoxin", "mr-warfarin"]),
        (
            f"MedicationRequest?subject=Patient/{PATIENT_ID}&status=active,stopped&_count=2",
            ["mr-digoxin", "mr-stopped"],
        ),
        (
            f"MedicationRequest?patient={PATIENT_ID}&code=http://www.nlm.nih.gov/research/umls/rxnorm|855332",
            ["mr-warfarin"],
        ),
        (f"Condition?patient={PATIENT_ID}", ["cond-af", "cond-old"]),
        (f"Condition?patient={PATIENT_ID}&clinical-status=active", ["cond-af"]),
        (f"Observation?patient={PATIENT_ID}&category=laboratory", ["obs-inr", "obs-k"]),
        (f"Observation?patient={PATIENT_ID}&category=vital-signs", ["obs-bp"]),
        (f"Observation?patient={PATIENT_ID}&code=6301-6", ["obs-inr"]),
        (f"Observation?patient={PATIENT_ID}&category=laboratory&date=ge2026-10-01", ["obs-inr"]),
        (f"Observation?patient={PATIENT_ID}&category=laboratory&_sort=-date&_count=1", ["obs-inr"]),
        (f"Observation?patient={PATIENT_ID}&category=laboratory&_sort=date", ["obs-k", "obs-inr"]),
        (f"AllergyIntolerance?patient={PATIENT_ID}", []),
    ],
)
def test_searches_filter_the_patients_own_resources(
    store: PatientStore, query: str, expected: list[str]
) -> None:
    assert ids(evaluate(query, CTX, store, FHIR)) == expected


def test_include_adds_the_referenced_medication(store: PatientStore) -> None:
    bundle = evaluate(
        f"MedicationRequest?patient={PATIENT_ID}&_include=MedicationRequest:medication", CTX, store, FHIR
    )
    assert bundle is not None
    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["id"] for e in included] == ["med-digoxin"]
    assert included[0]["fullUrl"] == f"{FHIR}/Medication/med-digoxin"


def test_read_of_a_missing_resource_is_null(store: PatientStore) -> None:
    assert evaluate("Encounter/does-not-exist", CTX, store, FHIR) is None
    patient = evaluate(f"Patient/{PATIENT_ID}", CTX, store, FHIR)
    assert patient is not None and patient["id"] == PATIENT_ID


@pytest.mark.parametrize(
    "query",
    [
        f"Condition?patient={OTHER_PATIENT_ID}",  # another patient: never answered
        "Condition?status=active",  # no patient at all
        f"Patient/{OTHER_PATIENT_ID}",
        "Condition/cond-other",
        f"Observation?patient={PATIENT_ID}&component-code=1234",  # parameter this EHR does not evaluate
        f"Observation?patient={PATIENT_ID}&_sort=value",
        f"Observation?patient={PATIENT_ID}&_count=lots",
        f"MedicationRequest?patient={PATIENT_ID}&_include=MedicationRequest:requester",
        "Medication?code=197604",
    ],
)
def test_queries_outside_the_patient_or_the_evaluator_are_unsupported(
    store: PatientStore, query: str
) -> None:
    with pytest.raises(UnsupportedQuery):
        evaluate(query, CTX, store, FHIR)


def test_build_prefetch_answers_what_it_can_and_leaves_the_rest_out(store: PatientStore) -> None:
    templates = {
        "patient": "Patient/{{context.patientId}}",
        "meds": "MedicationRequest?patient={{context.patientId}}&status=active",
        "missing": "Encounter/nope",
        "other": f"Condition?patient={OTHER_PATIENT_ID}",
        "odd": "Patient/{{context.appointments}}",
    }
    out = build_prefetch(templates, CTX, store, FHIR)
    assert set(out) == {"patient", "meds", "missing"}
    assert out["missing"] is None
    assert ids(out["meds"]) == ["mr-digoxin", "mr-warfarin"]
