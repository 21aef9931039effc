"""Lab results written in free text: abnormal values in the table's units or known conversions become
findings with their span; other specimens, unknown units, bounds and implausible numbers never do."""

from __future__ import annotations

import pytest

from clinical.nlp import extract_findings
from clinical.nlp.text_labs import lab_findings_from_text


def _concepts(text: str) -> dict[str, str]:
    return {c: text[s:e] for c, s, e in lab_findings_from_text(text)}


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Na: 122 mEq/L", "hyponatremia"),
        ("Potassium 6.2 mmol/L", "hyperkalemia"),
        ("WBC: 13,400/mm3", "leukocytosis"),
        ("WBC 2.1 x10^9/L", "leukopenia"),
        ("platelets 45,000/µL", "thrombocytopenia"),
        ("Hemoglobin: 85 g/L", "anemia_finding"),
        ("creatinine 250 µmol/L", "elevated_creatinine"),
        ("glucose 3.1 mmol/L", "hypoglycemia"),
        ("ALT 1,250 U/L", "elevated_liver_enzymes"),
        ("Creatinine: elevated", "elevated_creatinine"),
        ("TSH: low", "abnormal_tsh_low"),
        ("Troponin I was 2.3 ng/mL.", "elevated_troponin"),
    ],
)
def test_abnormal_results_become_findings(text: str, concept: str) -> None:
    assert concept in _concepts(text)


@pytest.mark.parametrize(
    "text",
    [
        "Na: 140 mEq/L, K: 4.1 mEq/L, Cr: 0.9 mg/dL",  # normal
        "Urine Na: 12 mEq/L",  # another specimen
        "Na: 122 furlongs",  # unknown unit: never guessed
        "Troponin < 0.01 ng/mL",  # a bound, not a value
        "Glu: 0 mg/dL",  # implausible for blood
        "WBC 13400",  # no unit and a magnitude that fits no unit of the table
        "Creatinine: normal",
        "Kidney K 4",  # a letter in passing is no potassium of 4 (normal anyway)
    ],
)
def test_normal_foreign_or_ambiguous_results_are_not_findings(text: str) -> None:
    assert _concepts(text) == {}


def test_text_lab_findings_keep_their_span_in_the_note() -> None:
    text = "Labs today. Na: 122 mEq/L. Otherwise well."
    found = [f for f in extract_findings(text, "note-1") if f.concept_id == "hyponatremia"]
    assert found and text[found[0].start : found[0].end] == "Na: 122 mEq/L" and found[0].source_id == "note-1"
