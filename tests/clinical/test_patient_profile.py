"""Patient → query + profile: from a FHIR record (demo bundles) and from free text, negation aware."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clinical.patient_profile import age_from_text, build_profile, profile_from_text, sex_from_text
from clinical.record import build_patient_record
from tests.support.demo_patients import demo_bundle

PATIENTS = Path(__file__).resolve().parents[2] / "sandbox" / "patients"
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _bundle(name: str) -> dict[str, Any]:
    data: dict[str, Any] = demo_bundle(name)
    return data


def test_profile_of_the_trial_demo_patient() -> None:
    profile = build_profile(build_patient_record([_bundle("demo-trial")], now=NOW))
    assert (profile.age_years, profile.sex, profile.pregnant) == (54.0, "female", False)
    assert profile.pregnancy_source == "demo-trial-obs-pregnancy" and profile.lists_complete
    assert [c.text for c in profile.conditions if not c.historical] == ["Diabetes mellitus type 2", "Obesity"]
    [metformin] = profile.medications
    assert "metformin" in metformin.text and metformin.since is not None
    a1c = next(lab for lab in profile.labs if any(c.code == "4548-4" for c in lab.codes) and lab.value == 8.4)
    assert a1c.unit == "%" and a1c.source_id == "demo-trial-obs-a1c"
    assert profile.query.startswith("54-year-old female. Diabetes mellitus type 2; Obesity. metformin")


def test_note_findings_keep_their_negation_and_stay_out_of_the_query() -> None:
    note = "Patient reports chest pain on exertion. Denies fever. Mother had breast cancer."
    doc = {
        "resourceType": "DocumentReference",
        "id": "note-1",
        "status": "current",
        "subject": {"reference": "Patient/p"},
        "content": [
            {"attachment": {"contentType": "text/plain", "data": base64.b64encode(note.encode()).decode()}}
        ],
    }
    patient = {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1960-01-01"}
    profile = build_profile(build_patient_record([patient, doc], now=NOW))
    by_text = {f.text: f for f in profile.findings}
    assert by_text["fever"].negated and by_text["fever"].source_id == "note-1"
    assert not by_text["exertional chest pain"].negated  # the concept, and the note's own words:
    assert not by_text["chest pain on exertion"].negated
    assert by_text["cancer"].family  # the mother's, not the patient's
    assert "chest pain" in profile.query and "fever" not in profile.query and "cancer" not in profile.query


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("A 36-year-old woman presents", 36.0),
        ("A 28 yo female G1P0A0 at 8 weeks", 28.0),
        ("A 47 year old male fell", 47.0),
        ("an 18-month-old boy", 1.5),
        ("Patient aged 63 with", 63.0),
        ("A group of travellers", None),
    ],
)
def test_age_from_text(text: str, age: float | None) -> None:
    assert age_from_text(text) == age


@pytest.mark.parametrize(
    ("text", "sex"),
    [
        ("A 15-year-old girl presents; she has pain", "female"),
        ("An 8-year-old boy. His parents report", "male"),
        ("A 4-year-old presents with fever", None),
    ],
)
def test_sex_from_text(text: str, sex: str | None) -> None:
    assert sex_from_text(text) == sex


def test_free_text_profile_drops_negated_mentions_from_the_query() -> None:
    profile = profile_from_text("A 15-year-old girl with right lower quadrant pain. She denies diarrhea.")
    assert not profile.lists_complete and profile.age_years == 15.0 and profile.sex == "female"
    assert any(f.negated and "diarrh" in f.text for f in profile.findings)
    assert "diarrhea" not in profile.query and "right lower quadrant pain" in profile.query
