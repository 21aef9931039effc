"""The CDS client's JWT, checked by an independent verifier (joserfc + the JWKS fetched over HTTP).

CDS Hooks 2.0 §Trusting CDS Clients: ES384, ``iss`` = the client, ``aud`` = the exact service URL,
``exp`` ≤ 5 min, ``iat``, unique ``jti``; header ``kid``, ``jku``, ``typ: JWT``.
"""

from __future__ import annotations

import stat
import time
import uuid
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from sandbox.app import create_sandbox_app
from tests.sandbox.ehr_support import PATIENT_ID, EhrUnderTest, RecordingCdsService


def _open_chart_and_fire(ehr: EhrUnderTest) -> None:
    page = requests.get(f"{ehr.url}/chart/{PATIENT_ID}", timeout=10)
    assert page.status_code == 200
    sid = page.text.split("/ehr/", 1)[1].split("/", 1)[0]
    resp = requests.post(
        f"{ehr.url}/ehr/{sid}/hooks/patient-view", headers={"HX-Request": "true"}, timeout=10
    )
    assert resp.status_code == 200


def test_every_call_carries_a_jwt_an_independent_verifier_accepts(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    _open_chart_and_fire(ehr)
    jwks = requests.get(f"{ehr.url}/cds-client/jwks.json", timeout=5)
    assert jwks.status_code == 200
    assert all("d" not in k for k in jwks.json()["keys"])  # never the private part
    keys = KeySet.import_key_set(jwks.json())
    calls = cds.of_hook("patient-view")
    assert {c.path for c in calls} == {"/cds-services/test-patient-view", "/cds-services/test-broken"}
    jtis = set()
    for call in calls:
        scheme, _, token = call.headers["Authorization"].partition(" ")
        assert scheme == "Bearer"
        decoded = jwt.decode(token, keys, algorithms=["ES384"])
        header, claims = decoded.header, decoded.claims
        assert header["alg"] == "ES384"
        assert header["typ"] == "JWT"
        assert header["kid"] == jwks.json()["keys"][0]["kid"]
        assert header["jku"] == f"{ehr.url}/cds-client/jwks.json"
        assert claims["iss"] == ehr.url
        assert claims["aud"] == f"{ehr.cds_server.url}{call.path}"  # the exact service URL
        now = time.time()
        assert claims["iat"] <= now + 1
        assert now < claims["exp"] <= claims["iat"] + 300
        uuid.UUID(claims["jti"])
        jtis.add(claims["jti"])
    assert len(jtis) == len(calls)  # a fresh jti per call


def test_a_tampered_token_fails_the_same_verifier(ehr: EhrUnderTest, cds: RecordingCdsService) -> None:
    _open_chart_and_fire(ehr)
    keys = KeySet.import_key_set(requests.get(f"{ehr.url}/cds-client/jwks.json", timeout=5).json())
    token = cds.of_hook("patient-view")[0].headers["Authorization"].split(" ", 1)[1]
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys, algorithms=["ES384"])


def test_signing_key_is_created_once_with_mode_600_and_survives_restart(tmp_path: Path) -> None:
    config = {"state_dir": tmp_path / "state", "patients": tmp_path, "base_url": "http://127.0.0.1:1"}
    first = create_sandbox_app(config).extensions["sandbox_cds_signer"]
    key_files = list((tmp_path / "state").glob("cds_client_*.json"))
    assert len(key_files) == 1
    assert stat.S_IMODE(key_files[0].stat().st_mode) == 0o600
    second = create_sandbox_app(config).extensions["sandbox_cds_signer"]
    assert second.kid == first.kid
    assert second.jwks() == first.jwks()
