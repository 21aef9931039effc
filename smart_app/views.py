"""The evidence view's service layer: session → fresh token → FHIR → record → template context.

A 401 from the FHIR server triggers one forced refresh and one retry (the token may have been revoked
or expired early); a second 401, or a failed refresh, asks the user to relaunch. The assembled view is
kept in process for a short time per session, so the htmx partials that follow the page do not read
the record again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from cachetools import TTLCache
from flask import Flask, render_template

from clinical.fhir_client import (
    FhirClient,
    FhirClientConfig,
    FhirError,
    FhirForbidden,
    FhirNotFound,
    FhirUnauthorized,
)
from evidence_cds.logging_setup import hash_id
from smart_app import citations, errors, evidence, launch
from smart_app.record_view import RecordView, load_record_view
from smart_app.session_models import SmartSession
from smart_app.tokens import granted_resource_types, missing_scopes
from smart_app.web import smart_state

log = logging.getLogger("smart_app.views")
T = TypeVar("T")

_views: TTLCache[str, RecordView] = TTLCache(maxsize=256, ttl=120)
_styles: TTLCache[str, dict[str, str]] = TTLCache(maxsize=32, ttl=600)
_lock = threading.Lock()
_resolver: Any = None


def _ingredient_resolver() -> Any:
    """The RxNorm vocabulary of ``knowledge.drugs`` (loaded once); ``None`` when unavailable."""
    global _resolver
    if _resolver is None:
        try:
            from knowledge.drugs.vocabulary import load_vocabulary

            _resolver = load_vocabulary()
        except (ImportError, OSError) as err:  # the record still works, ingredients stay empty
            log.warning("RxNorm vocabulary unavailable: %s", type(err).__name__)
            _resolver = False
    return _resolver or None


def with_fhir(app: Flask, sid: str, browser: str | None, work: Callable[[FhirClient, SmartSession], T]) -> T:
    """Run ``work`` with a FHIR client holding a fresh token; refresh-and-retry once on 401."""
    state = smart_state(app)
    settings = state.settings
    session = launch.load_session(state.store, sid, browser)
    session = launch.ensure_fresh(settings, state.store, sid, session)
    config = FhirClientConfig(
        connect_timeout_s=settings.smart_http_timeout_s,
        read_timeout_s=settings.smart_fhir_read_timeout_s,
        page_cap=settings.smart_fhir_page_cap,
    )
    for attempt in (1, 2):
        token = session.access_token
        client = FhirClient(session.iss, token=token, config=config)
        try:
            return work(client, session)
        except FhirUnauthorized:
            if attempt == 2:
                raise errors.RelaunchRequired() from None
            session = launch.ensure_fresh(settings, state.store, sid, session, force=True)
        except FhirNotFound as err:
            raise errors.PatientNotFound() from err
        except FhirForbidden as err:
            raise errors.AuthorizationDenied("The EHR refused access to this patient's record.") from err
        except FhirError as err:
            log.warning("FHIR failure %s (%s)", type(err).__name__, err.status)
            raise errors.FhirAccessFailed() from err
    raise errors.RelaunchRequired()  # pragma: no cover - the loop always returns or raises


def record_view(
    app: Flask, sid: str, browser: str | None, *, use_cache: bool = True
) -> tuple[RecordView, SmartSession]:
    def work(client: FhirClient, session: SmartSession) -> tuple[RecordView, SmartSession]:
        if use_cache:
            with _lock:
                cached = _views.get(sid)
            if cached is not None:
                return cached, session
        if not session.patient:
            raise errors.NoPatientContext()
        types, wildcard = granted_resource_types(session.granted_scope, session.requested_scope)
        view = load_record_view(
            client,
            session.patient,
            encounter_id=session.encounter,
            granted_types=types,
            wildcard=wildcard,
            resolver=_ingredient_resolver(),
        )
        with _lock:
            _views[sid] = view
        log.info(
            "record for %s: %d resources, fetch %.0f ms, build %.0f ms",
            hash_id(session.patient),
            len(view.resources),
            view.fetch_ms,
            view.build_ms,
        )
        return view, session

    return with_fhir(app, sid, browser, work)


def render_main(app: Flask, sid: str, browser: str | None) -> str:
    started = time.perf_counter()
    view, session = record_view(app, sid, browser, use_cache=False)
    context = evidence.parse_app_context(session.app_context)
    return render_template(
        "smart_app/app.html",
        sid=sid,
        view=view,
        record=view.record,
        session=session,
        labs=latest_by_code(view, "laboratory"),
        vitals=latest_by_code(view, "vital-signs"),
        unavailable=missing_scopes(session.requested_scope, session.granted_scope),
        style=smart_style(session),
        app_context=context,
        render_ms=(time.perf_counter() - started) * 1000,
    )


def render_evidence(app: Flask, sid: str, browser: str | None, focus: str | None) -> str:
    view, session = record_view(app, sid, browser)
    context = evidence.parse_app_context(session.app_context)
    result = evidence.cards_for_patient(
        app,
        view.resources,
        patient_id=session.patient or "",
        encounter_id=session.encounter,
        fhir_user=session.fhir_user,
        context_rxcuis=[d for d in context.get("drugs", "").split(",") if d],
    )
    return render_template(
        "smart_app/_evidence.html", sid=sid, result=result, focus=focus or context.get("focus") or ""
    )


def render_search(app: Flask, sid: str, browser: str | None, query: str) -> str:
    state = smart_state(app)
    launch.load_session(state.store, sid, browser)  # only a launched session may search
    query = query.strip()[:300]
    outcome = citations.search_guidelines(app, query) if query else citations.SearchOutcome()
    return render_template("smart_app/_search_results.html", query=query, outcome=outcome)


def latest_by_code(view: RecordView, category: str, limit: int = 12) -> list[Any]:
    """The newest observation per code in ``category`` (labs or vitals), newest first."""
    seen: set[str] = set()
    out = []
    for obs in view.record.observations:  # already newest first
        if category not in obs.category:
            continue
        key = obs.loinc or obs.text
        if key in seen:
            continue
        seen.add(key)
        out.append(obs)
        if len(out) >= limit:
            break
    return out


_STYLE_KEYS = {"color_background", "color_text", "color_highlight", "color_error", "font_family_body"}


def smart_style(session: SmartSession) -> dict[str, str]:
    """SMART §Styling: fetch ``smart_style_url`` (same origin as the EHR only) into CSS variables."""
    url = session.smart_style_url
    if not url or urlsplit(url).netloc != urlsplit(session.iss).netloc:
        return {}
    if urlsplit(url).scheme not in ("http", "https"):
        return {}
    with _lock:
        hit = _styles.get(url)
    if hit is not None:
        return hit
    try:
        # No redirects: the same-origin check above must hold for the URL actually fetched.
        resp = requests.get(url, timeout=(2, 2), allow_redirects=False)
        body = resp.json() if resp.status_code == 200 and len(resp.content) <= 65536 else {}
    except (requests.RequestException, ValueError):
        return {}
    style = {
        k.replace("_", "-"): str(v)
        for k, v in (body.items() if isinstance(body, dict) else [])
        if k in _STYLE_KEYS and isinstance(v, str) and _safe_css(v)
    }
    with _lock:
        _styles[url] = style
    return style


def _safe_css(value: str) -> bool:
    lowered = value.lower()
    # no declarations/blocks, and no url()/@import/expression(): a colour must not fetch anything
    return (
        len(value) < 80
        and not any(c in value for c in ";{}<>\\@")
        and not any(f in lowered for f in ("url(", "expression(", "image-set("))
    )
