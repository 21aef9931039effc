"""Criteria: splitting an eligibility block, and parsing the plain shapes into exact rules."""

from __future__ import annotations

import pytest

from knowledge.trials.criteria import (
    AgeRule,
    ConditionRule,
    LabRule,
    MedicationRule,
    PregnancyRule,
    parse_rule,
)
from knowledge.trials.splitting import split_criteria


def test_split_bullets_headings_and_continuations() -> None:
    text = """Inclusion Criteria:

* Adults aged 18 to 65
* HbA1c 7.0-10.0 %,
  measured in the last 3 months
1. Signed consent

Exclusion Criteria:

- Type 1 diabetes
- Pregnancy
"""
    inc, exc = split_criteria(text)
    assert inc == [
        "Adults aged 18 to 65",
        "HbA1c 7.0-10.0 %, measured in the last 3 months",
        "Signed consent",
    ]
    assert exc == ["Type 1 diabetes", "Pregnancy"]


def test_split_without_headings_counts_as_inclusion() -> None:
    inc, exc = split_criteria("Healthy volunteers.\n\nAble to attend visits.")
    assert inc == ["Healthy volunteers.", "Able to attend visits."] and exc == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Age 18 to 75 years", AgeRule(min_years=18, max_years=75)),
        ("Aged 65 years or older", AgeRule(min_years=65)),
        ("Age >= 21", AgeRule(min_years=21)),
        (
            "HbA1c between 7.0% and 10.5% measured within the last 90 days",
            LabRule(analyte="hba1c", low=7.0, high=10.5, within_days=90),
        ),
        ("eGFR < 45 mL/min/1.73 m2", LabRule(analyte="egfr", high=45.0, high_inclusive=False)),
        ("eGFR of at least 60", LabRule(analyte="egfr", low=60.0)),
        ("Hemoglobin A1c of 7.5% or higher", LabRule(analyte="hba1c", low=7.5)),
        ("Hemoglobin at least 10 g/dL", LabRule(analyte="hemoglobin", low=10.0)),
        ("eGFR 30 or below", LabRule(analyte="egfr", high=30.0)),
        ("Potassium above 5.5 mmol/L", LabRule(analyte="potassium", low=5.5, low_inclusive=False)),
        ("Body mass index of at least 30 kg/m2", LabRule(analyte="bmi", low=30.0)),
        ("Use of insulin within the last 3 months", MedicationRule(name="insulin")),
        ("On a stable dose of metformin for at least 8 weeks", MedicationRule(name="metformin", min_days=56)),
        ("Treated with an SGLT2 inhibitor", MedicationRule(name="sglt2 inhibitor")),
        ("Diagnosis of type 2 diabetes mellitus", ConditionRule(concept="t2dm")),
        ("History of pancreatitis", ConditionRule(concept="pancreatitis")),
        ("Pregnant or breastfeeding", PregnancyRule()),
        ("Able to give written informed consent", None),
    ],
)
def test_parse_rule(text: str, rule: object) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("HbA1c 53 to 86 mmol/mol", 7.0, 10.0),  # IFCC units converted to NGSP %
        ("Serum creatinine > 133 µmol/L", 1.504, None),  # converted to mg/dL
        ("Fasting glucose at least 7.0 mmol/L", 126.1, None),
    ],
)
def test_lab_units_are_converted(text: str, low: float, high: float | None) -> None:
    rule = parse_rule(text)
    assert isinstance(rule, LabRule)
    assert rule.low == pytest.approx(low, abs=0.05)
    assert (rule.high is None) == (high is None)
    if high is not None:
        assert rule.high == pytest.approx(high, abs=0.05)


@pytest.mark.parametrize(
    "text",
    [
        "HbA1c greater than 8 mg/dL",  # a unit HbA1c is never reported in
        "Serum creatinine above 2 g/dL",  # no conversion known: not read as mg/dL
    ],
)
def test_unconvertible_units_are_not_read_as_canonical(text: str) -> None:
    rule = parse_rule(text)
    assert not isinstance(rule, LabRule)
