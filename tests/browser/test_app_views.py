"""The differential and trial views in a real browser: opened from the CDS cards' SMART links in the
sandbox EHR chart (``appContext`` lands on the view with the named entries expanded), by keyboard,
through the app's navigation, inside a 1024×768 frame and at 200 % zoom."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from cds_services.state import warm_up
from tests.conftest import System, start_system

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def views_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Product + sandbox, services warmed up (as gunicorn does) so the cards appear at chart open."""
    s = start_system(tmp_path_factory.mktemp("views"))
    warm_up(s.app)
    yield s
    s.app_server.stop()
    s.sandbox_server.stop()


def _open_card_link(page: Any, system: System, patient_id: str, label: str) -> Any:
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{system.ehr_url}/chart/{patient_id}?flavour=generic")
    link = page.get_by_role("link", name=label).first
    expect(link).to_be_visible(timeout=20_000)
    link.click()
    return page.frame_locator("#app-frame")


def _no_horizontal_overflow(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1


def test_differential_card_opens_the_view_with_its_diagnoses(page: Any, views_system: System) -> None:
    frame = _open_card_link(page, views_system, "demo-multiproblem", "Open the full differential")
    expect(frame.get_by_role("heading", name="Differential to consider")).to_be_visible(timeout=20_000)
    opened = frame.locator("details.ddx-item[open]")
    expect(opened.first).to_be_visible(timeout=20_000)
    first = opened.first
    expect(first.locator(".ddx-name")).to_contain_text("Consider ")
    expect(first.locator("li.finding").first).to_be_visible()
    expect(first.locator(".citations li.citation").first).to_be_visible()
    # a note finding shows the note's own words, highlighted
    expect(frame.locator("details.ddx-item[open] .note-quote mark").first).to_be_visible()
    # keyboard: a collapsed diagnosis opens with Enter on its summary
    closed_id = frame.locator("details.ddx-item:not([open])").first.get_attribute("id")
    closed = frame.locator(f"details#{closed_id}")
    closed.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(closed).to_have_attribute("open", "")
    app = page.frame(name="app-frame")
    assert app is not None
    differentials_url = app.url
    # navigation inside the session: the trial view, then back to the record
    frame.get_by_role("link", name="Trials").click()
    expect(frame.locator("#trial-list .loading")).to_have_count(0, timeout=20_000)
    expect(frame.locator("details.trial").first).to_be_visible()
    frame.get_by_role("link", name="Record & evidence").click()
    expect(frame.locator("#panel-labs")).to_be_visible()
    assert not [p for p in page.problems if "Content Security Policy" in p]
    page.set_viewport_size({"width": 512, "height": 384})  # a 1024×768 frame at 200 % zoom
    page.goto(differentials_url)
    expect(page.locator("details.ddx-item").first).to_be_visible(timeout=20_000)
    _no_horizontal_overflow(page)


@pytest.mark.parametrize("viewport", [{"width": 1024, "height": 768}, {"width": 512, "height": 384}])
def test_trial_card_opens_the_view_with_the_demo_trial(
    page: Any, views_system: System, viewport: dict[str, int]
) -> None:
    """512×384 CSS pixels is what a 1024×768 frame offers at 200 % zoom."""
    frame = _open_card_link(page, views_system, "demo-trial", "Review trial eligibility")
    trial = frame.locator("details#trial-DEMO-T2DM-001")
    expect(trial).to_have_attribute("open", "", timeout=20_000)
    expect(trial.locator(".flag-demo")).to_have_text("demo trial")
    inclusion = trial.get_by_role("table", name="Inclusion criteria")
    expect(inclusion).to_be_visible()
    expect(inclusion.get_by_role("row", name="HbA1c", exact=False)).to_contain_text("met")
    app = page.frame(name="app-frame")
    assert app is not None and "/trials" in app.url
    page.set_viewport_size(viewport)
    page.goto(app.url)  # the view itself, at the frame's size
    expect(page.locator("details#trial-DEMO-T2DM-001 table.criteria").first).to_be_visible(timeout=20_000)
    _no_horizontal_overflow(page)
