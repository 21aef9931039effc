"""Patient → search query + structured profile, for trial matching.

Two sources, one shape (:class:`PatientProfile`):

* :func:`build_profile` — a FHIR :class:`~clinical.record.PatientRecord`: age and sex, active problems,
  active medications (with their start), labs (LOINC, value, unit, date), pregnancy status (LOINC
  82810-3 or a pregnancy Condition), and the findings of its notes (``clinical.nlp``, negation aware).
  Problem and medication lists count as complete: absence means "not there".
* :func:`profile_from_text` — a free-text patient description (evaluation cohorts, TREC notes): age and
  sex from the wording, findings from the NLP; nothing counts as complete.

The query never contains a negated or family-history finding: "denies chest pain" must not retrieve
chest-pain trials.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from clinical.codes import LOINC, SNOMED, Code
from clinical.record import PatientRecord

PREGNANCY_STATUS_LOINC = "82810-3"
PREGNANCY_SNOMED = {"77386006", "72892002"}
_AGE = re.compile(
    r"\b(\d{1,3})\s*(?:-\s*)?(year|yr|month|mo|week|wk|day)s?(?:\s*-\s*|\s+)old\b"
    r"|\b(\d{1,3})\s*(?:yo|y/o|y\.o\.|yrs? old)\b|\b(?:aged?|age of)\s+(\d{1,3})\b",
    re.IGNORECASE,
)
_UNIT_KEY = {"yr": "year", "mo": "month", "wk": "week"}
_FEMALE = re.compile(r"\b(woman|women|female|girl|lady|mother|she|her|pregnant)\b", re.IGNORECASE)
_MALE = re.compile(r"\b(man|men|male|boy|gentleman|father|he|his|him)\b", re.IGNORECASE)
_PER_YEAR = {"year": 1.0, "month": 12.0, "week": 52.1775, "day": 365.25}

FindingExtractor = Callable[[str, str | None], Sequence[Any]]


class ProfileFact(BaseModel):
    """A condition, medication or note finding; ``text`` is what criteria are matched against."""

    kind: Literal["condition", "medication", "finding"]
    text: str
    mention: str = ""  # the words in the source, when they differ from ``text``
    codes: list[Code] = Field(default_factory=list)
    source_id: str | None = None
    negated: bool = False
    family: bool = False
    historical: bool = False
    uncertain: bool = False
    since: datetime | None = None


class LabFact(BaseModel):
    text: str
    codes: list[Code] = Field(default_factory=list)
    value: float | None = None
    unit: str | None = None
    when: datetime | None = None
    source_id: str | None = None


class PatientProfile(BaseModel):
    patient_id: str = ""
    age_years: float | None = None
    sex: str | None = None
    pregnant: bool | None = None
    pregnancy_source: str | None = None
    as_of: datetime = Field(default_factory=lambda: datetime.now(UTC))
    lists_complete: bool = False
    conditions: list[ProfileFact] = Field(default_factory=list)
    medications: list[ProfileFact] = Field(default_factory=list)
    labs: list[LabFact] = Field(default_factory=list)
    findings: list[ProfileFact] = Field(default_factory=list)
    query: str = ""
    warnings: list[str] = Field(default_factory=list)


def default_extractor() -> FindingExtractor | None:
    """The shared clinical NLP (``clinical.nlp.findings.extract_findings``), or ``None`` if unavailable."""
    try:
        from clinical.nlp.findings import extract_findings
    except ImportError:  # the NLP stack (medspacy) is optional for the structured path
        return None

    def run(text: str, source_id: str | None) -> Sequence[Any]:
        return extract_findings(text, source_id)

    return run


def _facts_from_text(text: str, source_id: str | None, extract: FindingExtractor | None) -> list[ProfileFact]:
    """One fact per NLP finding under its concept label, plus one under the note's own words when they
    say more ("type 2 diabetes" found as the concept "diabetes"), both with the mention's ConText flags."""
    if extract is None or not text.strip():
        return []
    out: list[ProfileFact] = []
    for f in extract(text, source_id):
        label, words = str(getattr(f, "label", "") or f.text), str(f.text)
        flags = {
            "negated": bool(getattr(f, "negated", False)),
            "family": bool(getattr(f, "family", False)),
            "historical": bool(getattr(f, "historical", False)),
            "uncertain": bool(getattr(f, "uncertain", False) or getattr(f, "hypothetical", False)),
        }
        out.append(ProfileFact(kind="finding", text=label, mention=words, source_id=source_id, **flags))
        if words.strip().lower() != label.strip().lower() and len(words) > 3:
            out.append(ProfileFact(kind="finding", text=words, mention=words, source_id=source_id, **flags))
    return out


def _pregnancy(record: PatientRecord) -> tuple[bool | None, str | None]:
    obs = record.latest(PREGNANCY_STATUS_LOINC)
    if obs is not None and obs.value_text:
        value = obs.value_text.lower()
        if "not pregnant" in value or "negative" in value:
            return False, obs.source_id
        if "pregnant" in value or "positive" in value:
            return True, obs.source_id
    for p in record.active_problems:
        if any(c.system == SNOMED and c.code in PREGNANCY_SNOMED for c in p.codes):
            return True, p.source_id
    return None, None


def _present(facts: Sequence[ProfileFact]) -> list[str]:
    return list(dict.fromkeys(f.text for f in facts if not (f.negated or f.family or f.uncertain)))


def build_profile(
    record: PatientRecord, *, extract: FindingExtractor | None = None, with_notes: bool = True
) -> PatientProfile:
    """The profile of a FHIR record; ``extract`` defaults to the shared clinical NLP for note text."""
    age = record.age_years()
    pregnant, preg_src = _pregnancy(record)
    conditions = [
        ProfileFact(
            kind="condition",
            text=p.text or next((c.display for c in p.codes if c.display), "") or "",
            codes=p.codes,
            source_id=p.source_id,
            historical=not p.is_active,
            since=p.onset or p.recorded,
        )
        for p in record.problems
        if p.verification_status not in {"refuted", "entered-in-error"}
    ]
    medications = [
        ProfileFact(
            kind="medication",
            text=" / ".join(x for x in [m.text, *(i.name for i in m.ingredients)] if x),
            codes=m.codes,
            source_id=m.source_id,
            since=m.authored_on,
        )
        for m in record.active_medications
    ]
    labs = [
        LabFact(
            text=o.text, codes=o.codes, value=o.value, unit=o.unit, when=o.effective, source_id=o.source_id
        )
        for o in record.observations
        if o.value is not None
    ]
    findings: list[ProfileFact] = []
    warnings: list[str] = []
    if with_notes and record.notes:
        ext = extract if extract is not None else default_extractor()
        if ext is None:
            warnings.append("note text not analysed: clinical NLP unavailable")
        for note in record.notes_to_read():
            findings.extend(_facts_from_text(note.text, note.source_id, ext))
    active = [c for c in conditions if not c.historical]
    parts = [
        f"{age}-year-old {record.sex or 'patient'}" if age is not None else (record.sex or ""),
        "; ".join(_present(active)),
        "; ".join(dict.fromkeys(m.text.split(" / ")[0] for m in medications)),
        "; ".join(_present(findings)),
    ]
    return PatientProfile(
        patient_id=record.patient_id,
        age_years=float(age) if age is not None else None,
        sex=record.sex,
        pregnant=pregnant,
        pregnancy_source=preg_src,
        as_of=record.as_of,
        lists_complete=True,
        conditions=conditions,
        medications=medications,
        labs=labs,
        findings=findings,
        query=". ".join(p for p in parts if p),
        warnings=warnings,
    )


def age_from_text(text: str) -> float | None:
    m = _AGE.search(text)
    if not m:
        return None
    if m.group(1):
        unit = m.group(2).lower()
        return float(m.group(1)) / _PER_YEAR[_UNIT_KEY.get(unit, unit)]
    return float(m.group(3) or m.group(4))


def sex_from_text(text: str) -> str | None:
    """The sex the description's wording implies, when it implies only one."""
    female, male = len(_FEMALE.findall(text)), len(_MALE.findall(text))
    if female and not male:
        return "female"
    if male and not female:
        return "male"
    if female or male:
        return "female" if female > 2 * male else "male" if male > 2 * female else None
    return None


def profile_from_text(
    text: str,
    *,
    extract: FindingExtractor | None = None,
    source_id: str | None = None,
    as_of: datetime | None = None,
) -> PatientProfile:
    """The profile of a free-text description; the query is the text without negated mentions."""
    ext = extract if extract is not None else default_extractor()
    findings = _facts_from_text(text, source_id, ext)
    query = text
    for f in findings:
        # Only negated mentions leave the query: ConText's family flag also fires on "brought by his
        # parents for 5 days of fever", and dropping the patient's own chief complaint costs more.
        if f.negated and f.mention:
            query = re.sub(rf"\b{re.escape(f.mention)}\b", " ", query, count=1)
    pregnancy = [f for f in findings if "pregnan" in f.text.lower() and not f.family]
    pregnant = None if not pregnancy else any(not f.negated and not f.uncertain for f in pregnancy)
    return PatientProfile(
        patient_id=source_id or "",
        age_years=age_from_text(text),
        sex=sex_from_text(text),
        pregnant=pregnant,
        as_of=as_of or datetime.now(UTC),
        lists_complete=False,
        findings=findings,
        query=re.sub(r"\s+", " ", query).strip(),
    )


def loinc_codes(fact: LabFact) -> list[str]:
    return [c.code for c in fact.codes if c.system == LOINC and c.code]
