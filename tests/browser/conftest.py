"""Browser fixtures shared by every UI test: one Debian chromium per test session, a fresh context per test.

* ``browser`` (session scope): Playwright driving ``/usr/bin/chromium`` (``EVIDENCE_CDS_CHROMIUM``
  overrides the path); never downloads a browser. Skips, with the reason, when chromium is absent.
* ``browser_context`` / ``page`` (function scope): an isolated context (own cookies and storage) with
  short default timeouts, so a broken page fails in seconds rather than hanging the suite. Console
  errors and failed requests are collected on ``page.problems`` for assertions and failure messages.

Mark UI tests ``@pytest.mark.browser``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("EVIDENCE_CDS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 10_000


# Other packages' conftests import these fixtures (tests/knowledge, tests/smart_app); pytest then holds
# one session fixture per conftest, and a second sync Playwright in the same thread fails. So the
# Playwright driver and the browser are shared per process, reference-counted across those fixtures.
_shared: dict[str, Any] = {"users": 0}


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (make test installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    if _shared["users"] == 0:
        _shared["pw"] = sync_api.sync_playwright().start()
    _shared["users"] += 1
    yield _shared["pw"]
    _shared["users"] -= 1
    if _shared["users"] == 0:
        _shared.pop("pw").stop()


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    if "browser" not in _shared:
        _shared["browser"] = playwright_instance.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        _shared["browser_users"] = 0
    _shared["browser_users"] += 1
    yield _shared["browser"]
    _shared["browser_users"] -= 1
    if _shared["browser_users"] == 0:
        _shared.pop("browser").close()


@pytest.fixture
def browser_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, ignore_https_errors=False)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(browser_context: Any) -> Any:
    page = browser_context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} {req.failure}"))
    page.problems = problems
    return page
