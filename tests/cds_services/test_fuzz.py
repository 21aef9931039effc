"""Property test: thousands of malformed hook requests never produce a 5xx (nor a leaked internal)."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey

from evidence_cds import db
from evidence_cds.app import create_app
from tests.cds_services.conftest import TEST_SERVICES, demo_resources, full_prefetch, patient_view, searchset

ISS = "https://fuzz-ehr.example"
BASE = "http://cds.fuzz.example"
SERVICES = ["record-summary", "test-order-select", "test-order-sign"]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, ec_key: ECKey) -> Iterator[Flask]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    # tmpfs when available: 2000 audit commits should cost CPU, not 2000 disk fsyncs.
    shm = Path("/dev/shm")
    db_dir = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp
    app = create_app(
        {
            "instance_path": tmp / "instance",
            "testing": True,
            "secret_key": "x",
            "public_base_url": BASE,
            "cds_trusted_clients": [{"iss": ISS, "jwks": {"keys": [ec_key.as_dict(private=False)]}}],
            "cds_service_modules": ["cds_services.services.record_summary", TEST_SERVICES],
            "cds_prefetch_timeout_s": 0.2,
            "log_level": "ERROR",
            "database_url": f"sqlite:///{db_dir / 'fuzz.db'}",
        }
    )
    db.upgrade(app.extensions["settings"].resolved_database_url())
    yield app
    app.extensions["db_engine"].dispose()
    if db_dir != tmp:
        shutil.rmtree(db_dir, ignore_errors=True)


def _bases() -> list[dict[str, Any]]:
    res = demo_resources("demo-warfarin")
    order = {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/demo-warfarin"},
        "medicationCodeableConcept": {"text": "ibuprofen"},
    }
    meds = {"medications": searchset([r for r in res if r["resourceType"] == "MedicationRequest"])}
    ctx = {"userId": "Practitioner/u1", "patientId": "demo-warfarin", "draftOrders": searchset([order])}
    return [
        patient_view("demo-warfarin", full_prefetch(res)),
        {
            "hook": "order-select",
            "hookInstance": "h",
            "context": {**ctx, "selections": ["MedicationRequest/d1"]},
            "prefetch": meds,
            "fhirServer": "http://127.0.0.1:9/fhir",
        },
        {"hook": "order-sign", "hookInstance": "h", "context": ctx, "prefetch": meds},
    ]


BASES = _bases()
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated_requests(draw: st.DrawFn) -> dict[str, Any] | Any:
    body = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(body) if p]
        if not paths or not isinstance(body, dict):
            break
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["delete", "replace", "replace"]))
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return body


@st.composite
def raw_requests(draw: st.DrawFn) -> tuple[str, bytes, str, str]:
    service = draw(st.sampled_from([*SERVICES, "no-such", "record-summary/feedback"]))
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "json", "bytes"]))
    if kind == "mutated":
        data = json.dumps(draw(mutated_requests())).encode()
    elif kind == "json":
        data = json.dumps(draw(json_values)).encode()
    else:
        data = draw(st.binary(max_size=300))
    content_type = draw(
        st.sampled_from(["application/json"] * 6 + ["text/plain", "application/fhir+json", ""])
    )
    auth = draw(st.sampled_from(["good"] * 8 + ["garbage", "none"]))
    return service, data, content_type, auth


def _token(key: ECKey, service: str) -> str:
    now = int(time.time())
    aud = f"{BASE}/cds-services/{service.split('/')[0]}"
    claims = {"iss": ISS, "sub": "f", "aud": aud, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    return jwt.encode({"alg": "ES384", "kid": key.kid}, claims, key, algorithms=["ES384"])


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(req=raw_requests())
def test_malformed_hook_requests_never_5xx(
    fuzz_app: Flask, ec_key: ECKey, req: tuple[str, bytes, str, str]
) -> None:
    service, data, content_type, auth = req
    headers = {"Content-Type": content_type} if content_type else {}
    if auth == "good":
        headers["Authorization"] = f"Bearer {_token(ec_key, service)}"
    elif auth == "garbage":
        headers["Authorization"] = "Bearer eyJhbGciOiJub25lIn0.e30."
    resp = fuzz_app.test_client().post(f"/cds-services/{service}", data=data, headers=headers)
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    assert b"Traceback" not in resp.data
