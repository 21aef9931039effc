"""A differential to consider *now* rests on current findings: resolved problems and old or superseded
lab results support a diagnosis but never list one on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_services.services.differentials import build_differential
from clinical.nlp.findings import findings_from_record
from clinical.record import build_patient_record
from knowledge.diseases import load_default_kb

NOW = datetime(2026, 11, 30, tzinfo=UTC)
PATIENT = {"resourceType": "Patient", "id": "p", "birthDate": "1960-01-01", "gender": "female"}


def _glucose(oid: str, value: float, when: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": value, "unit": "mg/dL"},
    }


def _condition(cid: str, text: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
        "code": {"text": text},
        "subject": {"reference": "Patient/p"},
    }


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([("g1", 55, 10)], "present"),  # recent low glucose: a current finding
        ([("g1", 55, 400)], "historical"),  # a low glucose from over a year ago is not today's finding
        ([("g1", 55, 30), ("g2", 95, 5)], None),  # superseded by a newer normal result: no finding
    ],
)
def test_only_the_latest_recent_result_is_a_current_lab_finding(
    results: list[tuple[str, float, int]], expected: str | None
) -> None:
    obs = [_glucose(i, v, NOW - timedelta(days=d)) for i, v, d in results]
    record = build_patient_record([PATIENT, *obs], now=NOW)
    found = [f for f in findings_from_record(record, include_notes=False) if f.concept_id == "hypoglycemia"]
    assert [f.assertion for f in found] == ([expected] if expected else [])


def test_resolved_problem_alone_lists_no_diagnosis() -> None:
    kb = load_default_kb()
    problems = [("c1", "Sore throat"), ("c2", "Fever"), ("c3", "Difficulty swallowing")]
    resolved = build_patient_record([PATIENT, *(_condition(i, t, "resolved") for i, t in problems)], now=NOW)
    active = build_patient_record([PATIENT, *(_condition(i, t, "active") for i, t in problems)], now=NOW)
    diff_active = build_differential(active, kb)
    assert diff_active is not None and diff_active.shown  # the same problems, current, do list diagnoses
    diff_resolved = build_differential(resolved, kb)
    assert diff_resolved is None or not diff_resolved.shown
