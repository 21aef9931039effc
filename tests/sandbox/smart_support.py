"""Fixtures and a small SMART client for driving the sandbox's authorization server and FHIR API.

Everything goes over loopback HTTP with ``requests``, as the product (or any SMART app) would.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from flask import Flask

from sandbox.app import create_sandbox_app
from tests.support.live_server import LiveServer

APP_BASE = "http://127.0.0.1:1"  # the product's (unused) origin: redirects are inspected, never followed
REDIRECT_URI = f"{APP_BASE}/app/callback"
CONFIDENTIAL_SECRET = "confidential-test-secret"
V2_SCOPES = (
    "patient/Patient.rs patient/Condition.rs patient/MedicationRequest.rs patient/Medication.rs "
    "patient/AllergyIntolerance.rs patient/Observation.rs patient/Encounter.rs patient/DocumentReference.rs"
)
V1_SCOPES = V2_SCOPES.replace(".rs", ".read")
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)">')


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class SmartClient:
    """A SMART app's side of the authorization-code + PKCE flow, against a live sandbox."""

    base: str
    app: Flask
    client_id: str = "evidence-cds"

    @property
    def fhir(self) -> str:
        return f"{self.base}/fhir"

    def authorize_params(self, scope: str, **extra: str) -> dict[str, str]:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": secrets.token_urlsafe(8),
            "aud": self.fhir,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "_verifier": verifier,
        }
        params.update(extra)
        return params

    def authorize(
        self,
        params: dict[str, str],
        *,
        patient: str | None = "demo-warfarin",
        flavour: str = "generic",
        decision: str = "approve",
        http: requests.Session | None = None,
        post_request: bool = False,
    ) -> requests.Response:
        """Run /auth/authorize like a browser: GET (page or redirect), then submit the picker form
        (its hidden fields carry the authorization request, as a browser would post them)."""
        http = http or requests.Session()
        query = {k: v for k, v in params.items() if not k.startswith("_") and v is not None}
        url = f"{self.base}/auth/authorize"
        if post_request:
            first = http.post(url, data=query, allow_redirects=False, timeout=10)
        else:
            first = http.get(url, params=query, allow_redirects=False, timeout=10)
        if first.status_code != 200:
            return first  # EHR launch (straight redirect) or an error
        hidden = [(m[0], html.unescape(m[1])) for m in HIDDEN_INPUT.findall(first.text)]
        assert any(name == "csrf" for name, _ in hidden), "the picker page carries a CSRF token"
        action = FORM_ACTION.search(first.text)
        assert action, "the picker page has a form"
        form = [*hidden, ("decision", decision), ("flavour", flavour), ("user", "demo-practitioner")]
        if patient:
            form.append(("patient", patient))
        return http.post(
            urljoin(url, html.unescape(action.group(1))), data=form, allow_redirects=False, timeout=10
        )

    def exchange(self, code: str, verifier: str, auth: tuple[str, str] | None = None) -> requests.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        if auth is None:
            data["client_id"] = self.client_id
        return requests.post(f"{self.base}/auth/token", data=data, auth=auth, timeout=10)

    def login(
        self, scope: str, patient: str | None = "demo-warfarin", flavour: str = "generic", **extra: str
    ) -> dict[str, Any]:
        """The whole standalone flow; returns the token response (asserting each step succeeded)."""
        params = self.authorize_params(scope, **extra)
        redirect = self.authorize(params, patient=patient, flavour=flavour)
        assert redirect.status_code == 302, redirect.text
        got = query_of(redirect.headers["Location"])
        assert "code" in got, got
        resp = self.exchange(got["code"], params["_verifier"])
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def get(self, path: str, token: str | None, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = path if path.startswith("http") else f"{self.fhir}/{path}"
        return requests.get(url, headers=headers, params=params or None, timeout=10)


def start_sandbox(tmp: Path, **overrides: Any) -> tuple[LiveServer, Flask]:
    server = LiveServer()
    config: dict[str, Any] = {
        "base_url": server.url,
        "app_base_url": APP_BASE,
        "state_dir": tmp,
        "testing": True,
        "secret_key": "sandbox-test-secret",
        "confidential_client_secret": CONFIDENTIAL_SECRET,
        "fhir_validate_responses": True,
    }
    config.update(overrides)
    app = create_sandbox_app(config)
    server.start(app)
    return server, app


@pytest.fixture(scope="session")
def smart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartClient]:
    """One live sandbox (demo patients) for the authorization and FHIR tests of this session."""
    server, app = start_sandbox(tmp_path_factory.mktemp("sandbox-smart"))
    yield SmartClient(server.url, app)
    server.stop()


@pytest.fixture(scope="session")
def patient_tokens(smart: SmartClient) -> dict[tuple[str, str], str]:
    """Access tokens by (patient id, flavour), full v2 read scopes (cached for the session)."""
    cache: dict[tuple[str, str], str] = {}
    for patient in ("demo-warfarin", "demo-digoxin", "demo-multiproblem", "demo-trial"):
        for flavour in ("generic", "epic"):
            body = smart.login(f"launch/patient {V2_SCOPES}", patient=patient, flavour=flavour)
            cache[(patient, flavour)] = body["access_token"]
    return cache
