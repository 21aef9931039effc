"""Code-system URIs and small helpers over FHIR CodeableConcepts (FHIR R4 §Terminologies)."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"


class Code(BaseModel):
    """One coding: system URI, code and display as the source gave them."""

    model_config = ConfigDict(frozen=True)

    system: str | None = None
    code: str | None = None
    display: str | None = None

    def is_(self, system: str, code: str) -> bool:
        return self.system == system and self.code == code


def codes_from_concept(concept: object | None) -> list[Code]:
    """Codings of an R4B ``CodeableConcept`` (or ``None``) as :class:`Code` values."""
    if concept is None:
        return []
    out: list[Code] = []
    for c in getattr(concept, "coding", None) or []:
        out.append(Code(system=c.system, code=c.code, display=c.display))
    return out


def concept_text(concept: object | None) -> str:
    """Best human text of a CodeableConcept: its ``text``, else the first coding's display, else ''."""
    if concept is None:
        return ""
    text = getattr(concept, "text", None)
    if text:
        return str(text)
    for c in getattr(concept, "coding", None) or []:
        if c.display:
            return str(c.display)
    return ""


def first_code(codes: Iterable[Code], system: str) -> str | None:
    for c in codes:
        if c.system == system and c.code:
            return c.code
    return None
