"""Prefetch: given in the request / fetched from fhirServer with our bearer token / unobtainable → 412."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_services.models_db import CdsAudit
from tests.cds_services.conftest import (
    CdsServer,
    EhrClient,
    FhirHost,
    demo_resources,
    full_prefetch,
    patient_view,
    wait_for_audit,
)

TOKEN = "fhir-access-token-for-test"


def _auth(fhir: FhirHost) -> dict[str, Any]:
    return {
        "fhirServer": fhir.base,
        "fhirAuthorization": {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "evidence-cds",
        },
    }


def _audit_row(cds: CdsServer, hook_instance: str) -> CdsAudit:
    (row,) = wait_for_audit(cds.app, 1, hook_instance)
    return row


def test_prefetch_in_request_is_used_without_fhir_calls(ehr: EhrClient, fhir: FhirHost) -> None:
    body = patient_view("demo-digoxin", full_prefetch(demo_resources("demo-digoxin")), **_auth(fhir))
    resp = ehr.call("record-summary", body)
    assert resp.status_code == 200
    assert fhir.seen_paths == []


@pytest.mark.parametrize("missing", ["absent", "null"])
def test_missing_prefetch_is_fetched_with_our_bearer_token(
    ehr: EhrClient, fhir: FhirHost, cds: CdsServer, missing: str
) -> None:
    given = full_prefetch(demo_resources("demo-warfarin"))
    expected = ehr.call("record-summary", patient_view("demo-warfarin", given)).json()["cards"]
    assert expected, "demo-warfarin (lisinopril, no potassium) has a monitoring gap"
    partial = {"patient": given["patient"]} | (
        {"labs": None, "medications": None} if missing == "null" else {}
    )
    body = patient_view("demo-warfarin", partial, **_auth(fhir))
    resp = ehr.call("record-summary", body)
    assert resp.status_code == 200, resp.text
    assert sorted(fhir.seen_auth) == [f"Bearer {TOKEN}"] * 2
    assert any(p.startswith("/fhir/Observation?patient=demo-warfarin") for p in fhir.seen_paths)
    # Same advice whether the EHR prefetched or we fetched.
    assert [c["summary"] for c in resp.json()["cards"]] == [c["summary"] for c in expected]
    assert sorted(_audit_row(cds, body["hookInstance"]).notes["fetched"]) == ["labs", "medications"]


def test_unobtainable_prefetch_without_fhir_server_is_412(ehr: EhrClient) -> None:
    resp = ehr.call("record-summary", patient_view("demo-digoxin", {}))
    assert resp.status_code == 412
    outcome = resp.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "labs" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("status", "delay"), [(500, 0.0), (401, 0.0), (None, 2.5)])
def test_fhir_server_failure_or_stall_is_412(
    ehr: EhrClient, fhir: FhirHost, status: int | None, delay: float
) -> None:
    fhir.fail_status, fhir.delay_s = status, delay
    resp = ehr.call("record-summary", patient_view("demo-digoxin", {}, **_auth(fhir)))
    assert resp.status_code == 412
    assert resp.json()["resourceType"] == "OperationOutcome"


def test_optional_key_missing_is_not_412(ehr: EhrClient, fhir: FhirHost) -> None:
    given = full_prefetch(demo_resources("demo-digoxin"))
    del given["patient"]  # optional for record-summary
    assert ehr.call("record-summary", patient_view("demo-digoxin", given)).status_code == 200


def test_invalid_resources_are_reported_not_crashed(ehr: EhrClient, cds: CdsServer) -> None:
    given = full_prefetch(demo_resources("demo-digoxin"))
    bad_labs = copy.deepcopy(given["labs"])
    bad_labs["entry"][0]["resource"]["status"] = 42  # not a code
    bad_labs["entry"].append({"resource": {"resourceType": "NoSuchType"}})
    bad_labs["entry"].append({"fullUrl": "no resource"})
    given["labs"] = bad_labs
    given["patient"] = {"resourceType": "Patient", "birthDate": "not-a-date"}
    body = patient_view("demo-digoxin", given)
    resp = ehr.call("record-summary", body)
    assert resp.status_code == 200
    notes = _audit_row(cds, body["hookInstance"]).notes["invalid_resources"]
    assert len(notes) == 4
    assert any(n.startswith("labs.entry[0]") for n in notes) and any(n.startswith("patient") for n in notes)


def test_parsed_resource_cache_shares_only_identical_content() -> None:
    from cds_services.prefetch import _parse_one
    from cds_services.resource_cache import ParsedResourceCache
    from clinical.resources import InvalidResource

    cache = ParsedResourceCache(maxsize=16, ttl_s=60)
    patient = next(r for r in demo_resources("demo-warfarin") if r["resourceType"] == "Patient")
    first = _parse_one(patient, cache)
    assert _parse_one(copy.deepcopy(patient), cache) is first  # equal JSON, other dict: shared
    changed = {**patient, "gender": "female" if patient.get("gender") != "female" else "male"}
    other = _parse_one(changed, cache)
    assert other is not first and other.gender == changed["gender"]
    bad = {**patient, "birthDate": "not-a-date"}
    for _ in range(2):  # invalid content is never cached: reported every time
        with pytest.raises(InvalidResource):
            _parse_one(bad, cache)
    assert (cache.hits, cache.misses) == (1, 2)
