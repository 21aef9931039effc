"""The app's differential view: the full ranked list with each finding's trail and the cited sources.

The ranking is the ``differentials`` service's own (:func:`cds_services.services.differentials.
build_differential`), run on the launched patient's record with its notes, so the card in the EHR and
this view come from one decision. Nothing here states a diagnosis: every entry reads "may fit /
consider". Each finding is traced to its resource (type/id, linked to the record panel that shows it)
or, for a note, to the quoted text span, highlighted inside its sentence.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, render_template

from clinical.record import PatientRecord
from evidence_cds.settings import Settings
from smart_app import errors
from smart_app.citations import Citation, from_label
from smart_app.clinical_context import Requested, ResourceRef, locate, record_link
from smart_app.view_support import build_list, mark_requested, render_frame

log = logging.getLogger("smart_app.differential_view")
VIEW_MAX_LISTED = 12  # ranked entries shown; can't-miss ones further down are added (as the card does)
_CONTEXT_CHARS = 90


class DifferentialUnavailable(errors.SmartAppError):
    status = 503
    title = "The differential could not be built"
    detail = "The disease knowledge base is not available right now. Try again in a moment."
    relaunch = False


@dataclass
class NoteSpan:
    """A finding's words in the note, with the text around them (the span itself is highlighted)."""

    before: str
    span: str
    after: str
    note_label: str = ""


@dataclass
class FindingView:
    label: str
    assertion: str
    role: str
    weight: float
    source: str
    text: str
    ref: ResourceRef | None = None
    link: str | None = None
    quote: NoteSpan | None = None


@dataclass
class DiagnosisView:
    id: str
    rank: int
    name: str
    score: float
    cant_miss: bool
    surfaced: bool  # a can't-miss diagnosis added below the ranked list
    supporting: list[FindingView] = field(default_factory=list)
    opposing: list[FindingView] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)


@dataclass
class DifferentialPage:
    diagnoses: list[DiagnosisView] = field(default_factory=list)
    reason: str = ""  # why there is no list
    kb_version: str = ""
    release: str = ""
    open_ids: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)  # requested ids not in the list
    invalid: list[str] = field(default_factory=list)
    stale_kb: str = ""  # the card's KB version when it differs from the current one
    notes_status: str = ""
    build_ms: float = 0.0


def note_span(
    record: PatientRecord, source_id: str | None, start: int | None, end: int | None
) -> NoteSpan | None:
    """The span ``[start, end)`` of note ``source_id`` with some context, or ``None`` when the span does
    not fit the note (then the finding's own text is quoted instead)."""
    note = next((n for n in record.notes if n.source_id == source_id), None)
    if note is None or start is None or end is None or not 0 <= start < end <= len(note.text):
        return None
    lo = max(0, start - _CONTEXT_CHARS)
    hi = min(len(note.text), end + _CONTEXT_CHARS)
    before = note.text[lo:start]
    after = note.text[end:hi]
    # the context starts and ends on whole words
    if lo > 0 and " " in before:
        before = before.split(" ", 1)[1]
    if hi < len(note.text) and " " in after.strip():
        after = after.rsplit(" ", 1)[0]
    return NoteSpan(
        before=("…" if lo > 0 else "") + " ".join(before.split()) + (" " if before[-1:].isspace() else ""),
        span=note.text[start:end],
        after=(" " if after[:1].isspace() else "")
        + " ".join(after.split())
        + ("…" if hi < len(note.text) else ""),
        note_label=note.kind or "Note",
    )


def _finding(sid: str, record: PatientRecord, evidence: Any) -> FindingView:
    f = evidence.finding
    ref = locate(record, f.source_id, f.source)
    return FindingView(
        label=f.label,
        assertion=f.assertion,
        role=evidence.role,
        weight=round(float(evidence.weight), 2),
        source=f.source,
        text=f.text,
        ref=ref,
        link=record_link(sid, ref),
        quote=note_span(record, f.source_id, f.start, f.end) if f.source == "note" else None,
    )


def _citation(c: Any) -> Citation:
    """A service citation (``label`` + ``url``/``quote``/``release_id``/``kind``) → the view's parts."""
    if c.kind == "passage":
        parts = from_label(c.label)
    else:
        parts = {"title": c.label, "publisher": "Knowledge base source"}
    return Citation(
        title=parts.get("title", c.label),
        publisher=parts.get("publisher", ""),
        year=parts.get("year", ""),
        section=parts.get("section", ""),
        release=c.release_id or "",
        url=c.url,
        text=c.quote or "",
    )


def _retriever(settings: Settings) -> Any:
    if not settings.ddx_cite_passages:
        return None
    from knowledge.librarian.config import current_retriever

    return current_retriever(settings)  # None: the knowledge-base sources are cited instead


def build_page(sid: str, record: PatientRecord, settings: Settings, requested: Requested) -> DifferentialPage:
    """The view's content for ``record`` (pure apart from the cached KB and retriever)."""
    from cds_services.services.differentials import build_differential, citations_for
    from knowledge.diseases import load_default_kb

    started = time.perf_counter()
    try:
        kb = load_default_kb()
    except (OSError, ValueError) as err:
        log.warning("disease KB unavailable: %s", type(err).__name__)
        raise DifferentialUnavailable() from err
    page = DifferentialPage(kb_version=kb.version, invalid=requested.invalid)
    card_kb = requested.context.get("kb")
    if isinstance(card_kb, str) and card_kb and card_kb != kb.version:
        page.stale_kb = card_kb[:40]
    diff = build_differential(record, kb, max_listed=max(VIEW_MAX_LISTED, settings.ddx_card_max_listed))
    if diff is None:
        page.reason = "The record holds too little that is not already explained to suggest a differential."
    else:
        retriever = _retriever(settings)
        page.release = str(getattr(retriever, "release_id", "") or "")
        surfaced = {r.disease.id for r in diff.surfaced}
        for i, r in enumerate(diff.shown, 1):
            page.diagnoses.append(
                DiagnosisView(
                    id=r.disease.id,
                    rank=i,
                    name=r.disease.name,
                    score=round(r.score, 2),
                    cant_miss=r.cant_miss,
                    surfaced=r.disease.id in surfaced,
                    supporting=[_finding(sid, record, e) for e in r.supporting],
                    opposing=[_finding(sid, record, e) for e in r.opposing],
                    tests=list(r.disease.tests),
                    citations=[_citation(c) for c in citations_for(r, retriever)],
                    codes=[f"ICD-10 {c}" for c in r.disease.icd10]
                    + [f"SNOMED {c}" for c in r.disease.snomed],
                )
            )
    mark_requested(page, requested, {d.id for d in page.diagnoses})
    page.build_ms = (time.perf_counter() - started) * 1000
    return page


def render_page(app: Flask, sid: str, browser: str | None, open_arg: str | None) -> str:
    """The view's frame (banner, navigation, loading state); the list arrives as an htmx partial."""
    return render_frame(app, sid, browser, open_arg, "differentials")


def render_list(app: Flask, sid: str, browser: str | None, open_arg: str | None) -> str:
    page = build_list(app, sid, browser, open_arg, "differentials", "diagnoses", build_page)
    log.info("differential view: %d entries in %.0f ms", len(page.diagnoses), page.build_ms)
    return render_template("smart_app/differentials_list.html", sid=sid, page=page)
