"""Eligibility: exact bounds, lab thresholds with units and recency, medications, conditions, and the
clinical-safety rules: a clearly met exclusion demotes; a negated finding never satisfies an inclusion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from clinical.patient_profile import PatientProfile
from knowledge.embeddings import Embedder
from knowledge.trials.criteria import AgeRule
from knowledge.trials.eligibility import CriterionResult, evaluate_criterion, evaluate_trial
from knowledge.trials.index import TrialIndex
from knowledge.trials.matching import MatchOptions, match_trials
from knowledge.trials.models import Criterion, Trial
from tests.knowledge.trials.conftest import NOW, fact, lab

MakeProfile = Callable[..., PatientProfile]


def _trial(demo: list[Trial], nct_id: str) -> Trial:
    return next(t for t in demo if t.nct_id == nct_id)


def _result(trial: Trial, profile: PatientProfile, criterion_id: str) -> CriterionResult:
    return next(r for r in evaluate_trial(trial, profile).results if r.criterion_id == criterion_id)


def test_the_demo_patient_fits_the_demo_trial(demo: list[Trial], make_profile: MakeProfile) -> None:
    e = evaluate_trial(_trial(demo, "DEMO-T2DM-001"), make_profile())
    assert not e.hard_fail and e.fit == 1.0
    assert {r.criterion_id: r.status for r in e.results if r.kind == "exclusion"} == {
        "exc-1": "not_met",
        "exc-2": "not_met",
        "exc-3": "not_met",
        "exc-4": "not_met",
        "exc-5": "not_met",
    }
    hba1c = _result(_trial(demo, "DEMO-T2DM-001"), make_profile(), "inc-3")
    assert hba1c.status == "met" and hba1c.source_id == "obs-4548-4-10" and "8.4" in hba1c.evidence


@pytest.mark.parametrize(
    ("age", "status"),
    [(17.0, "not_met"), (18.0, "met"), (54.0, "met"), (75.0, "met"), (76.0, "not_met"), (None, "unknown")],
)
def test_registry_age_bounds_are_exact(
    demo: list[Trial], make_profile: MakeProfile, age: float | None, status: str
) -> None:
    # DEMO-T2DM-001: minimumAge "18 Years", maximumAge "75 Years" (a 75-year-old is still eligible).
    assert _result(_trial(demo, "DEMO-T2DM-001"), make_profile(age_years=age), "age").status == status


@pytest.mark.parametrize(
    ("trial_sex", "patient_sex", "status"),
    [
        ("FEMALE", "female", "met"),
        ("FEMALE", "male", "not_met"),
        ("MALE", "male", "met"),
        ("MALE", "female", "not_met"),
        ("FEMALE", None, "unknown"),
        ("MALE", "unknown", "unknown"),
    ],
)
def test_registry_sex_is_exact(
    demo: list[Trial], make_profile: MakeProfile, trial_sex: str, patient_sex: str | None, status: str
) -> None:
    trial = _trial(demo, "DEMO-T2DM-001").model_copy(update={"sex": trial_sex})
    assert _result(trial, make_profile(sex=patient_sex), "sex").status == status


@pytest.mark.parametrize(
    ("value", "unit", "days_ago", "status"),
    [
        (7.0, "%", 10, "met"),  # lower bound inclusive
        (6.9, "%", 10, "not_met"),
        (10.5, "%", 10, "met"),  # upper bound inclusive
        (10.6, "%", 10, "not_met"),
        (8.4, "%", 89, "met"),
        (8.4, "%", 91, "unknown"),  # too old to decide: "within the last 90 days"
        (68.0, "mmol/mol", 10, "met"),  # IFCC 68 mmol/mol = 8.4 %
        (8.4, "mg/dL", 10, "unknown"),  # not an HbA1c unit: never compared
    ],
)
def test_lab_threshold_units_and_recency(
    demo: list[Trial], make_profile: MakeProfile, value: float, unit: str, days_ago: int, status: str
) -> None:
    profile = make_profile(labs=[lab("4548-4", value, unit, days_ago)])
    assert _result(_trial(demo, "DEMO-T2DM-001"), profile, "inc-3").status == status


@pytest.mark.parametrize(
    ("egfr", "status"), [(44.0, "met"), (44.9, "met"), (45.0, "not_met"), (78.0, "not_met")]
)
def test_strict_exclusion_threshold(
    demo: list[Trial], make_profile: MakeProfile, egfr: float, status: str
) -> None:
    # "eGFR below 45": an eGFR of exactly 45 does not exclude.
    profile = make_profile(labs=[lab("4548-4", 8.4, "%"), lab("33914-3", egfr, "mL/min/{1.73_m2}")])
    assert _result(_trial(demo, "DEMO-T2DM-001"), profile, "exc-3").status == status


@pytest.mark.parametrize(("days_on", "status"), [(56, "met"), (55, "not_met"), (None, "unknown")])
def test_medication_duration(
    demo: list[Trial], make_profile: MakeProfile, days_on: int | None, status: str
) -> None:
    since = NOW - timedelta(days=days_on) if days_on is not None else None
    profile = make_profile(medications=[fact("medication", "metformin 500 MG Oral Tablet", since=since)])
    assert _result(_trial(demo, "DEMO-T2DM-001"), profile, "inc-4").status == status


def test_a_clearly_met_exclusion_removes_the_trial_from_the_top(
    demo: list[Trial], demo_index: TrialIndex, make_profile: MakeProfile, embedder: Embedder
) -> None:
    fits = make_profile()
    on_insulin = make_profile(
        medications=[
            *fits.medications,
            fact(
                "medication",
                "insulin glargine 100 UNT/ML Injectable Solution",
                since=NOW - timedelta(days=400),
            ),
        ]
    )
    query = "54-year-old female. Type 2 diabetes mellitus. metformin. HbA1c 8.4 %"
    vectors = embedder.encode([query])
    opts = MatchOptions(recruiting_only=True)
    ranked_fit = [m.trial.nct_id for m in match_trials(demo_index, fits, query, vectors, opts)]
    ranked_insulin = match_trials(demo_index, on_insulin, query, vectors, opts)
    assert ranked_fit[0] == "DEMO-T2DM-001"
    t2dm = next(m for m in ranked_insulin if m.trial.nct_id == "DEMO-T2DM-001")
    assert t2dm.eligibility is not None and t2dm.eligibility.exclusion_met == 1 and not t2dm.may_fit
    assert all(m.score > t2dm.score for m in ranked_insulin if m.may_fit)
    decided_by = _result(_trial(demo, "DEMO-T2DM-001"), on_insulin, "exc-2").source_id
    assert decided_by is not None and decided_by.startswith("medication-insulin")


def test_recruiting_only_filters_completed_trials(demo_index: TrialIndex, make_profile: MakeProfile) -> None:
    profile = make_profile()
    ids_default = {
        m.trial.nct_id
        for m in match_trials(demo_index, profile, "diabetes insulin", None, MatchOptions(mode="bm25"))
    }
    ids_all = {
        m.trial.nct_id
        for m in match_trials(
            demo_index, profile, "diabetes insulin", None, MatchOptions(mode="bm25", recruiting_only=False)
        )
    }
    assert "DEMO-T1DM-005" not in ids_default and "DEMO-T1DM-005" in ids_all


@pytest.mark.parametrize(("locations", "kept"), [((), True), (("springfield",), True), (("Leeds",), False)])
def test_location_filter(
    demo_index: TrialIndex, make_profile: MakeProfile, locations: tuple[str, ...], kept: bool
) -> None:
    opts = MatchOptions(mode="bm25", locations=locations)
    ids = {m.trial.nct_id for m in match_trials(demo_index, make_profile(), "type 2 diabetes", None, opts)}
    assert ("DEMO-T2DM-001" in ids) is kept


TEXTUAL = Criterion(id="inc-x", kind="inclusion", text="Chest pain at presentation")
CONDITION = Criterion(id="inc-y", kind="inclusion", text="History of pancreatitis", rule=None)


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ({}, "met"),
        ({"negated": True}, "not_met"),  # "denies chest pain": never satisfies the inclusion
        ({"family": True}, "unknown"),  # a relative's finding is not the patient's
        ({"uncertain": True}, "unknown"),  # "possible chest pain" decides nothing
    ],
)
def test_negated_findings_never_satisfy_an_inclusion(
    make_profile: MakeProfile, flags: dict[str, bool], status: str
) -> None:
    profile = make_profile(findings=[fact("finding", "chest pain", **flags)])
    assert evaluate_criterion(TEXTUAL, profile).status == status


@pytest.mark.parametrize(("negated", "status"), [(False, "met"), (True, "not_met")])
def test_negated_finding_and_condition_rules(
    demo: list[Trial], make_profile: MakeProfile, negated: bool, status: str
) -> None:
    # Free-text profile (lists not complete): the diagnosis is known only from the note's wording.
    profile = make_profile(
        conditions=[], lists_complete=False, findings=[fact("finding", "type 2 diabetes", negated=negated)]
    )
    assert _result(_trial(demo, "DEMO-T2DM-001"), profile, "inc-2").status == status


def test_absence_is_unknown_for_free_text_profiles(demo: list[Trial], make_profile: MakeProfile) -> None:
    profile = make_profile(conditions=[], medications=[], lists_complete=False)
    assert _result(_trial(demo, "DEMO-T2DM-001"), profile, "inc-2").status == "unknown"
    assert _result(_trial(demo, "DEMO-T2DM-001"), profile, "exc-2").status == "unknown"


def test_negative_wording_flips_the_statement(make_profile: MakeProfile) -> None:
    crit = Criterion(id="inc-z", kind="inclusion", text="No type 1 diabetes")
    from knowledge.trials.criteria import parse_rule

    crit = crit.model_copy(update={"rule": parse_rule(crit.text)})
    assert evaluate_criterion(crit, make_profile()).status == "met"
    has_t1 = make_profile(conditions=[fact("condition", "Type 1 diabetes mellitus")])
    assert evaluate_criterion(crit, has_t1).status == "not_met"


def test_age_rule_in_text_is_exact(make_profile: MakeProfile) -> None:
    crit = Criterion(
        id="inc-a", kind="inclusion", text="Women aged 40 to 65", rule=AgeRule(min_years=40, max_years=65)
    )
    assert [evaluate_criterion(crit, make_profile(age_years=a)).status for a in (39.0, 40.0, 65.0, 66.0)] == [
        "not_met",
        "met",
        "met",
        "not_met",
    ]


@pytest.mark.parametrize(
    ("text", "historical", "status"),
    [
        ("Active malignancy", False, "met"),
        ("Active malignancy", True, "not_met"),  # a resolved cancer is not an active one
        ("History of pancreatitis", True, "met"),
        ("Pancreatitis", True, "unknown"),  # tense-less: a resolved episode leaves it open
        ("Pancreatitis", False, "met"),
        ("Bariatric surgery in the past", True, "met"),  # textual: the past is asked for
    ],
)
def test_a_resolved_problem_answers_only_a_criterion_about_the_past(
    make_profile: MakeProfile, text: str, historical: bool, status: str
) -> None:
    from knowledge.trials.criteria import parse_rule

    problem = {
        "Active malignancy": "Breast cancer",
        "Bariatric surgery in the past": "bariatric surgery",
    }
    crit = Criterion(id="exc-h", kind="exclusion", text=text, rule=parse_rule(text))
    condition = fact("condition", problem.get(text, "Acute pancreatitis"), historical=historical)
    assert evaluate_criterion(crit, make_profile(conditions=[condition])).status == status
