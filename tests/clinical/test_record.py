"""PatientRecord built from real Synthea R4 bundles and from hand-written prefetch."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from clinical.codes import LOINC, RXNORM, Code
from clinical.record import Ingredient, build_patient_record


def _load(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def test_record_from_synthea_bundle(shared_data: Path) -> None:
    path = sorted((shared_data / "synthea-r4").glob("*.json.gz"))[0]
    bundle = _load(path)
    record = build_patient_record([bundle])
    counts: dict[str, int] = {}
    for e in bundle["entry"]:
        t = e["resource"]["resourceType"]
        counts[t] = counts.get(t, 0) + 1
    assert record.patient_id
    assert record.birth_date is not None
    assert len(record.medications) == counts.get("MedicationRequest", 0)
    assert len(record.problems) == counts.get("Condition", 0)
    assert len(record.observations) == counts.get("Observation", 0)
    assert record.warnings == []


def _prefetch() -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-06-15", "gender": "male"},
        "meds": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "id": "mr1",
                        "status": "active",
                        "intent": "order",
                        "subject": {"reference": "Patient/p1"},
                        "medicationReference": {"reference": "Medication/m1"},
                    }
                },
                {
                    "resource": {
                        "resourceType": "Medication",
                        "id": "m1",
                        "code": {
                            "coding": [{"system": RXNORM, "code": "855332", "display": "warfarin 5 MG"}]
                        },
                    }
                },
                {"resource": {"resourceType": "MedicationRequest", "id": "bad", "status": 12}},
            ],
        },
        "labs": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Observation",
                        "id": f"inr{i}",
                        "status": "final",
                        "code": {"coding": [{"system": LOINC, "code": "6301-6"}]},
                        "subject": {"reference": "Patient/p1"},
                        "effectiveDateTime": f"2026-11-0{i}T08:00:00Z",
                        "valueQuantity": {"value": 2 + i / 10, "unit": "{INR}"},
                    }
                }
                for i in (1, 5, 3)
            ],
        },
        "missing": None,
    }


class _Resolver:
    def ingredients_for_codes(self, codes: list[Code]) -> list[Ingredient]:
        return [Ingredient(rxcui="11289", name="warfarin")] if any(c.code == "855332" for c in codes) else []

    def ingredients_for_text(self, text: str) -> list[Ingredient]:
        return [Ingredient(rxcui="5640", name="ibuprofen")] if "ibuprofen" in text.lower() else []


def test_record_from_prefetch_resolves_medication_reference_and_reports_invalid() -> None:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Ibuprofen 400 mg tablet"},
    }
    record = build_patient_record(_prefetch(), draft_orders=[draft], resolver=_Resolver())
    assert record.age_years() is not None and record.age_years() >= 76
    assert [m.rxnorm_code for m in record.medications] == ["855332"]
    assert record.medications[0].ingredient_ids == {"11289"}
    assert record.draft_medications[0].matched_by_text is True
    assert record.draft_medications[0].is_draft
    assert len(record.warnings) == 1 and "bad" in record.warnings[0]
    latest = record.latest("6301-6")
    assert latest is not None and latest.value == pytest.approx(2.5)


def test_nlp_reads_the_newest_notes_within_a_character_budget() -> None:
    from datetime import UTC, datetime, timedelta

    from clinical.record import Note, PatientRecord

    now = datetime(2026, 1, 31, tzinfo=UTC)
    notes = [Note(source_id=f"n{i}", text=f"note {i}", date=now - timedelta(days=i + 1)) for i in range(30)]
    notes.append(Note(source_id="reason", text="chest pain", kind="reason"))  # undated: current
    notes.append(Note(source_id="long", text="x" * 60, date=now - timedelta(hours=1)))
    record = PatientRecord(patient_id="p", notes=notes, as_of=now)
    assert [n.source_id for n in record.notes_to_read(limit=5)] == ["reason", "long", "n0", "n1", "n2"]
    read = record.notes_to_read(limit=5, budget_chars=80)
    assert [n.source_id for n in read] == ["reason", "long", "n0", "n1"]
    assert [len(n.text) for n in read] == [10, 60, 6, 4]  # the last one cut to the budget
    assert len(record.notes[-1].text) == 60
