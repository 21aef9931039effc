"""The app's differential view over real HTTP: launched from the sandbox EHR, the record and the note
read over FHIR, the ranking of the ``differentials`` service, findings traced to resources and spans."""

from __future__ import annotations

import json
from base64 import b64decode
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from bs4 import BeautifulSoup

from clinical.record import Note, PatientRecord
from smart_app.differential_view import note_span
from tests.conftest import System
from tests.smart_app.conftest import (
    AppBrowser,
    launch,
    launch_with_context,
    session_id_of,
    session_tokens,
    text_of,
    view_list,
)

NOTE_ID = "demo-multiproblem-note-1"
# mentioned in the note only negated ("Denies chest pain", "No fever") or as family history
NEVER_PRESENT = ("chest pain", "fever", "melena", "colon cancer", "myocardial infarction", "ankle swelling")


def differential_list(b: AppBrowser, system: System, sid: str, **params: str) -> BeautifulSoup:
    return view_list(b, system, sid, "differentials", **params)


def test_full_differential_with_finding_trails_and_sources(smart_system: System) -> None:
    b, page = launch(smart_system, "demo-multiproblem")
    sid = session_id_of(page)
    shell = b.get(f"{smart_system.app_url}/app/s/{sid}/differentials")
    assert shell.status_code == 200
    soup = BeautifulSoup(shell.text, "html.parser")
    assert soup.select_one("nav.app-nav a[aria-current=page]").get_text() == "Differential"
    assert soup.select_one("#ddx-list .loading[role=status]") is not None
    assert soup.select_one("#ddx-list")["hx-get"].endswith(f"/app/s/{sid}/differentials/list")

    soup = differential_list(b, smart_system, sid)
    items = soup.select("details.ddx-item")
    assert len(items) >= 3
    marks = 0
    for item in items:
        name = item.select_one(".ddx-name").get_text()
        assert name.startswith("Consider "), name  # never stated as a diagnosis
        supporting = item.select("ul.findings")[0].select("li.finding")
        assert supporting, f"{name}: no finding trail"
        for li in supporting:
            assert not {"finding-absent", "finding-family"} & set(li["class"])
            label = li.select_one(".finding-label").get_text().strip().lower()
            assert label not in NEVER_PRESENT, f"{name}: negated/family finding counted: {label}"
            trail = li.select_one(".trail")
            assert trail.get_text().strip(), f"{name}: {label} has no source"
            mark = li.select_one("mark")
            if mark is not None:
                marks += 1
                assert NOTE_ID in trail.get_text()
                assert mark.get_text().lower() in text_of(str(li.select_one("blockquote"))).lower()
            link = trail.select_one("a")
            if link is not None:
                assert link["href"].startswith(f"/app/s/{sid}/#panel-")
        sources = item.select(".citations li.citation")
        assert sources, f"{name}: no source"
        assert item.select_one(".citations").get_text().strip()
    assert marks >= 1, "no note span was highlighted"
    # the labs behind the findings trail back to Observations, linked to the labs panel
    assert soup.select(f'a[href="/app/s/{sid}/#panel-labs"]')
    assert "Observation/demo-multiproblem-obs-" in soup.get_text()


def test_highlighted_span_is_the_notes_own_words(smart_system: System) -> None:
    b, page = launch(smart_system, "demo-multiproblem")
    sid = session_id_of(page)
    soup = differential_list(b, smart_system, sid)
    spans = {m.get_text() for m in soup.select(".note-quote mark")}
    assert spans
    # every highlighted span is a verbatim piece of the note, as the EHR's FHIR server serves it
    token, _refresh = session_tokens(smart_system, sid)
    doc = requests.get(
        f"{smart_system.ehr_url}/fhir/DocumentReference/{NOTE_ID}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert doc.status_code == 200
    text = b64decode(doc.json()["content"][0]["attachment"]["data"]).decode()
    for span in spans:
        assert span in text


def test_app_context_lands_on_the_view_with_the_named_diagnoses_open(smart_system: System) -> None:
    b, page = launch(smart_system, "demo-multiproblem")
    listed = [
        d["data-diagnosis"] for d in differential_list(b, smart_system, session_id_of(page)).select("details")
    ]
    wanted = listed[1:3]
    context = {
        "view": "differentials",
        "diagnoses": [*wanted, "evidence-cds:not-a-disease", "<script>"],
        "kb": "0.0-old",
    }
    b2, landed = launch_with_context(smart_system, "demo-multiproblem", context)
    assert landed.status_code == 200
    assert "/differentials" in landed.url
    sid = session_id_of(landed)
    soup = differential_list(b2, smart_system, sid)
    opened = [d["data-diagnosis"] for d in soup.select("details[open]")]
    assert sorted(opened) == sorted(wanted)
    alerts = " ".join(a.get_text() for a in soup.select("[role=alert]"))
    assert "evidence-cds:not-a-disease" in alerts
    assert "<script>" not in str(soup.select("[role=alert]"))  # escaped, never markup
    assert "were not valid" in alerts
    assert "0.0-old" in soup.get_text()


@pytest.mark.parametrize("open_arg", ["", ",,,", "%00", "a" * 500, "<img src=x>", "evidence-cds:nope"])
def test_bad_open_ids_answer_a_message_not_an_error(smart_system: System, open_arg: str) -> None:
    b, page = launch(smart_system, "demo-multiproblem")
    sid = session_id_of(page)
    soup = differential_list(b, smart_system, sid, open=open_arg)
    assert soup.select("details.ddx-item")
    assert not soup.select("details[open]")
    assert "<img" not in "".join(str(a) for a in soup.select("[role=alert]"))
    shell = b.get(f"{smart_system.app_url}/app/s/{sid}/differentials?{urlencode({'open': open_arg})}")
    assert shell.status_code == 200


def test_record_without_enough_findings_says_so(smart_system: System) -> None:
    b, page = launch(smart_system, "demo-trial")
    soup = differential_list(b, smart_system, session_id_of(page))
    assert not soup.select("details.ddx-item")
    assert "too little" in soup.get_text()


def test_unknown_or_foreign_session_is_a_clear_4xx(smart_system: System) -> None:
    b, page = launch(smart_system, "demo-multiproblem")
    sid = session_id_of(page)
    assert b.get(f"{smart_system.app_url}/app/s/not-a-session/differentials").status_code == 401
    frag = b.get(
        f"{smart_system.app_url}/app/s/not-a-session/differentials/list", headers={"HX-Request": "1"}
    )
    assert frag.status_code == 200 and frag.headers["X-Evidence-Cds-Status"] == "401"
    stranger = AppBrowser(smart_system)  # no cookie: another browser holding the URL
    assert stranger.get(f"{smart_system.app_url}/app/s/{sid}/differentials/list").status_code == 403


def test_note_span_outside_the_note_is_not_quoted() -> None:
    record = PatientRecord(patient_id="p", notes=[Note(source_id="n1", text="Reports fatigue. No fever.")])
    span = note_span(record, "n1", 8, 15)
    assert span is not None and span.span == "fatigue" and span.before == "Reports "
    assert span.after == ". No fever."
    for start, end in [(None, 3), (5, 5), (10, 400), (-1, 3)]:
        assert note_span(record, "n1", start, end) is None
    assert note_span(record, "other", 8, 15) is None


def test_service_citations_become_title_publisher_year_section() -> None:
    from cds_services.services.differential_evidence import Citation as ServiceCitation
    from smart_app.differential_view import _citation

    passage = ServiceCitation(
        label="NICE (2023). Anaemia - iron deficiency. § Diagnosis > Iron studies",
        url="https://example.org/guideline",
        quote="Iron deficiency anaemia is confirmed by a low ferritin.",
        release_id="rel-7",
    )
    shown = _citation(passage)
    assert (shown.publisher, shown.year, shown.title) == ("NICE", "2023", "Anaemia - iron deficiency")
    assert shown.section == "Diagnosis > Iron studies"
    assert (shown.release, shown.url, shown.text) == ("rel-7", passage.url, passage.quote)
    kb = _citation(ServiceCitation(label="Human Disease Ontology (CC0-1.0): DOID:1", kind="knowledge-base"))
    assert kb.title.startswith("Human Disease Ontology") and kb.publisher == "Knowledge base source"


def test_note_span_context_keeps_whole_words() -> None:
    words = [f"w{i:03d}" for i in range(60)]
    text = " ".join(words[:30]) + " fatigue " + " ".join(words[30:])
    start = text.index("fatigue")
    record = PatientRecord(patient_id="p", notes=[Note(source_id="n1", text=text)])
    span = note_span(record, "n1", start, start + len("fatigue"))
    assert span is not None and span.span == "fatigue"
    assert span.before.startswith("…") and span.after.endswith("…")
    assert set(span.before[1:].split()) <= set(words)
    assert set(span.after[:-1].split()) <= set(words)


def test_without_access_to_notes_the_view_says_so_and_quotes_no_note(smart_system: System) -> None:
    manifest = json.loads(Path("launch.json").read_text())["scopes"]["v2"]
    profiles = smart_system.app.extensions["settings"].smart_ehr_profiles
    base = f"{smart_system.ehr_url}/fhir"
    saved = profiles.get(base)
    profiles[base] = {"scopes": manifest.replace(" patient/DocumentReference.rs", "")}
    try:
        b, page = launch(smart_system, "demo-multiproblem")
    finally:
        if saved is None:
            profiles.pop(base, None)
        else:
            profiles[base] = saved
    soup = differential_list(b, smart_system, session_id_of(page))
    assert "access to notes was not granted" in soup.select_one("[role=note]").get_text()
    assert not soup.select("mark")
    assert "DocumentReference/" not in soup.get_text()


def test_each_note_is_read_once_for_the_views(smart_system: System) -> None:
    """The record view reads the notes; the views reuse them instead of reading and adding them again."""
    from smart_app.clinical_context import clinical_record

    b, page = launch(smart_system, "demo-multiproblem")
    sid = session_id_of(page)
    with smart_system.app.test_request_context():
        _view, _session, record, notes_status = clinical_record(smart_system.app, sid, b.cookie)
    ids = [n.source_id for n in record.notes if n.kind != "reason"]
    assert NOTE_ID in ids
    assert len(ids) == len(set(ids))
    assert notes_status == ""
