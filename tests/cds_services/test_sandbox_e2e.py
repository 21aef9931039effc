"""End to end with the real sandbox EHR: its CDS client signs with its own key (default trust derived
from ``ehr_origins``), calls our services over HTTP and shows the cards; feedback comes back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from cds_services.models_db import CdsFeedback
from evidence_cds.db import session_scope
from tests.cds_services.conftest import wait_for_audit
from tests.conftest import System, start_system


@pytest.fixture
def record_summary_system(tmp_path: Path) -> Iterator[System]:
    sys_ = start_system(
        tmp_path, app_overrides={"cds_service_modules": ["cds_services.services.record_summary"]}
    )
    yield sys_
    sys_.app_server.stop()
    sys_.sandbox_server.stop()


def test_sandbox_chart_shows_our_patient_view_card(record_summary_system: System) -> None:
    s = record_summary_system
    http = requests.Session()
    chart = http.get(f"{s.ehr_url}/chart/demo-warfarin", timeout=10)
    assert chart.status_code == 200
    sid = re.search(r"/ehr/([^/\"']+)/hooks/patient-view", chart.text)
    assert sid, "the chart page fires patient-view"
    panel = http.post(
        f"{s.ehr_url}/ehr/{sid.group(1)}/hooks/patient-view", headers={"HX-Request": "true"}, timeout=20
    )
    assert panel.status_code == 200
    # demo-warfarin takes lisinopril with no potassium on record: our monitoring card is shown.
    assert "no potassium in the last 12 months" in panel.text
    (row,) = wait_for_audit(s.app, 1)
    assert (row.outcome, row.client_iss, row.card_count) == ("ok", s.ehr_url, 1)
    assert row.notes.get("fetched") in (None, []), "the sandbox prefetched everything we asked for"
    # Dismissing the card makes the sandbox post §Feedback, linked to the card we issued.
    dismiss = re.search(r"/ehr/[^\"']+/cards/([^/\"']+)/dismiss", panel.text)
    assert dismiss is not None
    http.post(
        f"{s.ehr_url}{dismiss.group(0)}", data={"reason": ""}, headers={"HX-Request": "true"}, timeout=10
    )
    with session_scope(s.app) as db:
        fb = db.scalars(sa.select(CdsFeedback)).all()
        assert [(f.card_uuid, f.outcome, f.known_card) for f in fb] == [
            (dismiss.group(1), "overridden", True)
        ]
