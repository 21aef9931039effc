"""SMART EHR and standalone launch over real HTTP: the sandbox EHR + authorization server + FHIR API
on one loopback port, the product on another, exactly as in ``make run``."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from smart_app.web import smart_state
from tests.conftest import System
from tests.smart_app.conftest import (
    AppBrowser,
    chart_launch_url,
    launch,
    session_id_of,
    session_tokens,
    text_of,
)
from tests.smart_app.expected import expected


@pytest.fixture
def system(smart_system: System) -> System:
    """These tests share one running system per module (each launch is independent)."""
    return smart_system


@pytest.mark.parametrize("flavour", ["generic", "epic", "cerner"])
def test_ehr_launch_shows_the_launched_patient(system: System, flavour: str) -> None:
    b, resp = launch(system, "demo-warfarin", flavour)
    assert resp.status_code == 200, text_of(resp.text)[:400]
    page = text_of(resp.text)
    want = expected("demo-warfarin")
    assert want.name in page
    for med in want.medications:
        assert med in page
    for problem in want.problems:
        assert problem in page
    # no other demo patient leaks in
    assert expected("demo-digoxin").name not in page
    # embedded in the chart: the EHR's banner is enough (need_patient_banner false, "false" for epic)
    assert 'class="patient-banner"' not in resp.text
    assert "--smart-color-background" in resp.text  # smart_style_url applied
    authorize = next(h for h in b.hops if "/auth/authorize" in h.url)
    query = parse_qs(urlsplit(authorize.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["aud"] == [system.fhir_base]
    assert "nonce" in query and "state" in query
    if flavour == "cerner":  # v2 refused by the EHR → the app retried once with v1 scopes
        asked = [parse_qs(urlsplit(h.url).query)["scope"][0] for h in b.hops if "/auth/authorize" in h.url]
        assert "patient/Observation.rs" in asked[0] and "patient/Observation.read" in asked[-1]


def test_cookie_holds_only_an_opaque_browser_id_with_iframe_attributes(system: System) -> None:
    b, resp = launch(system, "demo-warfarin")
    set_cookie = next(
        h.headers["Set-Cookie"] for h in b.hops if "Set-Cookie" in h.headers and "/app/" in h.url
    )
    attrs = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")}
    assert {"httponly", "secure", "partitioned"} <= attrs
    assert "samesite=none" in set_cookie.lower()
    access, refresh = session_tokens(system, session_id_of(resp))
    assert access not in set_cookie and (refresh is None or refresh not in set_cookie)
    csp = resp.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {system.ehr_url}" in csp
    assert resp.headers["Cache-Control"] == "no-store"


def test_token_never_in_html_url_logs_or_cookie(system: System, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    b, resp = launch(system, "demo-warfarin", "epic")
    sid = session_id_of(resp)
    evidence = b.get(f"{system.app_url}/app/s/{sid}/evidence")
    search = b.get(f"{system.app_url}/app/s/{sid}/search", params={"q": "warfarin bleeding"})
    access, refresh = session_tokens(system, sid)
    secrets_ = [access] + ([refresh] if refresh else [])
    app_hops = [h for h in [*b.hops, evidence, search] if h.url.startswith(system.app_url)]
    for hop in app_hops:
        for secret in secrets_:
            assert secret not in hop.url
            assert secret not in hop.text
            assert secret not in hop.headers.get("Location", "")
            assert secret not in hop.headers.get("Set-Cookie", "")
    # The sandbox EHR runs in this process too; its authorization server (authlib's grant code, at
    # DEBUG) logs what it issues. Only the product's side is under test here.
    ehr_port = f":{system.sandbox_server.port}"
    ours = [
        r.getMessage()
        for r in caplog.records
        if not r.name.startswith(
            ("sandbox", "authlib.oauth2.rfc6749.grants", "authlib.oauth2.rfc6749.authorization_server")
        )
        and not (r.name == "werkzeug" and ehr_port in r.getMessage())
    ]
    for secret in secrets_:
        leaked = [line for line in ours if secret in line]
        assert not leaked, leaked[0][:200]
    assert "demo-warfarin" not in "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("smart_app")
    )


def test_forged_state_is_refused(system: System) -> None:
    b = AppBrowser(system)
    # a real launch puts a browser cookie in place; then a callback with a made-up state arrives
    b.follow(chart_launch_url(system, "demo-warfarin"), stop=lambda u: "/auth/authorize" in u)
    resp = b.get(f"{system.app_url}/app/callback", params={"code": "forged", "state": "not-a-real-state"})
    assert resp.status_code == 400
    assert "no longer valid" in text_of(resp.text)


def test_replayed_state_is_refused(system: System) -> None:
    b = AppBrowser(system)
    resp = b.follow(chart_launch_url(system, "demo-warfarin"), stop=lambda u: "/app/callback" in u)
    callback = resp.headers["Location"]
    first = b.get(callback)
    assert first.status_code == 200 and "Opening the patient" in first.text
    second = b.get(callback)
    assert second.status_code == 400


def test_state_from_another_browser_is_refused(system: System) -> None:
    victim = AppBrowser(system)
    resp = victim.follow(chart_launch_url(system, "demo-warfarin"), stop=lambda u: "/app/callback" in u)
    attacker = AppBrowser(system)
    attacker.cookie = "x" * 43  # a browser id of its own
    stolen = attacker.get(resp.headers["Location"])
    assert stolen.status_code == 400
    # and the legitimate browser can no longer use it either (state is single-use)
    assert victim.get(resp.headers["Location"]).status_code == 400


def test_issuer_off_the_allowlist_is_refused(system: System) -> None:
    b = AppBrowser(system)
    resp = b.get(f"{system.app_url}/app/launch", params={"iss": "https://evil.example/fhir", "launch": "x"})
    assert resp.status_code == 403
    assert "not registered" in text_of(resp.text)
    assert "Location" not in resp.headers


@pytest.mark.parametrize("params", [{}, {"iss": "http://127.0.0.1:1/fhir"}, {"launch": "abc"}])
def test_missing_launch_parameters_get_a_human_page(system: System, params: dict[str, str]) -> None:
    resp = AppBrowser(system).get(f"{system.app_url}/app/launch", params=params)
    assert resp.status_code == 400
    assert "Launch information is missing" in text_of(resp.text)


def test_pkce_verifier_is_checked_by_the_ehr(system: System) -> None:
    b = AppBrowser(system)
    resp = b.follow(chart_launch_url(system, "demo-warfarin"), stop=lambda u: "/app/callback" in u)
    callback = resp.headers["Location"]
    state = parse_qs(urlsplit(callback).query)["state"][0]
    store = smart_state(system.app).store
    pending = store.take_pending(state)
    assert pending is not None
    tampered = pending.model_copy(update={"code_verifier": pending.code_verifier[::-1]})
    store.put_pending(state, tampered, 60)
    failed = b.get(callback)
    assert failed.status_code == 502
    assert "Sign-in could not be completed" in text_of(failed.text)


def test_a_session_opens_only_in_the_browser_that_launched_it(system: System) -> None:
    _, resp = launch(system, "demo-warfarin")
    other = AppBrowser(system)
    other.cookie = "y" * 43
    assert other.get(resp.url).status_code == 403
    assert AppBrowser(system).get(resp.url).status_code == 403
    assert AppBrowser(system).get(f"{system.app_url}/app/s/unknown-session-id/").status_code == 401


def test_concurrent_launches_in_one_browser_stay_apart(system: System) -> None:
    """Two tabs of one browser (one cookie), two patients: each per-launch URL shows its own patient."""
    b, first = launch(system, "demo-warfarin")
    second = b.follow(chart_launch_url(system, "demo-digoxin"))
    assert first.url != second.url
    again_first = text_of(b.get(first.url).text)
    again_second = text_of(b.get(second.url).text)
    assert expected("demo-warfarin").name in again_first
    assert expected("demo-digoxin").name not in again_first
    assert expected("demo-digoxin").name in again_second
    assert expected("demo-warfarin").name not in again_second


def test_standalone_launch_with_patient_picker(system: System) -> None:
    b = AppBrowser(system)
    form = b.get(f"{system.app_url}/app/standalone")
    assert form.status_code == 200 and system.fhir_base in form.text
    resp = b.follow(f"{system.app_url}/app/standalone?iss={system.fhir_base}")
    assert resp.status_code == 200 and "/auth/authorize" in resp.url  # the EHR's sign-in page
    scope = parse_qs(urlsplit(resp.url).query)["scope"][0].split()
    assert "launch/patient" in scope and "launch" not in scope
    csrf = re.search(r'name="csrf" value="([^"]+)"', resp.text)
    assert csrf
    picked = b.http.post(
        resp.url,
        data={"csrf": csrf.group(1), "patient": "demo-digoxin", "flavour": "generic", "decision": "approve"},
        allow_redirects=False,
        timeout=20,
    )
    assert picked.status_code == 302
    page = b.follow(picked.headers["Location"])
    assert page.status_code == 200
    text = text_of(page.text)
    want = expected("demo-digoxin")
    assert want.name in text
    assert all(m in text for m in want.medications)
    assert 'class="patient-banner"' in page.text  # standalone: the app shows its own banner


def test_app_jwks_publishes_only_public_keys(system: System) -> None:
    jwks = requests.get(f"{system.app_url}/app/.well-known/jwks.json", timeout=10).json()
    assert jwks["keys"] and all("d" not in k and k["kty"] == "RSA" for k in jwks["keys"])
