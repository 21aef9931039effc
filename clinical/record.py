"""``PatientRecord``: the one model of the patient that the services and the UI share.

Built from FHIR R4 resources however they arrived — CDS Hooks prefetch, the FHIR API, a sandbox
bundle — by :func:`build_patient_record`. Every input is parsed with ``fhir.resources.R4B`` (never the
R5 default); a resource that fails validation is skipped and reported in ``PatientRecord.warnings``
rather than crashing the caller. Each entry keeps the id of the resource it came from, so a card or a
finding can be traced back.

Medication ingredients are filled by an optional :class:`IngredientResolver` (the RxNorm vocabulary of
``knowledge.drugs``); without one, ``Medication.ingredients`` stays empty and only the given codes are
known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from clinical.codes import LOINC, RXNORM, Code, codes_from_concept, concept_text, first_code
from clinical.resources import (
    flatten_resources,
    medication_concept,
    parse_resource,
    to_datetime,
)


class Ingredient(BaseModel):
    """An RxNorm ingredient (IN/MIN) a medication contains."""

    rxcui: str
    name: str


class IngredientResolver(Protocol):
    """Maps medication codes or free text to RxNorm ingredients (implemented in ``knowledge.drugs``)."""

    def ingredients_for_codes(self, codes: list[Code]) -> list[Ingredient]: ...

    def ingredients_for_text(self, text: str) -> list[Ingredient]: ...


class Medication(BaseModel):
    """One MedicationRequest (active, draft or historical) with its normalised ingredients."""

    source_id: str | None = None
    codes: list[Code] = Field(default_factory=list)
    text: str = ""
    ingredients: list[Ingredient] = Field(default_factory=list)
    matched_by_text: bool = False  # ingredients came from the name, not a code
    status: str | None = None
    intent: str | None = None
    authored_on: datetime | None = None
    is_draft: bool = False

    @property
    def rxnorm_code(self) -> str | None:
        return first_code(self.codes, RXNORM)

    @property
    def ingredient_ids(self) -> set[str]:
        return {i.rxcui for i in self.ingredients}


class Problem(BaseModel):
    source_id: str | None = None
    codes: list[Code] = Field(default_factory=list)
    text: str = ""
    clinical_status: str | None = None
    verification_status: str | None = None
    onset: datetime | None = None
    recorded: datetime | None = None

    @property
    def is_active(self) -> bool:
        return (self.clinical_status or "active") in {"active", "recurrence", "relapse"} and (
            self.verification_status not in {"refuted", "entered-in-error"}
        )


class Allergy(BaseModel):
    source_id: str | None = None
    codes: list[Code] = Field(default_factory=list)
    text: str = ""
    criticality: str | None = None
    clinical_status: str | None = None


class Observation(BaseModel):
    """A lab or vital: numeric value with unit when there is one, the reference range if given."""

    source_id: str | None = None
    codes: list[Code] = Field(default_factory=list)
    text: str = ""
    category: list[str] = Field(default_factory=list)
    value: float | None = None
    unit: str | None = None
    value_text: str | None = None
    effective: datetime | None = None
    interpretation: str | None = None  # e.g. H, L, N (v3 ObservationInterpretation)
    ref_low: float | None = None
    ref_high: float | None = None
    status: str | None = None

    @property
    def loinc(self) -> str | None:
        return first_code(self.codes, LOINC)


class Encounter(BaseModel):
    source_id: str | None = None
    status: str | None = None
    class_code: str | None = None
    reason: str = ""
    start: datetime | None = None


MAX_NOTES_READ = 20
MAX_NOTE_CHARS = 20_000  # in all: about 0.6 s of clinical NLP at most


class Note(BaseModel):
    """Free text from a DocumentReference (text/plain attachment) or an encounter reason."""

    source_id: str | None = None
    text: str
    date: datetime | None = None
    kind: str = ""


class PatientRecord(BaseModel):
    """The patient as FHIR tells it, normalised for decision logic."""

    patient_id: str
    name: str = ""
    birth_date: date | None = None
    sex: str | None = None  # FHIR administrative gender
    # Patient.deceased[x]: a date when known; ``deceased`` is also True for deceasedBoolean = true.
    deceased: bool = False
    deceased_on: datetime | None = None
    medications: list[Medication] = Field(default_factory=list)
    draft_medications: list[Medication] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    allergies: list[Allergy] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)
    encounter: Encounter | None = None
    notes: list[Note] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    as_of: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def age_years(self, on: date | None = None) -> int | None:
        if self.birth_date is None:
            return None
        today = on or self.as_of.date()
        b = self.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))

    def notes_to_read(self, limit: int = MAX_NOTES_READ, budget_chars: int = MAX_NOTE_CHARS) -> list[Note]:
        """The notes clinical NLP reads: the newest ``limit`` (undated notes and the encounter reason
        count as newest) until ``budget_chars`` characters in all, the last one cut to what is left.

        NLP costs about 30 ms per 1,000 characters on this hardware and a hook handler runs to
        completion, so a chart with years of notes must not cost seconds per call; spans found in a
        cut note still index into the full text."""
        newest = sorted(self.notes, key=lambda n: n.date or self.as_of, reverse=True)
        out: list[Note] = []
        left = budget_chars
        for note in newest[:limit]:
            if left <= 0:
                break
            out.append(note if len(note.text) <= left else note.model_copy(update={"text": note.text[:left]}))
            left -= len(note.text)
        return out

    @property
    def active_medications(self) -> list[Medication]:
        return [m for m in self.medications if (m.status or "active") in {"active", "on-hold"}]

    @property
    def active_problems(self) -> list[Problem]:
        return [p for p in self.problems if p.is_active]

    def observations_for(self, loinc: str) -> list[Observation]:
        """Observations with this LOINC code, newest first."""
        found = [o for o in self.observations if any(c.is_(LOINC, loinc) for c in o.codes)]
        return sorted(found, key=lambda o: o.effective or datetime.min.replace(tzinfo=UTC), reverse=True)

    def latest(self, loinc: str) -> Observation | None:
        found = self.observations_for(loinc)
        return found[0] if found else None


def build_patient_record(
    resources: Iterable[Any] | Mapping[str, Any],
    *,
    draft_orders: Iterable[Any] = (),
    resolver: IngredientResolver | None = None,
    now: datetime | None = None,
) -> PatientRecord:
    """Build a :class:`PatientRecord` from FHIR R4 resources (dicts or R4B models; Bundles flattened).

    ``resources`` may be a prefetch mapping (key → resource or Bundle). ``draft_orders`` are the hook's
    draft MedicationRequests (CDS Hooks ``draftOrders``); they land in ``draft_medications``.
    """
    items = list(resources.values()) if isinstance(resources, Mapping) else list(resources)
    warnings: list[str] = []
    parsed = [r for r in (parse_resource(x, warnings) for x in flatten_resources(items)) if r is not None]
    drafts = [r for r in (parse_resource(x, warnings) for x in flatten_resources(list(draft_orders))) if r]
    medications_by_id = {r.id: r for r in parsed + drafts if r.__resource_type__ == "Medication" and r.id}

    patient = next((r for r in parsed if r.__resource_type__ == "Patient"), None)
    record = PatientRecord(patient_id=patient.id if patient and patient.id else "", warnings=warnings)
    if now is not None:
        record.as_of = now
    if patient is not None:
        # R4B keeps a partial birthDate ("1950", "1950-07") as a str: read it as its first day.
        born = to_datetime(patient.birthDate)
        record.birth_date = born.date() if born else None
        record.sex = patient.gender
        record.deceased_on = to_datetime(getattr(patient, "deceasedDateTime", None))
        record.deceased = bool(getattr(patient, "deceasedBoolean", None)) or record.deceased_on is not None
        if patient.name:
            n = patient.name[0]
            record.name = n.text or " ".join([*(n.given or []), n.family or ""]).strip()

    for r in parsed:
        kind = r.__resource_type__
        if kind == "MedicationRequest":
            record.medications.append(_medication(r, medications_by_id, resolver))
        elif kind == "Condition":
            record.problems.append(_problem(r))
        elif kind == "AllergyIntolerance":
            record.allergies.append(
                Allergy(
                    source_id=r.id,
                    codes=codes_from_concept(r.code),
                    text=concept_text(r.code),
                    criticality=r.criticality,
                    clinical_status=_status_code(r.clinicalStatus),
                )
            )
        elif kind == "Observation":
            record.observations.append(_observation(r))
        elif kind == "Encounter" and record.encounter is None:
            record.encounter = _encounter(r)
        elif kind == "DocumentReference":
            record.notes.extend(_notes(r))
    for d in drafts:
        if d.__resource_type__ == "MedicationRequest":
            med = _medication(d, medications_by_id, resolver)
            med.is_draft = True
            record.draft_medications.append(med)
    if record.encounter and record.encounter.reason:
        record.notes.append(
            Note(source_id=record.encounter.source_id, text=record.encounter.reason, kind="reason")
        )
    return record


def _status_code(concept: Any) -> str | None:
    codes = codes_from_concept(concept)
    return codes[0].code if codes else None


def _medication(r: Any, meds: Mapping[str, Any], resolver: IngredientResolver | None) -> Medication:
    concept = medication_concept(r, meds)
    codes, text = codes_from_concept(concept), concept_text(concept)
    med = Medication(
        source_id=r.id,
        codes=codes,
        text=text,
        status=r.status,
        intent=r.intent,
        authored_on=to_datetime(r.authoredOn),
        is_draft=r.status == "draft",
    )
    if resolver is not None:
        med.ingredients = resolver.ingredients_for_codes(codes) if codes else []
        if not med.ingredients and text:
            med.ingredients = resolver.ingredients_for_text(text)
            med.matched_by_text = bool(med.ingredients)
    return med


def _problem(r: Any) -> Problem:
    return Problem(
        source_id=r.id,
        codes=codes_from_concept(r.code),
        text=concept_text(r.code),
        clinical_status=_status_code(r.clinicalStatus),
        verification_status=_status_code(r.verificationStatus),
        onset=to_datetime(getattr(r, "onsetDateTime", None)),
        recorded=to_datetime(r.recordedDate),
    )


def _observation(r: Any) -> Observation:
    obs = Observation(
        source_id=r.id,
        codes=codes_from_concept(r.code),
        text=concept_text(r.code),
        category=[c.code for cat in (r.category or []) for c in (cat.coding or []) if c.code],
        effective=to_datetime(getattr(r, "effectiveDateTime", None) or r.issued),
        status=r.status,
    )
    if r.valueQuantity is not None and r.valueQuantity.value is not None:
        obs.value = float(r.valueQuantity.value)
        obs.unit = r.valueQuantity.unit or r.valueQuantity.code
    elif r.valueString:
        obs.value_text = r.valueString
    elif r.valueCodeableConcept is not None:
        obs.value_text = concept_text(r.valueCodeableConcept)
    if r.interpretation:
        obs.interpretation = next((c.code for c in r.interpretation[0].coding or [] if c.code), None)
    if r.referenceRange:
        rr = r.referenceRange[0]
        obs.ref_low = float(rr.low.value) if rr.low is not None and rr.low.value is not None else None
        obs.ref_high = float(rr.high.value) if rr.high is not None and rr.high.value is not None else None
    return obs


def _encounter(r: Any) -> Encounter:
    reason = "; ".join(t for t in (concept_text(c) for c in r.reasonCode or []) if t)
    cls = getattr(r, "class_fhir", None)
    return Encounter(
        source_id=r.id,
        status=r.status,
        class_code=getattr(cls, "code", None),
        reason=reason,
        start=to_datetime(r.period.start) if r.period else None,
    )


def _notes(r: Any) -> list[Note]:
    import base64

    notes: list[Note] = []
    for content in r.content or []:
        att = content.attachment
        if att is None or att.data is None or not (att.contentType or "").startswith("text/plain"):
            continue
        raw = att.data if isinstance(att.data, bytes) else str(att.data).encode()
        try:
            text = base64.b64decode(raw).decode("utf-8", errors="replace")
        except ValueError:
            text = raw.decode("utf-8", errors="replace")
        notes.append(Note(source_id=r.id, text=text, date=to_datetime(r.date), kind=concept_text(r.type)))
    return notes
