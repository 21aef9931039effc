"""Diagnoses a note names: found with their ConText and section, weighed by where they are written,
never taken from family or past history, and a problem-list diagnosis is never proposed again."""

from __future__ import annotations

import base64

import pytest

from cds_services.services.differential_ranking import rank_diagnoses
from cds_services.services.differential_vocabulary import (
    diagnosis_vocabulary,
    disease_id_of,
    named_diagnosis_findings,
)
from cds_services.services.differentials import build_differential
from clinical.nlp import Finding, default_vocabulary
from clinical.record import build_patient_record
from knowledge.diseases import load_default_kb
from knowledge.diseases.kb import normalize_name


def _names(text: str) -> dict[str, str]:
    """Disease name → assertion for each diagnosis ``text`` names."""
    kb = load_default_kb()
    out = {}
    for f in named_diagnosis_findings(text, kb):
        disease = kb.get(disease_id_of(f.concept_id) or "")
        assert disease is not None
        out[disease.name] = f.assertion
    return out


def test_mentions_keep_negation_uncertainty_and_family_context() -> None:
    found = _names(
        "Impression: suspected Hirschsprung disease. No evidence of pulmonary embolism. "
        "Family history: mother had myasthenia gravis."
    )
    assert found["Hirschsprung disease"] == "possible"
    assert found["Pulmonary embolism"] == "absent"
    assert found["Myasthenia gravis"] == "family"


def test_finding_terms_and_bare_abbreviations_never_become_diagnosis_names() -> None:
    kb = load_default_kb()
    vocab = diagnosis_vocabulary(kb)
    finding_terms = {normalize_name(t) for c in default_vocabulary() for t in (c.label, *c.terms)}
    terms = {normalize_name(t) for c in vocab for t in c.terms}
    assert terms and not terms & finding_terms
    assert all(len(t) >= 5 for t in terms)
    assert "disease" not in terms and "syndrome" not in terms
    assert all(disease_id_of(c.id) for c in vocab)


def _ranked(text: str, *extra: Finding) -> list[str]:
    kb = load_default_kb()
    findings = [
        Finding(concept_id="abdominal_distension", label="distension", source="note"),
        Finding(concept_id="irritability", label="irritability", source="note"),
        *extra,
        *named_diagnosis_findings(text, kb, "n1"),
    ]
    return [r.disease.name for r in rank_diagnoses(findings, kb, limit=40)]


def test_a_diagnosis_named_in_a_result_outranks_one_named_in_passing() -> None:
    in_result = _ranked(
        "Findings: contrast enema with a transition zone consistent with Hirschsprung disease."
    )
    in_history = _ranked("History: the parents read about Hirschsprung disease online.")
    assert in_result[0] == "Hirschsprung disease"
    assert in_history.index("Hirschsprung disease") > 0


def test_past_history_and_family_mentions_add_nothing() -> None:
    plain = _ranked("")
    assert _ranked("Past medical history: Hirschsprung disease.") == plain
    assert _ranked("Family history: brother with Hirschsprung disease.") == plain


def test_a_negated_diagnosis_is_pushed_down_with_its_reason() -> None:
    kb = load_default_kb()
    base = [
        Finding(concept_id=c, label=c, source="note")
        for c in ("pleuritic_chest_pain", "dyspnea", "tachycardia")
    ]
    plain = rank_diagnoses(base, kb, limit=40)
    negated = rank_diagnoses(
        [*base, *named_diagnosis_findings("CT angiogram: no pulmonary embolism.", kb)], kb, limit=40
    )
    score = lambda ranked: next(r.score for r in ranked if r.disease.name == "Pulmonary embolism")  # noqa: E731
    assert score(negated) < score(plain)
    pe = next(r for r in negated if r.disease.name == "Pulmonary embolism")
    assert any(e.role == "named absent" for e in pe.opposing)


def _note(pid: str, text: str) -> dict[str, object]:
    return {
        "resourceType": "DocumentReference",
        "id": f"{pid}-note",
        "status": "current",
        "subject": {"reference": f"Patient/{pid}"},
        "content": [
            {"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}
        ],
    }


def test_the_service_lists_a_named_diagnosis_with_its_text_span_and_never_a_problem_list_one() -> None:
    kb = load_default_kb()
    pid = "p-named"
    patient = {"resourceType": "Patient", "id": pid, "gender": "male", "birthDate": "1962-05-01"}
    note = (
        "Skin lesion on the chest, growing over two months, irregular border and varied colour. "
        "Fatigue. Biopsy: atypical melanocytes consistent with malignant melanoma."
    )
    problem = {
        "resourceType": "Condition",
        "id": f"{pid}-c1",
        "subject": {"reference": f"Patient/{pid}"},
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"text": "Psoriasis"},
    }
    diff = build_differential(build_patient_record([patient, _note(pid, note), problem]), kb)
    assert diff is not None
    top = diff.shown[0]
    assert top.disease.name == "Malignant melanoma"
    named = next(e for e in top.supporting if e.role == "named")
    assert named.finding.source_id == f"{pid}-note"
    assert note[named.finding.start or 0 : named.finding.end] == named.finding.text
    assert "Psoriasis" not in {r.disease.name for r in diff.shown}


def test_a_stated_conclusion_outside_a_result_section_weighs_as_a_result() -> None:
    kb = load_default_kb()
    stated = named_diagnosis_findings("Ultrasound today was consistent with mesenteric lymphadenitis.", kb)
    passing = named_diagnosis_findings("Her sister once had mesenteric lymphadenitis as a child.", kb)
    assert [f.conclusion for f in stated] == [True]
    assert all(not f.conclusion for f in passing)


@pytest.mark.parametrize(
    "text",
    [
        "Plan: screening for colon cancer at age 50.",
        "Plan: vaccinate against influenza and pneumococcal pneumonia.",
        "Assessment: at risk for osteoporosis.",
        "Educated about the warning signs of stroke.",
        "Return if symptoms of meningitis develop.",
    ],
)
def test_plans_prevention_and_education_name_no_diagnosis(text: str) -> None:
    assert _names(text) == {}


@pytest.mark.parametrize(
    ("text", "assertion"),
    [
        ("Impression: low probability of pulmonary embolism.", "absent"),
        ("Pulmonary embolism less likely given a normal D-dimer.", "absent"),
        ("Unlikely to be pulmonary embolism.", "absent"),
        ("CT angiogram to evaluate for pulmonary embolism.", "possible"),
        ("Plan: rule out pulmonary embolism.", "possible"),
    ],
)
def test_judged_unlikely_is_against_and_a_test_ordered_for_is_only_possible(
    text: str, assertion: str
) -> None:
    assert _names(text) == {"Pulmonary embolism": assertion}
