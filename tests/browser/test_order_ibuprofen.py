"""The drug-interaction service in the sandbox EHR, in a real browser (Debian chromium via Playwright).

Order ibuprofen for the warfarin patient → a card with its evidence (why this patient, the source);
accept "cancel" → the draft order disappears; order naproxen and override with a reason → the
product stores the feedback.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cds_services.models_db import CdsFeedback
from evidence_cds import db
from evidence_cds.app import create_app
from evidence_cds.db import session_scope
from sandbox.app import create_sandbox_app
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.browser


def _feedback(app: Any) -> list[CdsFeedback]:
    with session_scope(app) as session:
        rows = list(session.scalars(select(CdsFeedback)))
        session.expunge_all()
        return rows


def _start(tmp: Path) -> tuple[Any, LiveServer, LiveServer]:
    """Product (drug-interaction services only) trusting the sandbox's CDS client, and the sandbox."""
    product, ehr = LiveServer(), LiveServer()
    jwks = f"{ehr.url}/cds-client/jwks.json"
    app = create_app({
        "instance_path": tmp / "instance", "testing": True, "secret_key": "test-secret",
        "public_base_url": product.url, "ehr_origins": [ehr.url],
        "smart_allowed_issuers": [f"{ehr.url}/fhir"],
        "cds_trusted_clients": [{"iss": ehr.url, "jwks_url": jwks, "jku_allowlist": [jwks]}],
        "cds_service_modules": ["cds_services.services.drug_interactions"],
    })  # fmt: skip
    db.upgrade(app.extensions["settings"].resolved_database_url())
    sandbox = create_sandbox_app({
        "base_url": ehr.url, "app_base_url": product.url, "state_dir": tmp / "sandbox",
        "testing": True, "secret_key": "sandbox-test-secret",
    })  # fmt: skip
    product.start(app)
    ehr.start(sandbox)
    return app, product, ehr


def test_order_ibuprofen_for_warfarin_patient(page: Any, tmp_path: Path) -> None:
    app, product, ehr = _start(tmp_path)
    try:
        page.goto(f"{ehr.url}/")
        page.click('tr[data-patient-id="demo-warfarin"] a.patient-link')
        page.wait_for_url(f"{ehr.url}/chart/demo-warfarin*")
        page.wait_for_selector('#cds-panel[data-hook="patient-view"]')

        page.select_option("#order-code", "310965")  # ibuprofen 200 MG Oral Tablet
        card = page.locator(".cds-card", has_text="Ibuprofen + warfarin")
        card.wait_for()
        assert card.get_attribute("data-indicator") == "critical"
        text = card.inner_text()
        assert "Why this patient" in text and "not taking a proton pump inhibitor" in text
        assert "INR" in text and "2.8" in text  # the patient's latest INR, with its date
        assert card.locator(".cds-source a").get_attribute("href", timeout=2000).startswith("https://")
        assert page.locator(".draft-order").count() == 1

        card.locator("button.cds-suggestion", has_text="Cancel the").click()
        page.wait_for_selector(".draft-order", state="detached")
        assert page.locator(".cds-card", has_text="Ibuprofen + warfarin").count() == 0

        page.select_option("#order-code", "198014")  # naproxen 500 MG Oral Tablet
        card = page.locator(".cds-card", has_text="Naproxen + warfarin")
        card.wait_for()
        card.locator("select.cds-override-reason").select_option("benefit-outweighs-risk")
        card.locator("button.cds-dismiss-button").click()
        card.wait_for(state="detached")
        assert page.locator(".draft-order").count() == 1  # overriding keeps the order

        deadline = time.monotonic() + 5
        while not [f for f in _feedback(app) if f.outcome == "overridden"]:
            assert time.monotonic() < deadline, "override feedback not stored"
            time.sleep(0.1)
        stored = {f.outcome for f in _feedback(app) if f.service_id.startswith("drug-interactions")}
        assert stored == {"accepted", "overridden"}
        assert not [p for p in page.problems if "page error" in p], page.problems
    finally:
        product.stop()
        ehr.stop()
