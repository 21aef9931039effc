"""Typed trial records: what the importer keeps of a ClinicalTrials.gov study and what matching reads.

Field names follow the ClinicalTrials.gov data model (``protocolSection`` of the modern API,
https://clinicaltrials.gov/data-api/about-api/study-data-structure): ``overallStatus``,
``eligibilityModule`` (``minimumAge``, ``maximumAge``, ``sex``, ``eligibilityCriteria``), locations.
Ages are kept in years (float) so bounds compare exactly; ``None`` means "no limit".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from knowledge.trials.criteria import Rule

CriterionKind = Literal["inclusion", "exclusion"]
Sex = Literal["ALL", "FEMALE", "MALE"]

# ClinicalTrials.gov ``overallStatus`` values under which a study enrols participants.
RECRUITING_STATUSES = frozenset({"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION"})


class Criterion(BaseModel):
    """One inclusion or exclusion criterion: its text and, when it could be parsed, a checkable rule."""

    id: str  # "inc-1", "exc-3": stable within one trial version
    kind: CriterionKind
    text: str
    rule: Rule | None = None


class Location(BaseModel):
    facility: str = ""
    city: str = ""
    state: str = ""
    country: str = ""

    def label(self) -> str:
        return ", ".join(p for p in (self.facility, self.city, self.state, self.country) if p)


class Trial(BaseModel):
    """One study as imported. ``is_demo`` marks the team's own fictional demo trials."""

    nct_id: str
    title: str = ""
    brief_summary: str = ""
    conditions: list[str] = Field(default_factory=list)
    interventions: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    phase: str = ""
    status: str = "UNKNOWN"
    locations: list[Location] = Field(default_factory=list)
    minimum_age_years: float | None = None
    maximum_age_years: float | None = None
    sex: Sex = "ALL"
    healthy_volunteers: bool | None = None
    eligibility_text: str = ""
    inclusion: list[Criterion] = Field(default_factory=list)
    exclusion: list[Criterion] = Field(default_factory=list)
    is_demo: bool = False
    source: str = ""

    @property
    def is_recruiting(self) -> bool:
        return self.status.upper() in RECRUITING_STATUSES

    @property
    def criteria(self) -> list[Criterion]:
        return [*self.inclusion, *self.exclusion]

    @property
    def registry_url(self) -> str | None:
        """The public registry record; demo trials have none (their ids are not real NCT numbers)."""
        if self.is_demo or not self.nct_id.upper().startswith("NCT"):
            return None
        return f"https://clinicaltrials.gov/study/{self.nct_id}"

    def headline(self) -> str:
        """What the registry says the study is about: title, conditions and keywords."""
        return "\n".join(p for p in (self.title, " ; ".join(self.conditions), " ; ".join(self.keywords)) if p)

    def search_text(self) -> str:
        """The text BM25 and the dense encoder see: title, conditions, keywords, summary, criteria."""
        parts = [
            self.headline(),
            " ; ".join(self.interventions),
            self.brief_summary,
            " ".join(c.text for c in self.inclusion),
        ]
        return "\n".join(p for p in parts if p)

    def passages(self, max_chars: int = 600) -> list[str]:
        """Short passages for the dense encoder (its window is ~256 word pieces): headline, then chunks."""
        head = ". ".join(p for p in (self.title, ", ".join(self.conditions)) if p)
        body = "\n".join(p for p in (self.brief_summary, " ".join(c.text for c in self.inclusion)) if p)
        out = [head] if head else []
        words = body.split()
        chunk: list[str] = []
        size = 0
        for w in words:
            chunk.append(w)
            size += len(w) + 1
            if size >= max_chars:
                out.append(" ".join(chunk))
                chunk, size = chunk[-12:], sum(len(x) + 1 for x in chunk[-12:])  # small overlap
        if chunk and (len(out) <= 1 or size > 80):
            out.append(" ".join(chunk))
        return out or [self.nct_id]
