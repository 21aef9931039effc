"""Attack-shaped requests against every route of both servers: always a 4xx/2xx/3xx, never a 5xx.

Routes come from each app's ``url_map`` (so new routes are swept too); every path variable gets
hostile values, every method hostile bodies (broken/deep/huge JSON, binary, junk forms) and queries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from knowledge.librarian.accounts import create_user
from tests.conftest import System, start_system

DEEP = "[" * 5000 + "]" * 5000
ARG_VALUES = ["demo-warfarin", "..%2F..%2Fetc%2Fpasswd", "%00", "x" * 400, "0"]
BODIES: list[tuple[str, bytes | str]] = [
    ("application/json", "{not json"),
    ("application/json", DEEP),
    ("application/json", '{"hook": [], "context": "x", "fhirServer": "file:///etc/passwd"}'),
    ("application/json", "[1, 2, 3]"),
    ("application/fhir+json", '{"resourceType": "Patient", "id": {"$gt": ""}}'),
    ("application/octet-stream", b"\x00\xff\xfe" * 50),
    ("application/x-www-form-urlencoded", "a=%ZZ&b=" + "c" * 2000 + "&csrf_token=x"),
    ("multipart/form-data; boundary=zzz", b"--zzz\r\nContent-Disposition: form-data; name=x\r\n\r\nbroken"),
]
QUERIES = [
    "iss=javascript:alert(1)&launch=%00&next=//evil.example&_count=-1&_sort=%27",
    "q=" + "%E2%80" * 50 + "&focus=<script>&open=../../x&state=%0d%0aSet-Cookie:x",
]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    sys_ = start_system(Path(tmp_path_factory.mktemp("sweep")), {"log_level": "CRITICAL"})
    yield sys_
    sys_.app_server.stop()
    sys_.sandbox_server.stop()


def _requests(app: Flask, fixed: dict[str, str] | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    fixed = fixed or {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/static"):
            continue
        methods = sorted((rule.methods or set()) & {"GET", "POST", "PUT", "DELETE", "PATCH"})
        for value in ARG_VALUES[: 1 if not rule.arguments else len(ARG_VALUES)]:
            path = rule.rule
            for arg in rule.arguments:
                if arg in fixed:
                    path = path.replace(f"<{arg}>", fixed[arg])
                    continue
                path = path.replace(f"<{arg}>", value)
                for conv in ("string", "path", "int", "float"):
                    path = path.replace(f"<{conv}:{arg}>", "0" if conv in ("int", "float") else value)
            for method in methods:
                for query in QUERIES:
                    yield method, f"{path}?{query}", {}
                if method != "GET":
                    for ctype, body in BODIES:
                        yield method, path, {"data": body, "headers": {"Content-Type": ctype}}


def _sweep(app: Flask, base: str) -> tuple[int, list[str]]:
    failures, count = [], 0
    with requests.Session() as http:
        for method, path, kw in _requests(app):
            count += 1
            resp = http.request(method, base + path, timeout=15, allow_redirects=False, **kw)
            if resp.status_code >= 500 and resp.status_code != 503:  # 503: a dependency is absent
                failures.append(f"{method} {path[:120]} {kw.get('headers')} -> {resp.status_code}")
            assert "Traceback" not in resp.text
    return count, failures


@pytest.mark.parametrize("which", ["product", "sandbox"])
def test_no_route_answers_hostile_input_with_a_server_error(both: System, which: str) -> None:
    app, base = (both.app, both.app_url) if which == "product" else (both.sandbox, both.ehr_url)
    count, failures = _sweep(app, base)
    assert count > 50
    assert failures == []


def test_oversized_bodies_are_refused_with_413(both: System) -> None:
    big = b"{" + b" " * 2_000_000 + b"}"  # over max_request_bytes (1 MB); hook calls have their own cap
    hook_cap = both.app.extensions["settings"].cds_max_request_bytes
    huge = b"{" + b" " * hook_cap + b"}"
    for url, body in (
        (f"{both.app_url}/librarian/login", big),
        (f"{both.app_url}/cds-services/record-summary", huge),
        (f"{both.ehr_url}/auth/token", big),
    ):
        resp = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert resp.status_code == 413, url


def test_logged_in_librarian_routes_survive_hostile_input(both: System) -> None:
    """Past login and CSRF (where 500s hide): the same sweep with a valid session and token."""
    create_user(both.app.extensions["db_engine"], "sweeper", "sweep-password-1", "librarian")
    http = requests.Session()
    login = http.get(f"{both.app_url}/librarian/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token is not None
    form = {"username": "sweeper", "password": "sweep-password-1", "csrf_token": token.group(1)}
    resp = http.post(f"{both.app_url}/librarian/login", data=form, timeout=10, allow_redirects=False)
    assert resp.status_code == 302
    page = http.get(f"{both.app_url}/librarian/", timeout=10).text
    token = re.search(r'"X-CSRF-Token": ?"([^"]+)"|name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    csrf = token.group(1) or token.group(2)
    failures = []
    for method, path, kw in _requests(both.app):
        if not path.startswith("/librarian") or "logout" in path:
            continue
        headers = {**kw.pop("headers", {}), "X-CSRF-Token": csrf}
        resp = http.request(
            method, both.app_url + path, headers=headers, timeout=15, allow_redirects=False, **kw
        )
        if resp.status_code >= 500 and resp.status_code != 503:
            failures.append(f"{method} {path[:120]} {headers.get('Content-Type')} -> {resp.status_code}")
    assert failures == []


def test_open_chart_session_routes_survive_hostile_input(both: System) -> None:
    """The sandbox EHR's chart actions with a real chart session id (past the 404 for unknown ids)."""
    chart = requests.get(f"{both.ehr_url}/chart/demo-warfarin", timeout=15)
    found = re.search(r"/ehr/([^/\"]+)/", chart.text)
    assert chart.status_code == 200 and found is not None
    failures = []
    with requests.Session() as http:
        for method, path, kw in _requests(both.sandbox, {"sid": found.group(1)}):
            if not path.startswith("/ehr/"):
                continue
            resp = http.request(method, both.ehr_url + path, timeout=15, allow_redirects=False, **kw)
            if resp.status_code >= 500 and resp.status_code != 503:
                failures.append(f"{method} {path[:120]} {kw.get('headers')} -> {resp.status_code}")
    assert failures == []
