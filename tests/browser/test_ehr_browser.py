"""The sandbox EHR in a real browser (Debian chromium via Playwright).

1. Against the real product: open the EHR, open a chart, and check the app iframe navigated to the
   product's origin (the EHR launch) and rendered a document, while the CDS panel settles whatever the
   product's services answer.
2. Against the recording stand-in CDS service: drive order entry (order-select), see the card, apply
   its delete suggestion and dismiss another card with an override reason; feedback reaches the service.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import start_system
from tests.sandbox.ehr_support import PATIENT_ID, RecordingCdsService, start_ehr, write_test_patients

pytestmark = pytest.mark.browser


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_chart_page_loads_the_product_in_a_cross_origin_iframe(page: Any, tmp_path: Path) -> None:
    system = start_system(
        tmp_path, sandbox_overrides={"patients": write_test_patients(tmp_path / "patients")}
    )
    try:
        page.goto(f"{system.ehr_url}/")
        page.click(f'tr[data-patient-id="{PATIENT_ID}"] a.patient-link')
        page.wait_for_url(f"{system.ehr_url}/chart/{PATIENT_ID}*")
        assert page.locator("#patient-banner").inner_text().startswith("Walter Testerson")
        frame = page.frame(name="app-frame")
        assert frame is not None
        _wait_for(lambda: frame.url.startswith(system.app_url), timeout_s=10)
        frame.wait_for_load_state("load")
        assert _origin(frame.url) == _origin(system.app_url) != _origin(system.ehr_url)
        assert urlsplit(frame.url).path.startswith("/app/")
        assert frame.locator("body").count() == 1
        # patient-view fired on open and the panel settled (cards, a note, or a clear message).
        page.wait_for_selector('#cds-panel[data-hook="patient-view"]')
    finally:
        system.app_server.stop()
        system.sandbox_server.stop()


def test_order_entry_fires_hooks_shows_cards_and_applies_suggestions(page: Any, tmp_path: Path) -> None:
    ehr = start_ehr(tmp_path)
    cds: RecordingCdsService = ehr.cds
    try:
        page.goto(f"{ehr.url}/")
        row = page.locator(f'tr[data-patient-id="{PATIENT_ID}"]')
        row.locator("select").select_option("epic")
        row.locator("button", has_text="Open chart").click()
        page.wait_for_selector(".cds-card >> text=Record summary from the test service")
        assert "flavour: epic" in page.locator("#patient-banner").inner_text()

        # order-select on picking a medication
        page.select_option("#order-code", "310965")
        card = page.locator(".cds-card", has_text="Interaction check: ibuprofen 200 MG Oral Tablet")
        card.wait_for()
        assert card.get_attribute("data-indicator") == "warning"
        assert page.locator(".draft-order").count() == 1
        assert len(cds.of_hook("order-select")) == 1

        # the delete suggestion really removes the draft, and feedback reaches the service
        card.locator("button", has_text="Cancel this order").click()
        page.wait_for_selector(".draft-order", state="detached")
        assert page.locator(".cds-card", has_text="Interaction check").count() == 0
        _wait_for(lambda: len(cds.feedback) == 1)
        assert cds.feedback[0].body["feedback"][0]["outcome"] == "accepted"

        # dismiss with an override reason
        page.select_option("#order-code", "198014")
        card = page.locator(".cds-card", has_text="Interaction check: naproxen")
        card.wait_for()
        card.locator("select.cds-override-reason").select_option("benefit-outweighs-risk")
        card.locator("button.cds-dismiss-button").click()
        card.wait_for(state="detached")
        assert page.locator(".draft-order").count() == 1  # overriding keeps the order
        _wait_for(lambda: len(cds.feedback) == 2)
        item = cds.feedback[1].body["feedback"][0]
        assert item["outcome"] == "overridden"
        assert item["overrideReason"]["reason"]["code"] == "benefit-outweighs-risk"

        # order-sign: the card holds signing until confirmed
        page.click("#sign-orders")
        page.wait_for_selector(".cds-card[data-indicator='critical']")
        page.click("#sign-anyway")
        page.wait_for_selector("#signed-orders")
        assert page.locator(".draft-order").count() == 0
        assert not [p for p in page.problems if "htmx" in p or "page error" in p], page.problems

        # an action on an expired chart session tells the user instead of failing silently
        page.evaluate(
            "htmx.ajax('POST', '/ehr/00000000000000000000000000000000/hooks/patient-view', '#cds-update')"
        )
        page.wait_for_selector("#ehr-error:has-text('HTTP 404')")
    finally:
        ehr.stop()
