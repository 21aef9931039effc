"""SMART app hardening: card links only as http(s) hrefs, EHR style values that cannot fetch, CSP."""

from __future__ import annotations

import pytest
import requests

from smart_app.citations import Citation
from smart_app.views import _safe_css
from tests.conftest import System


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://www.nice.org.uk/guidance/ng136", True),
        ("HTTP://example.org/x", True),
        ("javascript:alert(document.cookie)", False),
        (" javascript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//evil.example/x", False),
        ("https://ok.example/\nx", False),
    ],
)
def test_citation_links_are_http_only(url: str, kept: bool) -> None:
    assert (Citation(title="t", url=url).url == url) is kept


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("#1a2b3c", True),
        ("rgb(10, 20, 30)", True),
        ("Helvetica, Arial, sans-serif", True),
        ("url(https://evil.example/track)", False),
        ("red; background: red", False),
        ("@import 'x'", False),
        ("expression(alert(1))", False),
    ],
)
def test_ehr_style_values_cannot_fetch_or_inject(value: str, safe: bool) -> None:
    assert _safe_css(value) is safe


def test_app_pages_have_a_script_src_self_csp(system: System) -> None:
    resp = requests.get(f"{system.app_url}/app/standalone", timeout=10)
    csp = resp.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"][:2] == ["'self'", system.ehr_url]
    assert "<script>" not in resp.text  # no inline script: CSP would block it
