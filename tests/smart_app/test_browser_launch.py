"""The app in a real browser (Debian chromium via Playwright): launched from the sandbox EHR's chart into
its cross-origin iframe for each vendor flavour, standalone, and two patients in two browser contexts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import System
from tests.smart_app.expected import expected

pytestmark = pytest.mark.browser


@pytest.fixture
def system(smart_system: System) -> System:
    return smart_system


def _app_frame(page: Any, system: System, patient_id: str, flavour: str) -> Any:
    page.goto(f"{system.ehr_url}/chart/{patient_id}?flavour={flavour}")
    return page.frame_locator("#app-frame")


def _assert_shows(frame: Any, patient_id: str) -> None:
    want = expected(patient_id)
    expect(frame.locator("#patient-name")).to_contain_text(want.name)
    meds = frame.locator("#panel-medications")
    for med in want.medications:
        expect(meds).to_contain_text(med)
    problems = frame.locator("#panel-problems")
    for problem in want.problems:
        expect(problems).to_contain_text(problem)


def _failed_responses(page: Any) -> list[str]:
    """Every 4xx/5xx the page (and its app iframe) received, except the browser's favicon probe."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return failed


@pytest.mark.parametrize("flavour", ["generic", "epic", "cerner"])
def test_ehr_launch_in_the_chart_iframe(page: Any, system: System, flavour: str) -> None:
    failed = _failed_responses(page)
    frame = _app_frame(page, system, "demo-warfarin", flavour)
    _assert_shows(frame, "demo-warfarin")
    # the Evidence panel replaces its loading state with our services' cards (or an explicit "none")
    evidence = frame.locator("#evidence-cards")
    expect(evidence.locator(".loading")).to_have_count(0, timeout=15_000)
    expect(evidence).not_to_be_empty()
    assert not [f for f in failed if "favicon" not in f], failed
    csp = [p for p in page.problems if "Content Security Policy" in p]
    assert not csp, csp


def test_standalone_launch_picks_a_patient(page: Any, system: System) -> None:
    page.goto(f"{system.app_url}/app/standalone")
    page.get_by_label("FHIR server").fill(system.fhir_base)
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=patient][value=demo-digoxin]").check()
    page.get_by_role("button", name="Sign in and allow").click()
    expect(page).to_have_url(re.compile(r"/app/s/[^/]+/$"))
    _assert_shows(page, "demo-digoxin")


def test_second_browser_context_sees_only_its_patient(browser: Any, page: Any, system: System) -> None:
    first = _app_frame(page, system, "demo-warfarin", "generic")
    _assert_shows(first, "demo-warfarin")
    other_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = other_context.new_page()
        second = _app_frame(other, system, "demo-digoxin", "epic")
        _assert_shows(second, "demo-digoxin")
        expect(second.locator("main")).not_to_contain_text(expected("demo-warfarin").name)
        page.reload()
        frame = page.frame_locator("#app-frame")
        _assert_shows(frame, "demo-warfarin")
        expect(frame.locator("main")).not_to_contain_text(expected("demo-digoxin").name)
    finally:
        other_context.close()


def _launched_app_url(page: Any, system: System, patient_id: str) -> str:
    page.goto(f"{system.ehr_url}/chart/{patient_id}?flavour=generic")
    frame = page.frame(name="app-frame")
    expect(page.frame_locator("#app-frame").locator("#patient-name")).to_be_attached()
    assert frame is not None
    return str(frame.url)


@pytest.mark.parametrize("viewport", [{"width": 1024, "height": 768}, {"width": 512, "height": 384}])
def test_fits_the_iframe_and_200_percent_zoom(page: Any, system: System, viewport: dict[str, int]) -> None:
    """512×384 CSS pixels is what a 1024×768 frame offers at 200 % zoom."""
    url = _launched_app_url(page, system, "demo-multiproblem")
    page.set_viewport_size(viewport)
    page.goto(url)
    expect(page.locator("#panel-labs")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1


def test_keyboard_search_and_card_expansion(page: Any, system: System) -> None:
    """Keyboard only: type a guideline query (debounced htmx search), then open a card's evidence.
    demo-digoxin takes digoxin with cyclosporine, so the medication review yields a card."""
    url = _launched_app_url(page, system, "demo-digoxin")
    page.goto(url)
    search = page.get_by_role("searchbox", name="Search the guideline library")
    search.focus()
    page.keyboard.type("digoxin toxicity")
    expect(page.locator("#search-results")).to_contain_text("digoxin toxicity", timeout=10_000)
    expect(page.locator("#evidence-cards .loading")).to_have_count(0, timeout=15_000)
    card = page.locator("#evidence-cards details").first
    expect(card).to_be_visible()
    card.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(card).to_have_attribute("open", "")
    expect(card.locator(".citations li").first).to_be_visible()


def test_smart_link_of_a_card_lands_on_that_cards_evidence(page: Any, system: System) -> None:
    """Order an NSAID for the warfarin patient in the EHR; the interaction card's SMART link opens the
    app in the chart's frame with ``appContext``; the app shows that interaction's card, expanded."""
    page.goto(f"{system.ehr_url}/chart/demo-warfarin?flavour=generic")
    ibuprofen = page.locator("#order-code option", has_text="ibuprofen").first.get_attribute("value")
    page.select_option("#order-code", ibuprofen)
    link = page.get_by_role("link", name="Open the interaction evidence").first
    expect(link).to_be_visible(timeout=15_000)
    link.click()
    frame = page.frame_locator("#app-frame")
    opened = frame.locator("#evidence-cards details[open][data-service^='drug-interactions']")
    expect(opened.first).to_be_visible(timeout=20_000)
    expect(opened.first.locator(".card-summary")).to_contain_text("ibuprofen", ignore_case=True)
    expect(opened.first.locator(".citations li").first).to_be_visible()
