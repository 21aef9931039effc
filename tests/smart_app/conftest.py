"""Fixtures for the SMART app tests: a small "browser" over real HTTP that launches the app from the
sandbox EHR exactly as the chart iframe does, and the browser fixtures of ``tests/browser``.

The app's cookie is ``Secure`` (browsers treat loopback http as a secure context); ``requests`` only
returns Secure cookies over https, so :class:`AppBrowser` carries it by hand, as a browser would.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests
from bs4 import BeautifulSoup

from cds_services.state import warm_up
from smart_app.web import COOKIE_NAME, smart_state
from tests.browser.conftest import browser, browser_context, page, playwright_instance  # noqa: F401
from tests.conftest import System, start_system

META_REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')
IFRAME_SRC = re.compile(r'<iframe[^>]*id="app-frame"[^>]*src="([^"]+)"')


@dataclass
class AppBrowser:
    """A cookie-carrying HTTP client that follows redirects one hop at a time (each hop is recorded)."""

    system: System
    http: requests.Session = field(default_factory=requests.Session)
    cookie: str | None = None
    hops: list[requests.Response] = field(default_factory=list)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.cookie and url.startswith(self.system.app_url):
            headers["Cookie"] = f"{COOKIE_NAME}={self.cookie}"
        resp = self.http.get(url, headers=headers, allow_redirects=False, timeout=20, **kwargs)
        self.hops.append(resp)
        set_cookie = resp.headers.get("Set-Cookie", "")
        m = re.search(rf"{COOKIE_NAME}=([^;]+)", set_cookie)
        if m and url.startswith(self.system.app_url):
            self.cookie = m.group(1)
        return resp

    def follow(self, url: str, stop: Any = None, max_hops: int = 10) -> requests.Response:
        """GET and follow redirects; ``stop(url)`` → True stops before requesting that URL."""
        resp = self.get(url)
        for _ in range(max_hops):
            refresh = META_REFRESH.search(resp.text) if resp.status_code == 200 else None
            if resp.status_code not in (301, 302, 303, 307) and refresh is None:
                return resp
            target = refresh.group(1) if refresh else resp.headers["Location"]
            nxt = urljoin(resp.url, html.unescape(target))
            if stop is not None and stop(nxt):
                return resp
            resp = self.get(nxt)
        raise AssertionError("too many redirects")


def chart_launch_url(system: System, patient_id: str, flavour: str = "generic") -> str:
    """Open the patient's chart in the sandbox EHR and return the iframe's launch URL."""
    resp = requests.get(f"{system.ehr_url}/chart/{patient_id}", params={"flavour": flavour}, timeout=20)
    assert resp.status_code == 200, resp.text[:300]
    m = IFRAME_SRC.search(resp.text)
    assert m, "chart page has no app iframe"
    return html.unescape(m.group(1))


def launch(system: System, patient_id: str, flavour: str = "generic") -> tuple[AppBrowser, requests.Response]:
    """EHR launch end to end over HTTP; returns the browser and the app page response."""
    b = AppBrowser(system)
    page_resp = b.follow(chart_launch_url(system, patient_id, flavour))
    return b, page_resp


def launch_with_context(
    system: System, patient_id: str, app_context: object
) -> tuple[AppBrowser, requests.Response]:
    """A launch as the EHR makes it for a card's SMART link: the launch context carries ``appContext``."""
    ctx = system.sandbox.extensions["sandbox_launches"].create(
        patient_id, None, "demo-practitioner", "generic", app_context=json.dumps(app_context)
    )
    b = AppBrowser(system)
    query = urlencode({"iss": f"{system.ehr_url}/fhir", "launch": ctx.launch_id})
    return b, b.follow(f"{system.app_url}/app/launch?{query}")


def view_list(b: AppBrowser, system: System, sid: str, view: str, **params: str) -> BeautifulSoup:
    """The htmx partial of ``view`` (``differentials`` or ``trials``) for session ``sid``, parsed."""
    query = f"?{urlencode(params)}" if params else ""
    resp = b.get(f"{system.app_url}/app/s/{sid}/{view}/list{query}", headers={"HX-Request": "true"})
    assert resp.status_code == 200, resp.text[:300]
    return BeautifulSoup(resp.text, "html.parser")


def session_id_of(resp: requests.Response) -> str:
    m = re.search(r"/app/s/([A-Za-z0-9_\-]+)/", resp.url)
    assert m, f"not an app session page: {resp.url}"
    return m.group(1)


def text_of(page_html: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def session_tokens(system: System, sid: str) -> tuple[str, str | None]:
    session = smart_state(system.app).store.get_session(sid)
    assert session is not None
    return session.access_token, session.refresh_token


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="module")
def smart_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One product + sandbox pair shared by a test module (launches are independent of each other).

    The services are warmed up first, as gunicorn's ``post_worker_init`` does, so a cold knowledge
    base does not push a hook call past the EHR's CDS timeout on a busy machine.
    """
    s = start_system(tmp_path_factory.mktemp("smart"))
    warm_up(s.app)
    yield s
    s.app_server.stop()
    s.sandbox_server.stop()


@pytest.fixture
def make_system(tmp_path: Path) -> Iterator[Any]:
    """``make_system(app_overrides, sandbox_overrides)`` → a started System (stopped after the test)."""
    started: list[System] = []

    def _make(app: dict[str, Any] | None = None, sandbox: dict[str, Any] | None = None) -> System:
        s = start_system(tmp_path / f"sys{len(started)}", app, sandbox)
        started.append(s)
        return s

    yield _make
    for s in started:
        s.app_server.stop()
        s.sandbox_server.stop()
