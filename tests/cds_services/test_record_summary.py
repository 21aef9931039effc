"""The reference service: monitoring gaps of active medications (patient-view ``record-summary``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_services.services.record_summary import RULES, monitoring_gaps
from clinical.record import build_patient_record

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _med(text: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": text.split()[0],
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": text},
    }


def _lab(loinc: str, days_ago: int) -> dict[str, Any]:
    when = (NOW - timedelta(days=days_ago)).isoformat()
    return {
        "resourceType": "Observation",
        "id": f"{loinc}-{days_ago}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": when,
    }


def _gaps(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    record = build_patient_record(resources, now=NOW)
    return [(", ".join(g.ingredients), g.rule.lab.name) for g in monitoring_gaps(record)]


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ([_med("warfarin sodium 5 MG Oral Tablet"), _lab("6301-6", 30)], []),
        ([_med("warfarin sodium 5 MG Oral Tablet"), _lab("6301-6", 100)], [("warfarin", "INR")]),
        ([_med("warfarin sodium 5 MG Oral Tablet")], [("warfarin", "INR")]),
        ([_med("warfarin sodium 5 MG Oral Tablet", status="stopped")], []),
        ([_med("metformin hydrochloride 500 MG Oral Tablet"), _lab("33914-3", 200)], []),
        (
            [_med("metformin hydrochloride 500 MG Oral Tablet"), _lab("2160-0", 400)],
            [("metformin", "creatinine or eGFR")],
        ),
        ([_med("lisinopril 10 MG Oral Tablet"), _lab("2160-0", 10)], [("lisinopril", "potassium")]),
        (
            [_med("lisinopril 10 MG"), _med("losartan 50 MG")],
            [("lisinopril, losartan", "potassium"), ("lisinopril, losartan", "creatinine or eGFR")],
        ),
        (
            [_med("digoxin 0.125 MG"), _med("spironolactone 25 MG"), _lab("2160-0", 5)],
            [("digoxin, spironolactone", "potassium")],
        ),
        (
            [
                _med("warfarin 5 MG"),
                _med("digoxin 0.125 MG"),
                _lab("6301-6", 90),
                _lab("2823-3", 300),
                _lab("2160-0", 1),
            ],
            [("warfarin", "INR")],
        ),
        ([_med("lithium carbonate 300 MG"), _lab("14334-7", 200)], [("lithium", "lithium level")]),
        ([_med("levothyroxine 50 MCG"), _lab("3016-3", 300)], []),
        ([_med("paracetamol 500 MG")], []),
        ([_med("nonwarfarinlike 1 MG")], []),
    ],
)
def test_monitoring_gaps(resources: list[dict[str, Any]], expected: list[tuple[str, str]]) -> None:
    assert _gaps(resources) == expected


def test_every_rule_cites_a_source_and_fits_the_summary_limit() -> None:
    for rule in RULES:
        assert rule.source_url.startswith("https://") and rule.source_label
        longest = max(rule.ingredients, key=len)
        assert len(f"{longest.capitalize()}: no {rule.lab.name} in the last 12 months") < 140
