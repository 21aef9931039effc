"""clinical.nlp: negation, uncertainty, family and historical context; structured findings with trails."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinical.nlp import Concept, Vocabulary, extract_findings, findings_from_record
from clinical.record import build_patient_record
from tests.support.demo_patients import demo_bundle

PATIENTS = Path(__file__).resolve().parents[2] / "sandbox" / "patients"


@pytest.mark.parametrize(
    ("sentence", "concept"),
    [
        ("Patient denies chest pain.", "chest_pain"),
        ("No fever, no cough.", "fever"),
        ("No fever, no cough.", "cough"),
        ("Absent findings: No sorethroat, No nausea or vomiting.", "vomiting"),
        ("Review of systems: No fever.", "fever"),
        ("She has a cough but no fever.", "fever"),
        ("Negative for hematuria.", "hematuria"),
        ("Fever: no.", "fever"),
        ("He is a non-smoker.", "smoking"),
        ("There is no evidence of jaundice.", "jaundice"),
        ("Without shortness of breath.", "dyspnea"),
    ],
)
def test_negated_mentions_are_never_present(sentence: str, concept: str) -> None:
    found = [f for f in extract_findings(sentence) if f.concept_id == concept]
    assert found, f"{concept} not recognised in {sentence!r}"
    assert all(f.negated and not f.present and f.assertion == "absent" for f in found)


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Mother has diabetes.", "diabetes_history"),
        ("Family history of breast cancer.", "cancer_history"),
        ("Family history: father had a myocardial infarction at 58.", "cad_history"),
        ("Brother with asthma.", "asthma_history"),
    ],
)
def test_family_history_is_never_present(text: str, concept: str) -> None:
    found = [f for f in extract_findings(text) if f.concept_id == concept]
    assert found
    assert all(f.family and not f.present and f.assertion == "family" for f in found)


def test_family_section_does_not_leak_into_the_exam() -> None:
    text = "Family history: Mother had colon cancer.\nObjective: Pale conjunctivae. Fever."
    by_id = {f.concept_id: f for f in extract_findings(text)}
    assert by_id["cancer_history"].family
    assert by_id["pallor"].present and not by_id["pallor"].family
    assert by_id["fever"].present


@pytest.mark.parametrize(
    ("text", "concept", "assertion"),
    [
        ("Possible pneumonia with fever?", "fever", "possible"),
        ("Reports fatigue and exertional dyspnea for three weeks.", "exertional_dyspnea", "present"),
        ("History of hypertension.", "hypertension_history", "historical"),
    ],
)
def test_uncertain_historical_and_present(text: str, concept: str, assertion: str) -> None:
    found = [f for f in extract_findings(text) if f.concept_id == concept]
    assert [f.assertion for f in found] == [assertion]


def test_spans_and_source_point_back_into_the_text() -> None:
    text = "Four days of fever and dry cough. Denies chest pain."
    for f in extract_findings(text, source_id="DocumentReference/n1"):
        assert text[f.start : f.end] == f.text
        assert f.source_id == "DocumentReference/n1"


def test_numeric_vitals_become_findings() -> None:
    text = "Vital signs: Temperature: 38.9°C, Heart rate 118 bpm, Blood pressure 84/50 mmHg, SpO2 88%."
    ids = {f.concept_id for f in extract_findings(text) if f.present}
    assert {"fever", "tachycardia", "hypotension", "hypoxemia"} <= ids
    normal = "Temperature 36.8 C, HR 72, BP 120/80, SpO2 98%."
    assert not {f.concept_id for f in extract_findings(normal)} & {"fever", "tachycardia", "hypotension"}


def test_caller_vocabulary_replaces_the_default() -> None:
    vocab = Vocabulary([Concept(id="widget_sign", label="widget sign", terms=["widgetosis"])])
    found = extract_findings("Marked widgetosis, no fever.", vocabulary=vocab)
    assert [f.concept_id for f in found] == ["widget_sign"]


def test_empty_text_has_no_findings() -> None:
    assert extract_findings("") == []
    assert extract_findings("   ") == []


def test_structured_findings_of_the_multiproblem_demo_patient_keep_their_trail() -> None:
    bundle = demo_bundle("demo-multiproblem")
    record = build_patient_record([bundle])
    findings = findings_from_record(record)
    by_source = {(f.concept_id, f.source) for f in findings}
    assert ("anemia_finding", "observation") in by_source  # hemoglobin below its reference range
    assert ("elevated_creatinine", "observation") in by_source
    assert ("diabetes_history", "problem") in by_source
    assert any(f.source == "demographic" and f.concept_id == "age" and f.value for f in findings)
    ids = {r["resource"]["id"] for r in bundle["entry"]}
    for f in findings:
        assert f.source_id in ids or f.source == "demographic"
    # the note's "Denies chest pain" and family history must not become present findings
    assert not any(f.concept_id == "chest_pain" and f.present for f in findings)
    assert not any(f.concept_id == "cancer_history" and f.present for f in findings)
    assert {f.concept_id for f in findings_from_record(record, include_notes=False)} <= {
        f.concept_id for f in findings if f.source != "note"
    }


def test_pipeline_can_be_prepared_in_the_background() -> None:
    import time

    from clinical.nlp.pipeline import pipeline_ready, prepare_in_background

    vocab = Vocabulary([Concept(id="gizmo_sign", label="gizmo sign", terms=["gizmoid rash"])])
    assert not pipeline_ready(vocab)
    prepare_in_background(vocab)
    prepare_in_background(vocab)  # idempotent while building
    deadline = time.monotonic() + 60
    while not pipeline_ready(vocab) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pipeline_ready(vocab)
    assert [f.concept_id for f in extract_findings("A gizmoid rash.", vocabulary=vocab)] == ["gizmo_sign"]


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Her mother noticed a rash on her trunk yesterday.", "rash"),
        ("He was brought in by his parents because of fever.", "fever"),
        ("The parents report that the child has had a cough for 5 days.", "cough"),
        ("Her husband says she has been confused since this morning.", "confusion"),
    ],
)
def test_relatives_telling_the_story_are_not_family_history(text: str, concept: str) -> None:
    found = [f for f in extract_findings(text) if f.concept_id == concept]
    assert found and all(f.assertion == "present" for f in found)


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Screening for diabetes at the next visit.", "diabetes_history"),
        ("Counselled on the risk of hypertension with this drug.", "hypertension_history"),
    ],
)
def test_screening_and_risk_language_is_never_present(text: str, concept: str) -> None:
    found = [f for f in extract_findings(text) if f.concept_id == concept]
    assert found and all(not f.present for f in found)


@pytest.mark.parametrize(
    ("text", "concept", "assertion"),
    [
        ("At risk for falls given her dizziness.", "dizziness", "present"),
        ("Increased risk of stroke due to hypertension.", "hypertension_history", "present"),
        ("Tested for strep because of sore throat.", "sore_throat", "present"),
        ("No evidence of pneumonia given clear lungs and no fever.", "fever", "absent"),
    ],
)
def test_a_stated_reason_is_outside_the_trigger_scope(text: str, concept: str, assertion: str) -> None:
    found = [f for f in extract_findings(text) if f.concept_id == concept]
    assert found and all(f.assertion == assertion for f in found)
