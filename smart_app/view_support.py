"""The scaffolding the differential and trial views share: the page frame (banner, navigation, loading
state) rendered first, the list built from the launched patient's record with its notes and delivered
as an htmx partial, and the split of the requested ids into listed (pre-expanded) and missing ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from flask import Flask, render_template

from clinical.record import PatientRecord
from evidence_cds.settings import Settings
from smart_app.clinical_context import Requested, clinical_record, requested_ids
from smart_app.views import record_view, smart_style
from smart_app.web import smart_state


class ViewPage(Protocol):
    """What a view's list page carries besides its entries."""

    open_ids: set[str]
    missing: list[str]
    notes_status: str


P = TypeVar("P", bound=ViewPage)
PageBuilder = Callable[[str, PatientRecord, Settings, Requested], P]


def render_frame(app: Flask, sid: str, browser: str | None, open_arg: str | None, view: str) -> str:
    """The frame of ``view`` (template ``smart_app/<view>.html``); its list arrives as an htmx partial."""
    shown, session = record_view(app, sid, browser)
    return render_template(
        f"smart_app/{view}.html",
        sid=sid,
        record=shown.record,
        session=session,
        style=smart_style(session),
        open_arg=open_arg,
        active=view,
    )


def build_list(
    app: Flask,
    sid: str,
    browser: str | None,
    open_arg: str | None,
    view: str,
    key: str,
    build: PageBuilder[P],
) -> P:
    """``build`` run on the session's record with its notes, for the ids requested under ``key`` of the
    launch's ``appContext`` (or in ``open_arg``); the page says why notes are missing, if they are."""
    _view, session, record, notes_status = clinical_record(app, sid, browser)
    requested = requested_ids(session, view, key, open_arg)
    page = build(sid, record, smart_state(app).settings, requested)
    page.notes_status = notes_status
    return page


def mark_requested(page: ViewPage, requested: Requested, listed: set[str]) -> None:
    """Requested ids on the list are opened; the others are reported as missing (in request order)."""
    page.open_ids = {i for i in requested.ids if i in listed}
    page.missing = [i for i in requested.ids if i not in listed]
