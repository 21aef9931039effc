"""What the EHR chart page shows, read straight from the sandbox's own store (the EHR's own data).

Plain view models for the Jinja templates: the banner, active problems, active medications, recent
laboratory results, and the encounter the chart is opened in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sandbox.store import PatientStore, Resource

ACTIVE_MED_STATUSES = ("active", "on-hold")
RECENT_LABS = 12


@dataclass(frozen=True)
class Banner:
    id: str
    name: str
    birth_date: str
    sex: str
    age: int | None
    mrn: str | None


@dataclass(frozen=True)
class Row:
    label: str
    detail: str = ""
    when: str = ""
    flag: str = ""


def banner(patient: Resource, today: date | None = None) -> Banner:
    birth = str(patient.get("birthDate") or "")
    return Banner(
        id=str(patient["id"]),
        name=display_name(patient),
        birth_date=birth,
        sex=str(patient.get("gender") or "unknown"),
        age=age_on(birth, today or date.today()),
        mrn=_mrn(patient),
    )


def display_name(patient: Resource) -> str:
    names = patient.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if official.get("text"):
        return str(official["text"])
    given = " ".join(official.get("given") or [])
    family = official.get("family") or ""
    return f"{given} {family}".strip() or str(patient.get("id"))


def age_on(birth: str, today: date) -> int | None:
    try:
        born = date.fromisoformat(birth[:10])
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _mrn(patient: Resource) -> str | None:
    for ident in patient.get("identifier") or []:
        codings = (ident.get("type") or {}).get("coding") or []
        if any(c.get("code") == "MR" for c in codings):
            return str(ident.get("value"))
    return None


def concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    codes = [c.get("code") for c in concept.get("coding") or [] if c.get("code")]
    return ", ".join(codes)


def _has_code(concept: Any, code: str) -> bool:
    return isinstance(concept, dict) and any(c.get("code") == code for c in concept.get("coding") or [])


def active_problems(store: PatientStore, patient_id: str) -> list[Row]:
    rows = []
    for cond in store.for_patient(patient_id, "Condition"):
        clinical = cond.get("clinicalStatus")
        if clinical is not None and not _has_code(clinical, "active"):
            continue
        if _has_code(cond.get("verificationStatus"), "entered-in-error"):
            continue
        when = str(cond.get("onsetDateTime") or cond.get("recordedDate") or "")[:10]
        rows.append(Row(concept_text(cond.get("code")), when=when))
    return sorted(rows, key=lambda r: r.label.lower())


def medication_label(store: PatientStore, request: Resource) -> str:
    if request.get("medicationCodeableConcept"):
        return concept_text(request["medicationCodeableConcept"])
    ref = (request.get("medicationReference") or {}).get("reference") or ""
    rtype, _, rid = ref.partition("/")
    med = store.get(rtype, rid) if rtype == "Medication" else None
    if med is not None:
        return concept_text(med.get("code"))
    return str((request.get("medicationReference") or {}).get("display") or "medication")


def active_medications(store: PatientStore, patient_id: str) -> list[Row]:
    rows = []
    for req in store.for_patient(patient_id, "MedicationRequest"):
        if req.get("status") not in ACTIVE_MED_STATUSES:
            continue
        dosage = "; ".join(str(d.get("text")) for d in req.get("dosageInstruction") or [] if d.get("text"))
        when = str(req.get("authoredOn") or "")[:10]
        rows.append(Row(medication_label(store, req), detail=dosage, when=when))
    return sorted(rows, key=lambda r: r.label.lower())


def _value(obs: Resource) -> str:
    q = obs.get("valueQuantity")
    if isinstance(q, dict) and q.get("value") is not None:
        return f"{q['value']} {q.get('unit') or q.get('code') or ''}".strip()
    if obs.get("valueCodeableConcept"):
        return concept_text(obs["valueCodeableConcept"])
    for key in ("valueString", "valueInteger", "valueBoolean"):
        if key in obs:
            return str(obs[key])
    return ""


def recent_labs(store: PatientStore, patient_id: str, limit: int = RECENT_LABS) -> list[Row]:
    labs = [
        o
        for o in store.for_patient(patient_id, "Observation")
        if any(_has_code(c, "laboratory") for c in o.get("category") or [])
    ]
    labs.sort(key=lambda o: str(o.get("effectiveDateTime") or o.get("issued") or ""), reverse=True)
    rows = []
    for obs in labs[:limit]:
        flag = ""
        for interp in obs.get("interpretation") or []:
            codes = {c.get("code") for c in interp.get("coding") or []}
            flag = next((f for f in ("HH", "LL", "H", "L", "A") if f in codes), flag)
        when = str(obs.get("effectiveDateTime") or obs.get("issued") or "")[:10]
        rows.append(Row(concept_text(obs.get("code")), detail=_value(obs), when=when, flag=flag))
    return rows


def current_encounter(store: PatientStore, patient_id: str) -> str | None:
    """The encounter a chart opens in: an in-progress one, else the most recent."""
    encounters = store.for_patient(patient_id, "Encounter")
    if not encounters:
        return None

    def rank(enc: Resource) -> tuple[bool, str]:
        start = str((enc.get("period") or {}).get("start") or "")
        return (enc.get("status") == "in-progress", start)

    return str(max(encounters, key=rank)["id"])
