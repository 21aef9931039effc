"""Transparent ranking of diagnoses from a patient's findings (pure: no Flask, no HTTP, no retrieval).

For a diagnosis *d* with findings from the knowledge base (``key``, ``typical``, ``against``, ``risk``)
and the patient's findings (present, possible, absent = negated; family history counts only as a
risk factor), the score is a sum of readable terms, each kept on the result for display:

* match: Σ over present findings linked to *d* of ``role weight × specificity`` where specificity is
  the inverse document frequency of the concept across the knowledge base (a finding typical of
  few diagnoses discriminates more); possible findings count half; findings from the chief complaint
  weigh 1.5×;
* against: present findings the knowledge base lists as arguing against *d*; absent (negated) findings
  that *d* would usually show (key findings weigh more);
* coverage: share of *d*'s key findings this patient has;
* prior: a coarse base rate (common / uncommon / rare) and age fit; a sex-restricted diagnosis is
  never proposed for the other sex;
* named: a note that names the diagnosis (a ``dx:`` concept of
  :mod:`~cds_services.services.differential_vocabulary`) counts as a finding only that diagnosis has
  (maximal specificity): as a key finding when named in a result, imaging, diagnosis or assessment
  section or as a stated conclusion ("biopsy consistent with ..."), as a typical finding elsewhere;
  "possible"/"suspected" counts half, a negated mention ("no evidence of ...") argues against it;
  mentions in the past history ("history of", past medical history section) count neither way, and a
  diagnosis on the problem list is a known diagnosis and is not proposed.

Nothing here states a diagnosis: the result is a ranked list of possibilities with their reasons.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from cds_services.services.differential_vocabulary import disease_id_of
from clinical.nlp import Finding, default_vocabulary
from knowledge.diseases import Disease, DiseaseKB

ROLE_WEIGHT = {"key": 2.0, "typical": 1.0, "risk": 0.5}
ABSENT_WEIGHT = {"key": 0.9, "typical": 0.35}
AGAINST_WEIGHT = 1.2
COVERAGE_WEIGHT = 2.0
PRIOR = {3: 0.8, 2: 0.4, 1: 0.0}
CHIEF_COMPLAINT_FACTOR = 1.5
POSSIBLE_FACTOR = 0.5
EXPLAINED_FACTOR = 0.3  # a finding already explained by a known (problem-list) diagnosis
AGE_PENALTY = 2.5
SEX_PREDOMINANT_BONUS = 0.3
MIN_MATCHES = 1  # at least one present key/typical finding before a diagnosis is listed
_SKIP_CONCEPTS = {"family_history_general"}
# note sections whose statements are results or conclusions (medspaCy section categories)
RESULT_SECTIONS = frozenset({"labs_and_studies", "imaging", "observation_and_plan", "diagnoses"})
KNOWN_SECTIONS = frozenset({"past_medical_history", "problem_list"})


@dataclass
class Evidence:
    """One reason in the score: the patient's finding, the role it plays for the diagnosis, its weight."""

    finding: Finding
    role: str
    weight: float


@dataclass
class RankedDiagnosis:
    disease: Disease
    score: float
    supporting: list[Evidence] = field(default_factory=list)
    opposing: list[Evidence] = field(default_factory=list)
    coverage: float = 0.0
    prior: float = 0.0

    @property
    def cant_miss(self) -> bool:
        return self.disease.cant_miss


@dataclass(frozen=True)
class PatientFindings:
    """The patient's findings reduced to one assertion per concept (present beats possible beats absent)."""

    present: dict[str, Finding]
    possible: dict[str, Finding]
    absent: dict[str, Finding]
    age: float | None
    sex: str | None
    # diagnoses a note names, by knowledge-base id: current ("present" or "possible"), negated, known
    named: dict[str, Finding] = field(default_factory=dict)
    named_absent: dict[str, Finding] = field(default_factory=dict)
    named_known: frozenset[str] = frozenset()

    @classmethod
    def from_findings(cls, findings: Iterable[Finding]) -> PatientFindings:
        present: dict[str, Finding] = {}
        possible: dict[str, Finding] = {}
        absent: dict[str, Finding] = {}
        age: float | None = None
        sex: str | None = None
        named: dict[str, Finding] = {}
        named_absent: dict[str, Finding] = {}
        named_known: set[str] = set()
        for f in findings:
            disease_id = disease_id_of(f.concept_id)
            if disease_id is not None:
                _add_named(f, disease_id, named, named_absent, named_known)
                continue
            if f.source == "demographic":
                if f.concept_id == "age":
                    age = f.value
                elif f.concept_id.startswith("sex_"):
                    sex = f.concept_id[4:]
                continue
            if f.concept_id in _SKIP_CONCEPTS:
                continue
            if f.present:
                if f.concept_id not in present or f.section == "chief_complaint":
                    present[f.concept_id] = f
            elif f.assertion == "possible":
                possible.setdefault(f.concept_id, f)
            elif f.assertion == "absent":
                absent.setdefault(f.concept_id, f)
        for cid in present:
            possible.pop(cid, None)
            absent.pop(cid, None)
        for cid in possible:
            absent.pop(cid, None)
        for did in (*named, *named_known):
            named_absent.pop(did, None)
        return cls(
            present=present,
            possible=possible,
            absent=absent,
            age=age,
            sex=sex,
            named={k: v for k, v in named.items() if k not in named_known},
            named_absent=named_absent,
            named_known=frozenset(named_known),
        )

    @property
    def informative(self) -> bool:
        """Whether there is anything beyond demographics to reason about."""
        return bool(self.present or self.possible or self.named)


def _add_named(
    f: Finding, disease_id: str, named: dict[str, Finding], absent: dict[str, Finding], known: set[str]
) -> None:
    """Sort one note mention of a diagnosis: current (strongest mention kept), negated, or known."""
    if f.assertion == "family" or f.source == "medication":
        return
    if f.source == "problem":
        known.add(disease_id)
    elif f.assertion == "historical" or f.section in KNOWN_SECTIONS:
        # past history ("previous prostatitis last year", "not vaccinated for COVID 19") neither
        # names the current problem nor rules it out; recurrences happen
        return
    elif f.assertion == "absent":
        absent.setdefault(disease_id, f)
    elif f.assertion in ("present", "possible"):
        seen = named.get(disease_id)
        if seen is None or _named_strength(f) > _named_strength(seen):
            named[disease_id] = f


def _named_strength(f: Finding) -> float:
    """Role weight of a note naming a diagnosis: key in a result/assessment section or as a stated
    conclusion ("ultrasound consistent with ..."), else typical; half when only possible."""
    role = "key" if f.section in RESULT_SECTIONS or f.conclusion else "typical"
    return ROLE_WEIGHT[role] * (POSSIBLE_FACTOR if f.assertion == "possible" else 1.0)


@lru_cache(maxsize=2048)
def _is_history(concept_id: str) -> bool:
    """History / exposure concepts support a diagnosis but never suffice to list it."""
    concept = default_vocabulary().get(concept_id)
    return concept is not None and concept.kind == "history"


@lru_cache(maxsize=4)
def _linked(kb: DiseaseKB) -> dict[str, list[Disease]]:
    """Concept → diagnoses that list it (other than as a finding against them)."""
    out: dict[str, list[Disease]] = {}
    for d in kb.diseases:
        for f in d.findings:
            if f.role != "against":
                out.setdefault(f.concept_id, []).append(d)
    return out


@lru_cache(maxsize=4)
def _specificity(kb: DiseaseKB) -> dict[str, float]:
    """Inverse document frequency of each finding concept over the diagnoses that have findings
    (name-only entries do not dilute it); :data:`_UNIQUE` is the specificity of a finding only one
    diagnosis has."""
    df: dict[str, int] = {}
    n = 0
    for d in kb.diseases:
        if d.findings:
            n += 1
        for cid in d.concepts():
            df[cid] = df.get(cid, 0) + 1
    out = {cid: 1.0 + math.log(n / (1 + count)) for cid, count in df.items()}
    out[_UNIQUE] = 1.0 + math.log(max(n, 2) / 2)
    return out


_UNIQUE = "(finding of one diagnosis)"


def rank_diagnoses(
    findings: Iterable[Finding], kb: DiseaseKB, *, limit: int = 10, explained: frozenset[str] = frozenset()
) -> list[RankedDiagnosis]:
    """Diagnoses ordered by score (highest first), each with its supporting and opposing evidence.

    ``explained``: concepts already accounted for by a known diagnosis (the problem list); they still
    count, at :data:`EXPLAINED_FACTOR`, so the differential turns to what is not yet explained.
    """
    patient = PatientFindings.from_findings(findings)
    if not patient.informative:
        return []
    spec = _specificity(kb)
    linked = _linked(kb)
    # only diagnoses linked to something this patient has can reach MIN_MATCHES
    candidates = {d.id: d for cid in (*patient.present, *patient.possible) for d in linked.get(cid, [])}
    for disease_id in patient.named:
        named = kb.get(disease_id)
        if named is not None:
            candidates[named.id] = named
    for disease_id in patient.named_known:  # a known diagnosis is not a differential
        candidates.pop(disease_id, None)
    ranked = [r for d in candidates.values() if (r := _score(d, patient, spec, explained)) is not None]
    ranked.sort(key=lambda r: (-r.score, r.disease.name))
    return ranked[:limit]


def _score(
    d: Disease, p: PatientFindings, spec: dict[str, float], explained: frozenset[str]
) -> RankedDiagnosis | None:
    if d.sex and p.sex and d.sex != p.sex:
        return None
    result = RankedDiagnosis(disease=d, score=0.0)
    matches = 0
    key_total = key_hit = 0
    for link in d.findings:
        cid, role = link.concept_id, link.role
        s = spec.get(cid, 1.0)
        if role == "key":
            key_total += 1
        if role == "against":
            hit = p.present.get(cid)
            if hit is not None:
                result.opposing.append(Evidence(hit, "against", -AGAINST_WEIGHT * s))
            continue
        found, factor = p.present.get(cid), 1.0
        if found is None and cid in p.possible:
            found, factor = p.possible[cid], POSSIBLE_FACTOR
        if found is not None:
            if found.section == "chief_complaint":
                factor *= CHIEF_COMPLAINT_FACTOR
            if cid in explained:
                factor *= EXPLAINED_FACTOR
            result.supporting.append(Evidence(found, role, ROLE_WEIGHT[role] * s * factor))
            # A resolved problem or a "history of" mention supports a diagnosis but never lists one
            # on its own: a differential to consider now needs a current finding.
            if role != "risk" and not _is_history(cid) and found.assertion != "historical":
                matches += 1
            if role == "key":
                key_hit += 1
            continue
        missing = p.absent.get(cid)
        if missing is not None and role in ABSENT_WEIGHT:
            result.opposing.append(Evidence(missing, f"absent {role}", -ABSENT_WEIGHT[role] * s))
    mention = p.named.get(d.id)
    if mention is not None:
        result.supporting.append(Evidence(mention, "named", _named_strength(mention) * spec[_UNIQUE]))
        matches += 1
    negated = p.named_absent.get(d.id)
    if negated is not None:
        result.opposing.append(Evidence(negated, "named absent", -AGAINST_WEIGHT * spec[_UNIQUE]))
    if matches < MIN_MATCHES:
        return None
    result.coverage = key_hit / key_total if key_total else 0.0
    prior = PRIOR.get(d.prevalence, 0.0)
    if p.age is not None and (
        (d.age_min is not None and p.age < d.age_min - 3) or (d.age_max is not None and p.age > d.age_max + 5)
    ):
        prior -= AGE_PENALTY
    if d.sex_predominant and p.sex == d.sex_predominant:
        prior += SEX_PREDOMINANT_BONUS
    result.prior = prior
    result.score = (
        sum(e.weight for e in result.supporting)
        + sum(e.weight for e in result.opposing)
        + COVERAGE_WEIGHT * result.coverage
        + prior
    )
    return result
