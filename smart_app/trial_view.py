"""The app's trial view: ranked trials with the criterion-by-criterion check against this patient.

The rows come from :func:`cds_services.services.trial_view.trials_for_record` (the trial-matching
service's own pipeline, under the configured filters), run on the launched patient's record with its
notes. Each criterion shows met / not met / unknown, what that means for eligibility, and the finding
or resource that decided it (linked to the record panel that shows it). Demo trials are marked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from flask import Flask, render_template

from clinical.record import PatientRecord
from evidence_cds.settings import Settings
from smart_app import errors
from smart_app.clinical_context import Requested, ResourceRef, locate, record_link
from smart_app.view_support import build_list, mark_requested, render_frame

log = logging.getLogger("smart_app.trial_view")

STATUS_LABEL = {"met": "met", "not_met": "not met", "unknown": "unknown"}
VERDICT_LABEL = {
    "may_fit": "May fit",
    "excluded": "Ruled out by a criterion",
    "unchecked": "Criteria not checked",
}


class TrialsUnavailable(errors.SmartAppError):
    status = 503
    title = "Trials could not be matched"
    detail = "The trial index is not available right now. Try again in a moment."
    relaunch = False


@dataclass
class CriterionView:
    kind: str
    text: str
    status: str
    status_label: str
    effect: str  # fits | rules out | check
    evidence: str
    rule_type: str
    ref: ResourceRef | None = None
    link: str | None = None


@dataclass
class TrialView:
    nct_id: str
    title: str
    status: str
    phase: str
    conditions: list[str]
    registry_url: str | None
    is_demo: bool
    verdict: str
    verdict_label: str
    fit: float
    summary: str
    condition_match: str | None
    locations: list[str]
    inclusion: list[CriterionView] = field(default_factory=list)
    exclusion: list[CriterionView] = field(default_factory=list)


@dataclass
class TrialsPage:
    trials: list[TrialView] = field(default_factory=list)
    release: str = ""
    open_ids: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    stale_release: str = ""
    notes_status: str = ""
    build_ms: float = 0.0


def effect_of(kind: str, status: str) -> str:
    """What a criterion's status means for eligibility: an exclusion that is *met* rules out."""
    if status == "unknown":
        return "check"
    if kind == "inclusion":
        return "fits" if status == "met" else "rules out"
    return "rules out" if status == "met" else "fits"


def _phase(value: str) -> str:
    if not value or value.upper() in {"NA", "N/A"}:
        return "not applicable"
    return value.replace("PHASE", "Phase ").replace("_", " ").strip()


def build_page(sid: str, record: PatientRecord, settings: Settings, requested: Requested) -> TrialsPage:
    from cds_services.services.trial_setup import trial_index
    from cds_services.services.trial_view import trials_for_record

    started = time.perf_counter()
    try:
        release = str(trial_index(settings).release_id or "")
        _profile, rows = trials_for_record(record, settings)
    except (OSError, ValueError) as err:
        log.warning("trial matching unavailable: %s", type(err).__name__)
        raise TrialsUnavailable() from err
    page = TrialsPage(release=release, invalid=requested.invalid)
    card_release = requested.context.get("release")
    if isinstance(card_release, str) and card_release and release and card_release != release:
        page.stale_release = card_release[:60]
    for r in rows:
        t = TrialView(
            nct_id=r.nct_id,
            title=r.title,
            status=r.status.replace("_", " ").lower(),
            phase=_phase(r.phase),
            conditions=r.conditions,
            registry_url=r.registry_url,
            is_demo=r.is_demo,
            verdict=r.verdict,
            verdict_label=VERDICT_LABEL.get(r.verdict, r.verdict),
            fit=r.fit,
            summary=r.met_summary,
            condition_match=r.condition_match,
            locations=r.locations,
        )
        for c in r.criteria:
            ref = locate(record, c.source_id)
            view = CriterionView(
                kind=c.kind,
                text=c.text,
                status=c.status,
                status_label=STATUS_LABEL.get(c.status, c.status),
                effect=effect_of(c.kind, c.status),
                evidence=c.evidence,
                rule_type=c.rule_type or "text",
                ref=ref,
                link=record_link(sid, ref),
            )
            (t.inclusion if c.kind == "inclusion" else t.exclusion).append(view)
        page.trials.append(t)
    mark_requested(page, requested, {t.nct_id for t in page.trials})
    page.build_ms = (time.perf_counter() - started) * 1000
    return page


def render_page(app: Flask, sid: str, browser: str | None, open_arg: str | None) -> str:
    return render_frame(app, sid, browser, open_arg, "trials")


def render_list(app: Flask, sid: str, browser: str | None, open_arg: str | None) -> str:
    page = build_list(app, sid, browser, open_arg, "trials", "trials", build_page)
    log.info("trial view: %d entries in %.0f ms", len(page.trials), page.build_ms)
    return render_template("smart_app/trials_list.html", sid=sid, page=page)
