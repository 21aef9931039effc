"""Criterion-by-criterion eligibility: met / not met / unknown, each with what decided it.

Semantics (the status is about the criterion's statement, so for an exclusion "met" means the patient
*is* excluded):

* structured rules are checked exactly — age and sex bounds from the registry fields (inclusive, in
  completed years), labs by LOINC in the rule's unit with recency, medications by ingredient (active
  list; "for at least N weeks" against the order date), conditions by code or synonym, pregnancy;
* textual criteria are matched against the patient's conditions and note findings: a present finding
  named in the criterion makes it hold; a *negated* finding can only make it fail — negated findings
  never satisfy an inclusion; family-history findings are ignored;
* a resolved problem-list entry satisfies a criterion about the past ("history of pancreatitis"),
  not one about the present ("active malignancy"), and leaves a tense-less one ("pancreatitis")
  "unknown";
* absence counts as "does not hold" only when the profile's lists are complete (FHIR problem and
  medication lists); for a free-text profile it is "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel

from knowledge.trials.criteria import AgeRule, ConditionRule, LabRule, MedicationRule, PregnancyRule
from knowledge.trials.models import Criterion, Trial
from knowledge.trials.patient_facts import FactLike, LabLike, ProfileLike
from knowledge.trials.vocab import (
    analyte_by_key,
    condition_by_key,
    contains_term,
    medication_members,
    normalise,
)

Status = Literal["met", "not_met", "unknown"]
_NEGATIVE_CRITERION = re.compile(r"^(?:no|not|without|absence of|free of|never|lack of)\b")
_MIN_FINDING = 4
# A criterion about the past ("history of pancreatitis", "prior MI") is satisfied by a resolved problem;
# one about the present ("active malignancy") is not; of one that says neither ("pancreatitis") a
# resolved problem leaves the verdict open.
_PAST = re.compile(r"\b(?:history of|prior|previous|previously|past|ever|former|formerly)\b")
_CURRENT = re.compile(r"\b(?:active|current|currently|ongoing|present)\b")


class CriterionResult(BaseModel):
    criterion_id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    status: Status
    evidence: str = ""
    source_id: str | None = None
    rule_type: str | None = None  # age, sex, lab, medication, condition, pregnancy; None = textual


class TrialEligibility(BaseModel):
    nct_id: str
    results: list[CriterionResult]
    inclusion_total: int
    inclusion_met: int
    inclusion_failed: int
    exclusion_met: int
    exclusion_unknown: int
    clinical_total: int = 0  # inclusion criteria other than age and sex
    clinical_met: int = 0

    @property
    def hard_fail(self) -> bool:
        """An inclusion clearly not met or an exclusion clearly met."""
        return self.inclusion_failed > 0 or self.exclusion_met > 0

    @property
    def fit(self) -> float:
        """Share of inclusion criteria met (0 when a criterion clearly rules the patient out)."""
        if self.hard_fail:
            return 0.0
        return self.inclusion_met / self.inclusion_total if self.inclusion_total else 0.0

    @property
    def score(self) -> float:
        """Ranking signal in [-2, 1): evidence of fit, minus one per kind of clear failure.

        Evidence counts the clinical inclusion criteria met (age and sex only gate), with diminishing
        returns (1 - 2^-n): "unknown" neither helps nor hurts, so a trial is not favoured for having
        fewer criteria, and one that fails is below every one that does not."""
        evidence = 1.0 - 0.5**self.clinical_met
        return evidence - (1.0 if self.inclusion_failed else 0.0) - (1.0 if self.exclusion_met else 0.0)


Verdict = tuple[bool | None, str, str | None]  # does the statement hold? evidence, source id


def _age(rule: AgeRule, p: ProfileLike) -> Verdict:
    age = p.age_years
    if age is None:
        return None, "age unknown", None
    whole = int(age)  # registry ages are in completed years: "75 Years" admits a 75-year-old
    ok = (rule.min_years is None or age >= rule.min_years) and (
        rule.max_years is None or whole < rule.max_years + (1 if rule.max_inclusive else 0)
    )
    return ok, f"age {whole}", None


def _lab(rule: LabRule, p: ProfileLike) -> Verdict:
    analyte = analyte_by_key(rule.analyte)
    if analyte is None:
        return None, "unknown analyte", None
    found: list[LabLike] = [
        lab for lab in p.labs if lab.value is not None and any(c.code in analyte.loinc for c in lab.codes)
    ]
    if not found:
        return None, f"no {analyte.display} on record", None
    lab = max(found, key=lambda x: x.when.timestamp() if x.when else 0.0)
    if rule.within_days is not None and (
        lab.when is None or lab.when < p.as_of - timedelta(days=rule.within_days)
    ):
        when = lab.when.date().isoformat() if lab.when else "undated"
        return None, f"latest {analyte.display} ({when}) older than {rule.within_days} days", lab.source_id
    value = _in_unit(lab.value, lab.unit, analyte.unit, analyte.conversions)
    if value is None:
        return None, f"{analyte.display} unit {lab.unit!r} not comparable", lab.source_id
    date = f" on {lab.when.date().isoformat()}" if lab.when else ""
    return (
        rule.holds(value),
        f"{analyte.display} {lab.value:g} {lab.unit or ''}{date} (needs {rule.describe()})",
        lab.source_id,
    )


def _unit_key(unit: str) -> str:
    return re.sub(r"[\s{}_\[\]]", "", unit.lower()).replace("m²", "m2").replace("μ", "µ")


def _in_unit(
    value: float | None, unit: str | None, canonical: str, conv: dict[str, tuple[float, float]]
) -> float | None:
    if value is None:
        return None
    if not unit or _unit_key(unit) == _unit_key(canonical):
        return value
    factor = conv.get(_unit_key(unit))
    return value * factor[0] + factor[1] if factor else None


def _mentions(facts: list[FactLike], terms: tuple[str, ...], codes: tuple[str, ...] = ()) -> list[FactLike]:
    out = []
    for f in facts:
        text = normalise(f.text)
        by_code = any((c.code or "").startswith(codes) for c in f.codes if c.code) if codes else False
        if by_code or any(contains_term(text, t) for t in terms):
            out.append(f)
    return out


def _medication(rule: MedicationRule, p: ProfileLike) -> Verdict:
    members = medication_members(rule.name)
    hits = _mentions(list(p.medications), members)
    if not hits:
        return (False if p.lists_complete else None), f"no {rule.name} on the medication list", None
    med = hits[0]
    if rule.min_days is not None:
        if med.since is None:
            return None, f"{med.text}: start date unknown", med.source_id
        if med.since > p.as_of - timedelta(days=rule.min_days):
            return (
                False,
                f"{med.text} since {med.since.date().isoformat()} (needs {rule.min_days} days)",
                med.source_id,
            )
    return True, med.text, med.source_id


def _tense(criterion_text: str) -> Literal["past", "current", "either"]:
    text = normalise(criterion_text)
    return "past" if _PAST.search(text) else "current" if _CURRENT.search(text) else "either"


def _patient_facts(p: ProfileLike, past: bool) -> list[FactLike]:
    """The conditions and findings that can decide a criterion about a condition.

    A relative's finding is not the patient's, and a possible one ("?pneumonia") decides nothing. A
    problem-list entry that is no longer active (FHIR ``clinicalStatus`` resolved / inactive) counts
    only for a criterion about the past (``past``). Note findings keep their ConText "historical" flag
    out of it: a chronic disease listed under past medical history is usually still present.
    """
    conditions = [f for f in p.conditions if past or not f.historical]
    return [f for f in (*conditions, *p.findings) if not f.family and not f.uncertain]


def _resolved(p: ProfileLike, tense: str, named: Callable[[FactLike], bool]) -> Verdict | None:
    """ "Unknown" when only a resolved problem names what a tense-less criterion asks about."""
    if tense != "either":
        return None
    old = [f for f in p.conditions if f.historical and not f.negated and not f.family and named(f)]
    return (None, f"{old[0].text} (resolved)", old[0].source_id) if old else None


def _condition(rule: ConditionRule, p: ProfileLike, criterion_text: str = "") -> Verdict:
    concept = condition_by_key(rule.concept)
    if concept is None:
        return None, "unknown condition", None
    codes = concept.icd10_prefixes + concept.snomed
    tense = _tense(criterion_text)
    hits = _mentions(_patient_facts(p, tense == "past"), concept.synonyms, codes)
    present = [f for f in hits if not f.negated]
    if present:
        return True, present[0].text, present[0].source_id
    if hits:
        return False, f"{hits[0].text} (negated)", hits[0].source_id
    resolved = _resolved(p, tense, lambda f: bool(_mentions([f], concept.synonyms, codes)))
    if resolved is not None:
        return resolved
    return (False if p.lists_complete else None), f"no {concept.display.lower()} on record", None


def _pregnancy(p: ProfileLike) -> Verdict:
    if p.pregnant is not None:
        return p.pregnant, "pregnant" if p.pregnant else "not pregnant", p.pregnancy_source
    if (p.sex or "").lower() == "male":
        return False, "male", None
    return None, "pregnancy status unknown", None


def _textual(text: str, p: ProfileLike) -> Verdict:
    norm = normalise(text)
    tense = _tense(text)

    def named(f: FactLike) -> bool:
        ft = normalise(f.text).strip()
        return len(ft) >= _MIN_FINDING and contains_term(norm, ft)

    negated: FactLike | None = None
    for f in _patient_facts(p, tense == "past"):
        if not named(f):
            continue
        if not f.negated:
            return True, f.text, f.source_id
        negated = negated or f
    if negated is not None:
        return False, f"{negated.text} (negated)", negated.source_id
    resolved = _resolved(p, tense, named)
    return resolved or (None, "not determinable from the record", None)


def evaluate_criterion(c: Criterion, p: ProfileLike) -> CriterionResult:
    rule = c.rule
    if isinstance(rule, AgeRule):
        verdict = _age(rule, p)
    elif isinstance(rule, LabRule):
        verdict = _lab(rule, p)
    elif isinstance(rule, MedicationRule):
        verdict = _medication(rule, p)
    elif isinstance(rule, ConditionRule):
        verdict = _condition(rule, p, c.text)
    elif isinstance(rule, PregnancyRule):
        verdict = _pregnancy(p)
    else:
        verdict = _textual(c.text, p)
    holds, evidence, source = verdict
    if (
        holds is not None
        and not isinstance(rule, (AgeRule, LabRule))
        and _NEGATIVE_CRITERION.match(normalise(c.text))
    ):
        holds = not holds  # "No history of pancreatitis": the statement holds when the concept is absent
    status: Status = "unknown" if holds is None else "met" if holds else "not_met"
    return CriterionResult(
        criterion_id=c.id,
        kind=c.kind,
        text=c.text,
        status=status,
        evidence=evidence,
        source_id=source,
        rule_type=rule.type if rule is not None else None,
    )


def registry_criteria(trial: Trial) -> list[Criterion]:
    """The registry's structured age and sex fields as inclusion criteria (exact bounds)."""
    out: list[Criterion] = []
    lo, hi = trial.minimum_age_years, trial.maximum_age_years
    if lo is not None or hi is not None:
        label = f"Age {lo:g}" if lo is not None else "Age"
        label += f" to {hi:g} years" if hi is not None else " years or older"
        out.append(
            Criterion(id="age", kind="inclusion", text=label, rule=AgeRule(min_years=lo, max_years=hi))
        )
    if trial.sex != "ALL":
        out.append(Criterion(id="sex", kind="inclusion", text=f"Sex: {trial.sex.lower()}"))
    return out


def _sex(trial: Trial, p: ProfileLike) -> CriterionResult:
    sex = (p.sex or "").lower()
    status: Status = (
        "unknown" if sex not in ("male", "female") else "met" if sex == trial.sex.lower() else "not_met"
    )
    return CriterionResult(
        criterion_id="sex",
        kind="inclusion",
        text=f"Sex: {trial.sex.lower()}",
        status=status,
        evidence=f"sex {sex or 'unknown'}",
        rule_type="sex",
    )


def evaluate_trial(trial: Trial, p: ProfileLike) -> TrialEligibility:
    """Every criterion of ``trial`` (registry age/sex first) against the profile."""
    results = [
        _sex(trial, p) if c.id == "sex" else evaluate_criterion(c, p) for c in registry_criteria(trial)
    ]
    results += [evaluate_criterion(c, p) for c in trial.criteria]
    inc = [r for r in results if r.kind == "inclusion"]
    exc = [r for r in results if r.kind == "exclusion"]
    clinical = [r for r in inc if r.rule_type not in ("age", "sex")]
    return TrialEligibility(
        nct_id=trial.nct_id,
        results=results,
        inclusion_total=len(inc),
        inclusion_met=sum(r.status == "met" for r in inc),
        inclusion_failed=sum(r.status == "not_met" for r in inc),
        exclusion_met=sum(r.status == "met" for r in exc),
        exclusion_unknown=sum(r.status == "unknown" for r in exc),
        clinical_total=len(clinical),
        clinical_met=sum(r.status == "met" for r in clinical),
    )
