"""The search parameters the sandbox FHIR server supports, per resource type (FHIR R4 §search).

Each parameter is a kind (token, reference, date, string) and a function that pulls the values to
match out of a resource. The table is the single source for matching, for the CapabilityStatement,
and for the 400 an unsupported parameter gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]
# Given a resource, return the raw FHIR elements to match (CodeableConcept, Coding, Reference, code
# string, date string, Period, Identifier, HumanName …). ``lookup(type, id)`` resolves references.
Extractor = Callable[[Resource, Callable[[str, str], Resource | None]], list[Any]]


@dataclass(frozen=True)
class ParamDef:
    kind: str  # token | reference | date | string
    extract: Extractor
    documentation: str = ""
    target: str | None = None  # for reference params: the one type they point at (patient → Patient)


def _field(*names: str) -> Extractor:
    def extract(res: Resource, lookup: Callable[[str, str], Resource | None]) -> list[Any]:
        out: list[Any] = []
        for name in names:
            value = res.get(name)
            if value is None:
                continue
            out.extend(value if isinstance(value, list) else [value])
        return out

    return extract


def _path(*steps: str) -> Extractor:
    """Nested element, e.g. ``context.encounter``; lists are flattened at every step."""

    def extract(res: Resource, lookup: Callable[[str, str], Resource | None]) -> list[Any]:
        nodes: list[Any] = [res]
        for step in steps:
            nxt: list[Any] = []
            for node in nodes:
                value = node.get(step) if isinstance(node, dict) else None
                if value is not None:
                    nxt.extend(value if isinstance(value, list) else [value])
            nodes = nxt
        return nodes

    return extract


def _medication_code(res: Resource, lookup: Callable[[str, str], Resource | None]) -> list[Any]:
    """MedicationRequest.code: the inline concept, or the code of the referenced Medication."""
    if res.get("medicationCodeableConcept"):
        return [res["medicationCodeableConcept"]]
    ref = (res.get("medicationReference") or {}).get("reference") or ""
    if ref.startswith("Medication/"):
        med = lookup("Medication", ref.split("/", 1)[1])
        if med and med.get("code"):
            return [med["code"]]
    return []


def _observation_date(res: Resource, lookup: Callable[[str, str], Resource | None]) -> list[Any]:
    for name in ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"):
        if res.get(name):
            return [res[name]]
    return []


def _patient_name(res: Resource, lookup: Callable[[str, str], Resource | None]) -> list[Any]:
    out: list[Any] = []
    for name in res.get("name") or []:
        out.extend([name.get("family"), *(name.get("given") or []), name.get("text")])
    return [v for v in out if v]


def _family(res: Resource, lookup: Callable[[str, str], Resource | None]) -> list[Any]:
    return [n.get("family") for n in res.get("name") or [] if n.get("family")]


def _given(res: Resource, lookup: Callable[[str, str], Resource | None]) -> list[Any]:
    return [g for n in res.get("name") or [] for g in n.get("given") or []]


def _subject_patient() -> dict[str, ParamDef]:
    return {
        "patient": ParamDef("reference", _field("subject", "patient"), "The patient", target="Patient"),
        "subject": ParamDef("reference", _field("subject", "patient"), "The subject (a Patient)"),
    }


def _clinical(**extra: ParamDef) -> dict[str, ParamDef]:
    params = _subject_patient()
    params.update(extra)
    return params


PARAMS: dict[str, dict[str, ParamDef]] = {
    "Patient": {
        "identifier": ParamDef("token", _field("identifier"), "A patient identifier (MRN)"),
        "name": ParamDef("string", _patient_name, "Any part of the name"),
        "family": ParamDef("string", _family, "Family name"),
        "given": ParamDef("string", _given, "Given name"),
        "gender": ParamDef("token", _field("gender"), "Administrative gender"),
        "birthdate": ParamDef("date", _field("birthDate"), "Date of birth"),
    },
    "Condition": _clinical(
        category=ParamDef("token", _field("category"), "problem-list-item | encounter-diagnosis | …"),
        code=ParamDef("token", _field("code"), "SNOMED CT / ICD-10 code"),
        **{
            "clinical-status": ParamDef("token", _field("clinicalStatus"), "active | resolved | …"),
            "verification-status": ParamDef("token", _field("verificationStatus"), "confirmed | …"),
            "onset-date": ParamDef("date", _field("onsetDateTime", "onsetPeriod"), "Onset date"),
        },
        encounter=ParamDef("reference", _field("encounter"), "Encounter", target="Encounter"),
    ),
    "MedicationRequest": _clinical(
        status=ParamDef("token", _field("status"), "active | stopped | …"),
        intent=ParamDef("token", _field("intent"), "order | plan | …"),
        category=ParamDef("token", _field("category"), "inpatient | outpatient | …"),
        code=ParamDef("token", _medication_code, "RxNorm code (inline or of the referenced Medication)"),
        medication=ParamDef("reference", _field("medicationReference"), "Medication", target="Medication"),
        authoredon=ParamDef("date", _field("authoredOn"), "Date written"),
        encounter=ParamDef("reference", _field("encounter"), "Encounter", target="Encounter"),
    ),
    "Medication": {
        "code": ParamDef("token", _field("code"), "RxNorm code"),
        "status": ParamDef("token", _field("status"), "active | inactive"),
    },
    "AllergyIntolerance": {
        "patient": ParamDef("reference", _field("patient"), "The patient", target="Patient"),
        "clinical-status": ParamDef("token", _field("clinicalStatus"), "active | inactive | resolved"),
        "verification-status": ParamDef("token", _field("verificationStatus"), "confirmed | …"),
        "category": ParamDef("token", _field("category"), "food | medication | environment | biologic"),
        "code": ParamDef("token", _field("code"), "Substance / allergy code"),
        "criticality": ParamDef("token", _field("criticality"), "low | high | unable-to-assess"),
        "type": ParamDef("token", _field("type"), "allergy | intolerance"),
    },
    "Observation": _clinical(
        category=ParamDef("token", _field("category"), "laboratory | vital-signs | …"),
        code=ParamDef("token", _field("code"), "LOINC code"),
        status=ParamDef("token", _field("status"), "final | amended | …"),
        date=ParamDef("date", _observation_date, "Clinically relevant time"),
        encounter=ParamDef("reference", _field("encounter"), "Encounter", target="Encounter"),
    ),
    "Encounter": _clinical(
        status=ParamDef("token", _field("status"), "planned | in-progress | finished | …"),
        **{"class": ParamDef("token", _field("class"), "AMB | IMP | EMER | …")},
        type=ParamDef("token", _field("type"), "Encounter type"),
        date=ParamDef("date", _field("period"), "Encounter period"),
    ),
    "DocumentReference": _clinical(
        category=ParamDef("token", _field("category"), "clinical-note | …"),
        type=ParamDef("token", _field("type"), "LOINC document type"),
        status=ParamDef("token", _field("status"), "current | superseded | entered-in-error"),
        date=ParamDef("date", _field("date"), "When the document was created"),
        encounter=ParamDef("reference", _path("context", "encounter"), "Encounter", target="Encounter"),
    ),
    "Practitioner": {
        "identifier": ParamDef("token", _field("identifier"), "NPI or other identifier"),
        "name": ParamDef("string", _patient_name, "Any part of the name"),
        "family": ParamDef("string", _family, "Family name"),
    },
    "Organization": {
        "name": ParamDef("string", _field("name"), "Organization name"),
        "identifier": ParamDef("token", _field("identifier"), "Identifier"),
    },
}

SUPPORTED_TYPES = tuple(PARAMS)
# Types whose instances belong to no patient compartment (reference data shared across patients).
SHARED_TYPES = frozenset({"Medication", "Practitioner", "Organization"})
# The only _include the server supports (SMART apps use it to fetch medications in one round trip).
INCLUDES = {"MedicationRequest:medication": ("medicationReference", "Medication")}
