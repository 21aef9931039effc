"""Typed records of the disease knowledge base (what ``data/diseases.json`` holds)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["key", "typical", "against", "risk"]
Urgency = Literal["cant_miss", "urgent", "routine"]


class DiseaseFinding(BaseModel):
    """A finding concept linked to a diagnosis.

    ``key``: discriminating, weighs most; ``typical``: common in the disease; ``against``: its presence
    argues against the diagnosis; ``risk``: a risk factor or history that raises the prior.
    """

    concept_id: str
    role: Role = "typical"


class KbSource(BaseModel):
    """Where an entry (or part of it) comes from, with the license that allows its use."""

    name: str
    license: str
    url: str | None = None
    detail: str | None = None


class Disease(BaseModel):
    id: str  # DOID when linked, else "evidence-cds:<slug>"
    name: str
    synonyms: list[str] = Field(default_factory=list)
    icd10: list[str] = Field(default_factory=list)
    snomed: list[str] = Field(default_factory=list)
    doid: str | None = None
    urgency: Urgency = "routine"
    prevalence: int = 1  # 3 common, 2 uncommon, 1 rare (coarse base rate)
    sex: Literal["female", "male"] | None = None  # only this sex (anatomy): never proposed for the other
    sex_predominant: Literal["female", "male"] | None = None  # more common in this sex: small prior bonus
    age_min: int | None = None
    age_max: int | None = None
    findings: list[DiseaseFinding] = Field(default_factory=list)
    tests: list[str] = Field(default_factory=list)
    definition: str | None = None
    sources: list[KbSource] = Field(default_factory=list)

    @property
    def cant_miss(self) -> bool:
        return self.urgency == "cant_miss"

    def concepts(self, *roles: str) -> set[str]:
        return {f.concept_id for f in self.findings if not roles or f.role in roles}
