"""SSRF guard: ``fhirServer`` must be on the allowlist; no redirects followed; responses capped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, jsonify, redirect, request

from cds_services.fhir_server_policy import FhirServerPolicy
from tests.cds_services.conftest import (
    CdsServer,
    EhrClient,
    KeyHost,
    patient_view,
    searchset,
    start_cds,
    wait_for_audit,
)
from tests.support.live_server import LiveServer

TOKEN = "secret-bearer-for-ssrf-test"


@dataclass
class Trap:
    """A host the service must never reach: records every request (and the token it carried)."""

    server: LiveServer
    hits: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url


def _trap_app(trap: dict[str, Trap]) -> Flask:
    app = Flask("trap")

    @app.route("/<path:rest>")
    def anything(rest: str) -> Response:
        trap["t"].hits.append(request.full_path)
        trap["t"].auth.append(request.headers.get("Authorization"))
        return jsonify(searchset([]))

    return app


def _tricky_app(trap: dict[str, Trap]) -> Flask:
    """An allowlisted FHIR server that misbehaves: redirects elsewhere, or answers a huge body."""
    app = Flask("tricky")

    @app.route("/redir/fhir/<path:rest>")
    def redir(rest: str) -> Any:
        return redirect(f"{trap['t'].url}/fhir/{rest}", code=302)

    @app.route("/big/fhir/<path:rest>")
    def big(rest: str) -> Response:
        filler = [{"resource": {"resourceType": "Basic", "id": f"b{i}"}} for i in range(20000)]
        return jsonify({"resourceType": "Bundle", "type": "searchset", "entry": filler})

    return app


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    ref: dict[str, Trap] = {}
    server = LiveServer()
    ref["t"] = Trap(server)
    server.start(_trap_app(ref))
    yield ref["t"]
    server.stop()


@pytest.fixture(scope="module")
def tricky(trap: Trap) -> Iterator[str]:
    server = LiveServer()
    server.start(_tricky_app({"t": trap}))
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def open_cds(tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost, tricky: str) -> Iterator[CdsServer]:
    """JWT verification off (development mode): only the explicit allowlist applies."""
    srv = start_cds(
        tmp_path_factory.mktemp("ssrf"),
        key_host,
        cds_verify_jwt=False,
        cds_allowed_fhir_servers=[f"{tricky}/redir/fhir", f"{tricky}/big/fhir"],
        cds_prefetch_max_bytes=100_000,
        launch_manifest=Path("/nonexistent/launch.json"),
    )
    yield srv
    srv.server.stop()


def _body(fhir_server: str) -> dict[str, Any]:
    auth = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "evidence-cds",
    }
    return patient_view("demo-digoxin", {}, fhirServer=fhir_server, fhirAuthorization=auth)


@pytest.fixture
def clean_trap(trap: Trap) -> Trap:
    trap.hits.clear()
    trap.auth.clear()
    return trap


def test_verified_caller_cannot_point_fhir_server_at_unlisted_host(
    ehr: EhrClient, cds: CdsServer, clean_trap: Trap, caplog: pytest.LogCaptureFixture
) -> None:
    body = _body(f"{clean_trap.url}/fhir")
    with caplog.at_level("INFO"):
        resp = ehr.call("record-summary", body)
    assert "not on the allowlist" in caplog.text and TOKEN not in caplog.text
    assert resp.status_code == 412
    assert clean_trap.hits == [] and clean_trap.auth == []
    (row,) = wait_for_audit(cds.app, 1, body["hookInstance"])
    assert row.notes.get("fhir_server_refused") is True


@pytest.mark.parametrize("where", ["trap", "redir-prefix-only"])
def test_unverified_caller_gets_only_the_explicit_allowlist(
    open_cds: CdsServer, tricky: str, clean_trap: Trap, where: str
) -> None:
    server = f"{clean_trap.url}/fhir" if where == "trap" else f"{tricky}/redir/fhirx"
    resp = EhrClient(open_cds.url, None).call("record-summary", _body(server), token="")
    assert resp.status_code == 412
    assert clean_trap.hits == []


def test_redirect_to_another_host_is_not_followed(open_cds: CdsServer, tricky: str, clean_trap: Trap) -> None:
    resp = EhrClient(open_cds.url, None).call("record-summary", _body(f"{tricky}/redir/fhir"), token="")
    assert resp.status_code == 412
    assert "redirect refused" in resp.json()["issue"][0]["diagnostics"]
    assert clean_trap.hits == [] and clean_trap.auth == []


def test_oversized_fhir_response_is_refused(open_cds: CdsServer, tricky: str) -> None:
    resp = EhrClient(open_cds.url, None).call("record-summary", _body(f"{tricky}/big/fhir"), token="")
    assert resp.status_code == 412
    assert "too large" in resp.json()["issue"][0]["diagnostics"]


ISS = "https://ehr.example.org"


@pytest.mark.parametrize(
    ("fhir_server", "iss", "allowed"),
    [
        ("https://ehr.example.org/api/FHIR/R4", ISS, True),  # under the issuer's origin
        ("https://ehr.example.org:443/fhir", ISS, True),  # default port spelled out
        ("https://EHR.example.org/fhir", ISS, True),
        ("http://ehr.example.org/fhir", ISS, False),  # scheme differs
        ("https://ehr.example.org.evil.test/fhir", ISS, False),
        ("https://ehr.example.org@169.254.169.254/fhir", ISS, False),  # user-info trick
        ("https://ehr.example.org/fhir/../../admin", ISS, False),
        ("https://ehr.example.org/fhir/%2e%2e/admin", ISS, False),
        ("file:///etc/passwd", ISS, False),
        ("http://169.254.169.254/latest", ISS, False),
        ("http://169.254.169.254/latest", None, False),
        ("https://ehr.example.org/fhir", None, False),  # unverified: no origin rule
        ("https://fhir.partner.test/R4", None, True),  # explicit allowlist
        ("https://fhir.partner.test/R4/Patient", None, True),
        ("https://fhir.partner.test/R40", None, False),  # prefix must end at a path segment
        ("https://extra.example.org/base", ISS, True),  # the trusted client's own fhir_servers
        ("https://extra.example.org/base", "https://other.example.org", False),
    ],
)
def test_policy_decisions(fhir_server: str, iss: str | None, allowed: bool) -> None:
    policy = FhirServerPolicy(["https://fhir.partner.test/R4/"], {ISS: ["https://extra.example.org/base"]})
    assert policy.allows(fhir_server, iss) is allowed
