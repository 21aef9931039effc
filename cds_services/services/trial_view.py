"""The trial view as data: what the SMART app's trial page (and the card) show for one patient.

Pure functions of typed inputs (no Flask): :func:`trial_rows` turns ranked matches into rows with the
criterion table (met / not met / unknown + evidence) and the registry link; :func:`trials_for_record`
runs the whole pipeline for a :class:`~clinical.record.PatientRecord` under the configured filters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from clinical.patient_profile import PatientProfile, build_profile
from clinical.record import PatientRecord
from knowledge.trials.eligibility import CriterionResult
from knowledge.trials.matching import TrialMatch

if TYPE_CHECKING:
    from evidence_cds.settings import Settings

Verdict = Literal["may_fit", "excluded", "unchecked"]


class TrialRow(BaseModel):
    nct_id: str
    title: str
    status: str
    phase: str
    conditions: list[str]
    registry_url: str | None
    is_demo: bool
    verdict: Verdict
    fit: float  # share of inclusion criteria met
    score: float
    condition_match: str | None
    locations: list[str]
    criteria: list[CriterionResult]

    @property
    def met_summary(self) -> str:
        inc = [c for c in self.criteria if c.kind == "inclusion"]
        exc = [c for c in self.criteria if c.kind == "exclusion"]
        met = sum(c.status == "met" for c in inc)
        excluded = sum(c.status == "met" for c in exc)
        unknown = sum(c.status == "unknown" for c in self.criteria)
        parts = [f"{met}/{len(inc)} inclusion met"]
        parts.append(f"{excluded} exclusion met" if excluded else "no exclusion met")
        if unknown:
            parts.append(f"{unknown} unknown")
        return ", ".join(parts)


def row(m: TrialMatch) -> TrialRow:
    e = m.eligibility
    verdict: Verdict = "unchecked" if e is None else "excluded" if e.hard_fail else "may_fit"
    return TrialRow(
        nct_id=m.trial.nct_id,
        title=m.trial.title or m.trial.nct_id,
        status=m.trial.status,
        phase=m.trial.phase,
        conditions=m.trial.conditions,
        registry_url=m.trial.registry_url,
        is_demo=m.trial.is_demo,
        verdict=verdict,
        fit=e.fit if e else 0.0,
        score=m.score,
        condition_match=m.condition_match,
        locations=[loc.label() for loc in m.trial.locations[:5]],
        criteria=e.results if e else [],
    )


def passes_bar(m: TrialMatch, min_fit: float) -> bool:
    """The card's bar: nothing rules the patient out, enough inclusions met, and the trial's condition
    is one the patient has (a trial that merely fails no criterion is not a suggestion)."""
    e = m.eligibility
    return e is not None and not e.hard_fail and e.fit >= min_fit and m.condition_match is not None


def trial_rows(matches: list[TrialMatch], limit: int = 20) -> list[TrialRow]:
    return [row(m) for m in matches[:limit]]


def trials_for_record(
    record: PatientRecord, settings: Settings, limit: int = 20
) -> tuple[PatientProfile, list[TrialRow]]:
    """Profile and ranked trial rows for the app's trial view."""
    from cds_services.services.trial_setup import matches_for

    profile = build_profile(record)
    return profile, trial_rows(matches_for(profile, profile.query, settings), limit)
