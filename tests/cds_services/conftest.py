"""CDS Hooks test rig: a test EHR that signs real JWTs, its JWKS and FHIR servers on loopback.

* :class:`EhrClient` signs ES384 / RS384 JWTs (joserfc) exactly as CDS Hooks 2.0 §Trusting CDS Clients
  describes and posts hook calls with ``requests``.
* :class:`KeyHost` serves the EHR's JWKS (and an alternative ``jku`` JWKS) from a LiveServer; keys can
  be rotated and fetches are counted.
* :class:`FhirHost` is a minimal FHIR R4 read/search server over the demo bundles that records every
  request's ``Authorization`` header and can be told to fail or stall.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from evidence_cds import db
from evidence_cds.app import create_app
from tests.support.demo_patients import demo_bundle
from tests.support.live_server import LiveServer

REPO = Path(__file__).resolve().parents[2]
DEMO_PATIENTS = REPO / "sandbox" / "patients"
TEST_SERVICES = "tests.cds_services.support_services"


@dataclass
class KeyHost:
    """The EHR's published keys: ``/jwks.json`` (configured) and ``/alt/jwks.json`` (for ``jku``)."""

    keys: list[Any]
    alt_keys: list[Any]
    server: LiveServer
    fetches: int = 0

    @property
    def jwks_url(self) -> str:
        return f"{self.server.url}/jwks.json"

    @property
    def alt_jwks_url(self) -> str:
        return f"{self.server.url}/alt/jwks.json"


@dataclass
class FhirHost:
    resources: list[dict[str, Any]]
    server: LiveServer
    seen_auth: list[str | None] = field(default_factory=list)
    seen_paths: list[str] = field(default_factory=list)
    fail_status: int | None = None
    delay_s: float = 0.0

    @property
    def base(self) -> str:
        return f"{self.server.url}/fhir"

    def reset(self) -> None:
        self.seen_auth.clear()
        self.seen_paths.clear()
        self.fail_status, self.delay_s = None, 0.0


def _key_app(host_ref: dict[str, KeyHost]) -> Flask:
    app = Flask("test-ehr-keys")

    @app.get("/jwks.json")
    def jwks() -> Response:
        host = host_ref["host"]
        host.fetches += 1
        return jsonify({"keys": [k.as_dict(private=False) for k in host.keys]})

    @app.get("/alt/jwks.json")
    def alt_jwks() -> Response:
        return jsonify({"keys": [k.as_dict(private=False) for k in host_ref["host"].alt_keys]})

    return app


def _fhir_app(ref: dict[str, FhirHost]) -> Flask:
    app = Flask("test-fhir")

    def _guard() -> Response | None:
        host = ref["host"]
        host.seen_auth.append(request.headers.get("Authorization"))
        host.seen_paths.append(request.full_path)
        if host.delay_s:
            time.sleep(host.delay_s)
        if host.fail_status:
            return Response(status=host.fail_status)
        return None

    @app.get("/fhir/<rtype>/<rid>")
    def read(rtype: str, rid: str) -> Response:
        failed = _guard()
        if failed is not None:
            return failed
        for r in ref["host"].resources:
            if r["resourceType"] == rtype and r.get("id") == rid:
                return jsonify(r)
        return Response(status=404)

    @app.get("/fhir/<rtype>")
    def search(rtype: str) -> Response:
        failed = _guard()
        if failed is not None:
            return failed
        patient = request.args.get("patient")
        found = [
            r
            for r in ref["host"].resources
            if r["resourceType"] == rtype
            and (
                patient is None
                or (r.get("subject") or r.get("patient") or {}).get("reference") == f"Patient/{patient}"
            )
        ]
        return jsonify(searchset(found))

    return app


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def demo_resources(name: str) -> list[dict[str, Any]]:
    bundle = demo_bundle(name)
    return [e["resource"] for e in bundle["entry"]]


@pytest.fixture(scope="session")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "ehr-es384-1"})


@pytest.fixture(scope="session")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "ehr-rs384-1"})


@pytest.fixture(scope="session")
def key_host(ec_key: ECKey, rsa_key: RSAKey) -> Iterator[KeyHost]:
    ref: dict[str, KeyHost] = {}
    server = LiveServer()
    alt = ECKey.generate_key("P-384", parameters={"kid": "ehr-alt-1"})
    ref["host"] = KeyHost(keys=[ec_key, rsa_key], alt_keys=[alt], server=server)
    server.start(_key_app(ref))
    yield ref["host"]
    server.stop()


@pytest.fixture(scope="session")
def fhir_host() -> Iterator[FhirHost]:
    ref: dict[str, FhirHost] = {}
    server = LiveServer()
    resources = [r for name in ("demo-warfarin", "demo-digoxin") for r in demo_resources(name)]
    ref["host"] = FhirHost(resources=resources, server=server)
    server.start(_fhir_app(ref))
    yield ref["host"]
    server.stop()


EHR_ISS = "https://ehr.test.example"


def cds_settings(tmp: Path, key_host: KeyHost, app_url: str, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "instance_path": tmp / "instance",
        "testing": True,
        "secret_key": "test-secret",
        "public_base_url": app_url,
        "cds_trusted_clients": [
            {"iss": EHR_ISS, "jwks_url": key_host.jwks_url, "jku_allowlist": [key_host.alt_jwks_url]}
        ],
        "cds_jwks_refetch_min_interval_s": 0,
        "cds_service_modules": ["cds_services.services.record_summary", TEST_SERVICES],
        "cds_prefetch_timeout_s": 1.0,
        "ehr_origins": ["https://ehr.test.example"],
    }
    cfg.update(extra)
    return cfg


@dataclass
class CdsServer:
    app: Flask
    server: LiveServer

    @property
    def url(self) -> str:
        return self.server.url


def start_cds(tmp: Path, key_host: KeyHost, **extra: Any) -> CdsServer:
    server = LiveServer()
    app = create_app(cds_settings(tmp, key_host, server.url, **extra))
    db.upgrade(app.extensions["settings"].resolved_database_url())
    server.start(app)
    return CdsServer(app, server)


@pytest.fixture(scope="session")
def cds(
    tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost, fhir_host: FhirHost
) -> Iterator[CdsServer]:
    """One product server for the session (tests isolate by hookInstance / card uuid)."""
    # The test FHIR server is on loopback, not under EHR_ISS: it must be allowlisted (SSRF guard).
    srv = start_cds(tmp_path_factory.mktemp("cds"), key_host, cds_allowed_fhir_servers=[fhir_host.base])
    yield srv
    srv.server.stop()


class EhrClient:
    """A CDS client (EHR side) that signs real JWTs per CDS Hooks 2.0 §Trusting CDS Clients."""

    def __init__(self, base_url: str, key: Any, alg: str = "ES384", iss: str = EHR_ISS) -> None:
        self.base_url = base_url
        self.key = key
        self.alg = alg
        self.iss = iss

    def service_url(self, service_id: str) -> str:
        return f"{self.base_url}/cds-services/{service_id}"

    def token(
        self,
        aud: str,
        *,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
        key: Any = None,
        alg: str | None = None,
    ) -> str:
        alg = alg or self.alg
        signing_key = key or self.key
        now = int(time.time())
        hdr = {"alg": alg, "typ": "JWT", "kid": signing_key.kid}
        hdr.update(header or {})
        body = {
            "iss": self.iss,
            "sub": "test-ehr",
            "aud": aud,
            "iat": now,
            "exp": now + 120,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims or {})
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(hdr, body, signing_key, algorithms=[alg])

    def call(
        self, service_id: str, payload: Any, *, token: str | None = None, **kw: Any
    ) -> requests.Response:
        tok = token if token is not None else self.token(self.service_url(service_id))
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        headers.update(kw.pop("headers", {}))
        return requests.post(self.service_url(service_id), json=payload, headers=headers, timeout=10, **kw)

    def feedback(self, service_id: str, payload: Any) -> requests.Response:
        url = f"{self.service_url(service_id)}/feedback"
        tok = self.token(self.service_url(service_id))
        return requests.post(url, json=payload, headers={"Authorization": f"Bearer {tok}"}, timeout=10)


@pytest.fixture
def ehr(cds: CdsServer, ec_key: ECKey) -> EhrClient:
    return EhrClient(cds.url, ec_key)


@pytest.fixture
def fhir(fhir_host: FhirHost) -> Iterator[FhirHost]:
    fhir_host.reset()
    yield fhir_host
    fhir_host.reset()


def patient_view(patient_id: str, prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/demo-practitioner", "patientId": patient_id},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def full_prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The record-summary prefetch for a patient's resources, as an EHR would send it."""
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    meds = [r for r in resources if r["resourceType"] == "MedicationRequest" and r.get("status") == "active"]
    labs = [r for r in resources if r["resourceType"] == "Observation"]
    return {"patient": patient, "medications": searchset(meds), "labs": searchset(labs)}


def wait_for_audit(
    app: Flask, count: int, hook_instance: str | None = None, timeout_s: float = 10.0
) -> list[Any]:
    """The audit rows (oldest first) once ``count`` exist: rows are written just after the answer is sent."""
    import sqlalchemy as sa

    from cds_services.models_db import CdsAudit
    from evidence_cds.db import session_scope

    deadline = time.monotonic() + timeout_s
    while True:
        with session_scope(app) as s:
            query = sa.select(CdsAudit).order_by(CdsAudit.id)
            if hook_instance is not None:
                query = query.where(CdsAudit.hook_instance == hook_instance)
            rows = list(s.scalars(query).all())
            for r in rows:
                s.expunge(r)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)
