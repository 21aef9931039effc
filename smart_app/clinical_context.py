"""What the differential and trial views share: the launched patient's record *with its notes*, the
trail from a finding back to the resource it came from, and the ids a card's ``appContext`` names.

The record view reads the notes (``DocumentReference``) with the rest of the record; these views say
why when it could not (scope not granted, EHR error), and read once per session the Observation
categories the record view leaves out (social history such as pregnancy status decides trial
exclusions).

``appContext`` (SMART App Launch 2.2 §appContext) is set by our own services' SMART links:
``{"view": "differentials", "diagnoses": [...], "kb": version}`` and
``{"view": "trials", "trials": [...], "release": id}``. Ids from it or from the ``open`` query
argument are checked against a strict pattern; anything else is reported, never trusted.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache
from flask import Flask, url_for

from clinical.fhir_client import FhirClient, FhirError, FhirUnauthorized, Query, SearchResult
from clinical.record import PatientRecord, build_patient_record
from smart_app import errors, launch
from smart_app.record_view import RecordView
from smart_app.session_models import SmartSession
from smart_app.tokens import granted_resource_types
from smart_app.views import record_view, with_fhir
from smart_app.web import smart_state

VIEWS = ("differentials", "trials")  # appContext "view" values that land on a view of their own
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._\-]{0,119}$")
_MAX_IDS = 40
# Observation categories the record view leaves out but eligibility needs (pregnancy status, smoking)
OTHER_CATEGORIES = "social-history,exam,survey"

_records: TTLCache[str, tuple[PatientRecord, str]] = TTLCache(maxsize=256, ttl=120)
_lock = threading.Lock()


@dataclass
class ResourceRef:
    """Where a finding or a criterion's evidence lives: FHIR type/id, its label and the record panel."""

    resource_type: str
    resource_id: str
    label: str = ""
    panel: str = ""  # id of the record view's panel that shows it ("" = not shown there)


@dataclass
class Requested:
    """Ids the clinician asked to see expanded, and the ones that were malformed."""

    ids: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)  # the appContext object (when it is ours)


def clinical_record(
    app: Flask, sid: str, browser: str | None
) -> tuple[RecordView, SmartSession, PatientRecord, str]:
    """The record view, the session, and the patient record with its notes and the observations the
    record view does not read (social history, e.g. pregnancy status; exam; survey); the last item
    says why notes are missing (``""`` when they were read)."""
    view, session = record_view(app, sid, browser)
    with _lock:
        hit = _records.get(sid)
    if hit is not None:
        return view, session, hit[0], hit[1]
    types, wildcard = granted_resource_types(session.granted_scope, session.requested_scope)
    patient = session.patient or ""
    queries: dict[str, Query] = {}
    notes_status = _notes_status(view)
    if wildcard or "Observation" in types:
        queries["other"] = Query(
            "Observation", {"patient": patient, "category": OTHER_CATEGORIES, "_count": "50"}
        )

    def work(client: FhirClient, _s: SmartSession) -> dict[str, SearchResult | FhirError]:
        results = client.fetch_parallel(queries) if queries else {}
        for res in results.values():
            if isinstance(res, FhirUnauthorized):
                raise res  # with_fhir refreshes the token and retries once
        return results

    results = with_fhir(app, sid, browser, work)
    extra: list[Any] = []
    for res in results.values():
        if isinstance(res, FhirError):
            continue  # one more source, not the page: the views still work on what the record view read
        extra.extend(res.resources)
    record = view.record
    if extra:
        more = build_patient_record(extra)
        record = record.model_copy(update={"observations": [*record.observations, *more.observations]})
    with _lock:
        _records[sid] = (record, notes_status)
    return view, session, record, notes_status


def _notes_status(view: RecordView) -> str:
    """Why the notes are missing from the record view's read (``""`` when they were read)."""
    panel = view.panels.get("notes")
    if panel is None or panel.ok:
        return ""
    if panel.state == "not-granted":
        return "access to notes was not granted by the EHR"
    return "the EHR did not return the notes"


def locate(record: PatientRecord, source_id: str | None, hint: str = "") -> ResourceRef | None:
    """The resource ``source_id`` names in ``record`` (ids are unique per type; ``hint`` — a finding's
    source kind — breaks ties)."""
    if not source_id:
        return None
    candidates: list[ResourceRef] = []
    for p in record.problems:
        if p.source_id == source_id:
            candidates.append(ResourceRef("Condition", source_id, p.text, "panel-problems"))
    for o in record.observations:
        if o.source_id == source_id:
            panel = "panel-vitals" if "vital-signs" in o.category else "panel-labs"
            candidates.append(ResourceRef("Observation", source_id, o.text, panel))
    for m in record.medications:
        if m.source_id == source_id:
            candidates.append(ResourceRef("MedicationRequest", source_id, m.text, "panel-medications"))
    for a in record.allergies:
        if a.source_id == source_id:
            candidates.append(ResourceRef("AllergyIntolerance", source_id, a.text, "panel-allergies"))
    for n in record.notes:
        if n.source_id == source_id and n.kind != "reason":
            candidates.append(ResourceRef("DocumentReference", source_id, n.kind or "Note", ""))
    if record.encounter and record.encounter.source_id == source_id:
        candidates.append(ResourceRef("Encounter", source_id, "Current encounter", "panel-encounter"))
    if source_id == record.patient_id:
        candidates.append(ResourceRef("Patient", source_id, record.name or "Patient", ""))
    preferred = _HINT_TYPES.get(hint)
    for ref in candidates:
        if ref.resource_type == preferred:
            return ref
    return candidates[0] if candidates else None


_HINT_TYPES = {
    "problem": "Condition",
    "observation": "Observation",
    "medication": "MedicationRequest",
    "note": "DocumentReference",
    "demographic": "Patient",
}


def record_link(sid: str, ref: ResourceRef | None) -> str | None:
    """URL of the record view's panel that shows ``ref`` (``None`` when no panel shows it)."""
    if ref is None or not ref.panel:
        return None
    return url_for("smart_app.view", sid=sid) + "#" + ref.panel


def app_context_of(session: SmartSession) -> dict[str, Any]:
    """The session's ``appContext`` as an object, ``{}`` when absent or not a JSON object."""
    if not session.app_context:
        return {}
    try:
        data = json.loads(session.app_context)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def requested_ids(session: SmartSession, view: str, key: str, open_arg: str | None) -> Requested:
    """Ids to pre-expand: the ``open`` argument (comma separated) when given, else the ids the
    launch's ``appContext`` names for this ``view`` under ``key``."""
    context = app_context_of(session)
    raw: list[Any]
    if open_arg is not None:
        raw = [p for p in open_arg.split(",") if p.strip()]
    elif context.get("view") == view and isinstance(context.get(key), list):
        raw = list(context[key])
    else:
        raw = []
    out = Requested(context=context if context.get("view") == view else {})
    for item in raw[:_MAX_IDS]:
        value = str(item).strip()
        if isinstance(item, str) and _ID.match(value):
            if value not in out.ids:
                out.ids.append(value)
        else:
            out.invalid.append(value[:60] or "(empty)")
    return out


def landing_url(sid: str, browser: str | None) -> str:
    """Where a new session opens: the view its ``appContext`` names, else the record and evidence."""
    try:
        session = launch.load_session(smart_state().store, sid, browser)
    except errors.SmartAppError:  # the main view reports a session problem with its own page
        return url_for("smart_app.view", sid=sid)
    view = app_context_of(session).get("view")
    if view in VIEWS:
        return url_for(f"smart_app.{view}", sid=sid)
    return url_for("smart_app.view", sid=sid)
