"""Bad bodies, wrong hooks and unknown ids get clear 4xx JSON answers without internals."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.cds_services.conftest import CdsServer, EhrClient, patient_view

SERVICE = "test-slow"


def _post(ehr: EhrClient, service: str, data: bytes, content_type: str) -> requests.Response:
    token = ehr.token(ehr.service_url(service))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    return requests.post(ehr.service_url(service), data=data, headers=headers, timeout=10)


def _no_internals(resp: requests.Response) -> None:
    text = resp.text.lower()
    for leak in ("traceback", "pydantic", "errors.pydantic.dev", "sqlalchemy", "input_value", 'file "'):
        assert leak not in text


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'"just a string"', "application/json", 400),
        (json.dumps(patient_view("p1")).encode(), "text/plain", 400),
        (json.dumps(patient_view("p1")).encode(), "application/x-www-form-urlencoded", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
        (json.dumps({"hook": "patient-view"}).encode(), "application/json", 400),
        (json.dumps(patient_view("p1", hookInstance=None)).encode(), "application/json", 400),
        (
            json.dumps({**patient_view("p1"), "context": {"patientId": "p1"}}).encode(),
            "application/json",
            400,
        ),
        (
            json.dumps({**patient_view("p1"), "context": {"userId": "nobody", "patientId": "p1"}}).encode(),
            "application/json",
            400,
        ),
        (
            json.dumps(
                {
                    **patient_view("p1"),
                    "fhirAuthorization": {
                        "access_token": "secret-token-value",
                        "token_type": "Bearer",
                        "expires_in": 1,
                        "scope": "x",
                        "subject": "y",
                    },
                }
            ).encode(),
            "application/json",
            400,
        ),
    ],
)
def test_bad_bodies_get_400_operation_outcome(
    ehr: EhrClient, data: bytes, content_type: str, status: int
) -> None:
    resp = _post(ehr, SERVICE, data, content_type)
    assert resp.status_code == status
    assert resp.json()["resourceType"] == "OperationOutcome"
    assert "secret-token-value" not in resp.text
    _no_internals(resp)


def test_oversized_body_is_413(ehr: EhrClient, cds: CdsServer) -> None:
    limit = cds.app.extensions["settings"].cds_max_request_bytes  # hook calls have their own limit
    body = json.dumps(patient_view("p1", prefetch={"pad": "x" * (limit + 10)})).encode()
    resp = _post(ehr, SERVICE, body, "application/json")
    assert resp.status_code == 413
    _no_internals(resp)


@pytest.mark.parametrize("hook", ["order-sign", "encounter-start"])
def test_wrong_hook_for_service_is_400(ehr: EhrClient, hook: str) -> None:
    body: dict[str, Any] = {**patient_view("p1"), "hook": hook}
    if hook == "order-sign":
        body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
    resp = ehr.call(SERVICE, body)
    assert resp.status_code == 400
    assert "patient-view" in resp.json()["issue"][0]["diagnostics"]


def test_unknown_service_is_404(ehr: EhrClient, cds: CdsServer) -> None:
    resp = requests.post(f"{cds.url}/cds-services/no-such-service", json=patient_view("p1"), timeout=5)
    assert resp.status_code == 404
    assert resp.json()["resourceType"] == "OperationOutcome"
    fb = requests.post(f"{cds.url}/cds-services/no-such-service/feedback", json={}, timeout=5)
    assert fb.status_code == 404


def test_get_on_service_endpoint_is_405_json(cds: CdsServer) -> None:
    resp = requests.get(
        f"{cds.url}/cds-services/record-summary", headers={"Accept": "application/json"}, timeout=5
    )
    assert resp.status_code == 405
    _no_internals(resp)


def test_handler_failure_is_500_without_internals(ehr: EhrClient) -> None:
    resp = ehr.call("test-broken", patient_view("p1"))
    assert resp.status_code == 500
    assert "internal detail" not in resp.text and resp.json()["resourceType"] == "OperationOutcome"


def test_slow_optional_step_is_dropped_within_budget(ehr: EhrClient) -> None:
    resp = ehr.call("test-slow", patient_view("p1"))
    assert resp.status_code == 200
    assert resp.elapsed.total_seconds() < 1.4  # the slow step sleeps 1.5 s; the budget is 0.6 s
    summaries = sorted(c["summary"] for c in resp.json()["cards"])
    assert summaries == ["core advice", "fast extra"]


def test_oversized_chunked_body_is_413(ehr: EhrClient, cds: CdsServer) -> None:
    """No Content-Length to check up front: the limit applies while reading the stream."""
    limit = cds.app.extensions["settings"].cds_max_request_bytes

    def chunks() -> Any:
        yield b'{"hook": "patient-view", "pad": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    token = ehr.token(ehr.service_url(SERVICE))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    resp = requests.post(ehr.service_url(SERVICE), data=chunks(), headers=headers, timeout=20)
    assert resp.status_code == 413
    _no_internals(resp)
