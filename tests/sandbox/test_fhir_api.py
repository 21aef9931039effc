"""The sandbox FHIR R4 API over real HTTP: reads, searches, paging, _include, scopes, errors.

Expected results are computed from the demo bundles on disk (the authored facts), not hard-coded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from sandbox.fhir_validate import validate_resource
from sandbox.settings import SANDBOX_DIR
from tests.sandbox.smart_support import SmartClient
from tests.support.demo_patients import demo_bundle

FHIR_JSON = "application/fhir+json"
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


def demo_resources(rtype: str, patient: str) -> list[dict[str, Any]]:
    bundle = demo_bundle(patient)
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def ids_where(rtype: str, patient: str, pred: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {r["id"] for r in demo_resources(rtype, patient) if pred(r)}


def codes(concept: Any) -> set[tuple[str, str]]:
    items = concept if isinstance(concept, list) else [concept]
    return {(c.get("system"), c.get("code")) for cc in items if cc for c in cc.get("coding", [])}


def match_ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_metadata_is_a_public_valid_capability_statement_with_smart_uris(smart: SmartClient) -> None:
    resp = requests.get(f"{smart.fhir}/metadata", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(FHIR_JSON)
    cap = CapabilityStatement.model_validate(resp.json())
    assert cap.fhirVersion == "4.0.1"
    body = resp.json()
    uris = {e["url"]: e["valueUri"] for e in body["rest"][0]["security"]["extension"][0]["extension"]}
    assert uris["authorize"] == f"{smart.base}/auth/authorize" and uris["token"] == f"{smart.base}/auth/token"
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {
        "Patient",
        "Condition",
        "MedicationRequest",
        "Medication",
        "AllergyIntolerance",
        "Observation",
        "Encounter",
        "DocumentReference",
    } <= types


def test_read_is_confined_to_the_tokens_patient(smart: SmartClient, patient_tokens: dict) -> None:
    token = patient_tokens[("demo-warfarin", "generic")]
    own = smart.get("Patient/demo-warfarin", token)
    assert own.status_code == 200 and own.headers["Content-Type"].startswith(FHIR_JSON)
    assert own.json()["id"] == "demo-warfarin"
    for path in (
        "Patient/demo-digoxin",
        "Observation/demo-digoxin-obs-k",
        "MedicationRequest/demo-trial-mr-metformin",
    ):
        other = smart.get(path, token)
        assert other.status_code == 403, path
        assert other.json()["resourceType"] == "OperationOutcome"
    # A search naming another patient is refused, not silently emptied.
    assert smart.get("Observation", token, patient="demo-digoxin").status_code == 403
    assert smart.get("Observation", token, subject="Patient/demo-digoxin").status_code == 403
    # Shared reference data (the practitioner) is readable with a scope for it only.
    assert smart.get("Practitioner/demo-practitioner", token).status_code == 403


def test_missing_or_invalid_token_is_401_with_bearer_challenge(smart: SmartClient) -> None:
    for token in (None, "not-a-token"):
        resp = smart.get("Patient/demo-warfarin", token)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert resp.json()["issue"][0]["code"] == "login"
    assert 'error="invalid_token"' in smart.get("Patient", "not-a-token").headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("scope", "read_status", "search_status"),
    [
        ("patient/Observation.read", 200, 200),  # v1
        ("patient/Observation.rs", 200, 200),  # v2
        ("patient/Observation.r", 200, 403),
        ("patient/Observation.s", 403, 200),
        ("patient/Condition.rs", 403, 403),  # no scope for the type at all
    ],
)
def test_scope_permissions_per_interaction(
    smart: SmartClient, scope: str, read_status: int, search_status: int
) -> None:
    body = smart.login(f"launch/patient {scope}", patient="demo-warfarin")
    assert scope in body["scope"].split()  # narrower than the registered .rs: granted as asked
    token = body["access_token"]
    assert smart.get("Observation/demo-warfarin-obs-inr-2", token).status_code == read_status
    assert smart.get("Observation", token, patient="demo-warfarin").status_code == search_status


def test_granular_v2_scope_limits_results(smart: SmartClient) -> None:
    token = smart.login(
        "launch/patient patient/Observation.rs?category=" + LAB.replace("|", "%7C"), patient="demo-trial"
    )["access_token"]
    labs = ids_where(
        "Observation",
        "demo-trial",
        lambda r: (
            ("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")
            in codes(r["category"])
        ),
    )
    everything = {r["id"] for r in demo_resources("Observation", "demo-trial")}
    assert labs and labs != everything
    bundle = smart.get("Observation", token, patient="demo-trial").json()
    assert set(match_ids(bundle)) == labs and bundle["total"] == len(labs)
    not_lab = sorted(everything - labs)[0]
    assert smart.get(f"Observation/{not_lab}", token).status_code == 403


def test_paging_follows_next_links_until_exhausted(smart: SmartClient, patient_tokens: dict) -> None:
    token = patient_tokens[("demo-multiproblem", "generic")]
    expected = {r["id"] for r in demo_resources("Observation", "demo-multiproblem")}
    url: str | None = f"{smart.fhir}/Observation?patient=demo-multiproblem&_count=3"
    seen: list[str] = []
    pages = 0
    while url:
        bundle = smart.get(url, token).json()
        Bundle.model_validate(bundle)
        assert bundle["type"] == "searchset" and bundle["total"] == len(expected)
        for entry in bundle.get("entry", []):
            assert entry["fullUrl"] == f"{smart.fhir}/Observation/{entry['resource']['id']}"
            assert entry["search"]["mode"] == "match"
        seen.extend(match_ids(bundle))
        assert len(match_ids(bundle)) <= 3
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        pages += 1
    assert pages == -(-len(expected) // 3)
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_search_parameters(smart: SmartClient, patient_tokens: dict) -> None:
    p = "demo-digoxin"
    token = patient_tokens[(p, "generic")]
    loinc = ("http://loinc.org", "10535-3")
    cases: list[tuple[str, dict[str, str], set[str]]] = [
        (
            "Observation",
            {"code": "http://loinc.org|10535-3"},
            ids_where("Observation", p, lambda r: loinc in codes(r["code"])),
        ),
        (
            "Observation",
            {"code": "10535-3,2823-3"},
            ids_where(
                "Observation", p, lambda r: bool({loinc, ("http://loinc.org", "2823-3")} & codes(r["code"]))
            ),
        ),
        ("Observation", {"code": "http://snomed.info/sct|10535-3"}, set()),
        (
            "Observation",
            {"category": "laboratory", "date": "ge2026-11-01"},
            ids_where("Observation", p, lambda r: r["effectiveDateTime"] >= "2026-11-01"),
        ),
        (
            "Observation",
            {"date": "lt2026-11"},
            ids_where("Observation", p, lambda r: r["effectiveDateTime"] < "2026-11"),
        ),
        (
            "Condition",
            {"clinical-status": "active", "code": "49436004"},
            ids_where("Condition", p, lambda r: ("http://snomed.info/sct", "49436004") in codes(r["code"])),
        ),
        (
            "Condition",
            {"code:not": "49436004"},
            ids_where(
                "Condition", p, lambda r: ("http://snomed.info/sct", "49436004") not in codes(r["code"])
            ),
        ),
        ("MedicationRequest", {"status": "active", "code": "328160"}, {"demo-digoxin-mr-cyclosporine"}),
        ("AllergyIntolerance", {"patient": p}, ids_where("AllergyIntolerance", p, lambda r: True)),
        (
            "Encounter",
            {"patient": f"{smart.fhir}/Patient/{p}", "status": "in-progress"},
            ids_where("Encounter", p, lambda r: r["status"] == "in-progress"),
        ),
        ("Patient", {"_id": p}, {p}),
        ("Patient", {"name": "castel"}, {p}),
    ]
    for rtype, params, expected in cases:
        resp = smart.get(rtype, token, **params)
        assert resp.status_code == 200, (rtype, params, resp.text)
        bundle = resp.json()
        assert set(match_ids(bundle)) == expected, (rtype, params)
        assert bundle["total"] == len(expected)
    newest_first = smart.get("Observation", token, code="10535-3", _sort="-date").json()
    dates = [e["resource"]["effectiveDateTime"] for e in newest_first["entry"]]
    assert dates == sorted(dates, reverse=True) and len(dates) >= 2
    count_only = smart.get("Observation", token, _summary="count").json()
    assert "entry" not in count_only and count_only["total"] == len(demo_resources("Observation", p))


def test_include_medication(smart: SmartClient, patient_tokens: dict) -> None:
    token = patient_tokens[("demo-digoxin", "generic")]
    bundle = smart.get(
        "MedicationRequest", token, patient="demo-digoxin", _include="MedicationRequest:medication"
    ).json()
    Bundle.model_validate(bundle)
    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["id"] for e in included] == ["demo-med-cyclosporine-100"]
    assert included[0]["fullUrl"] == f"{smart.fhir}/Medication/demo-med-cyclosporine-100"
    assert bundle["total"] == len(demo_resources("MedicationRequest", "demo-digoxin"))


def test_epic_serves_medication_requests_by_reference(smart: SmartClient, patient_tokens: dict) -> None:
    token = patient_tokens[("demo-warfarin", "epic")]
    bundle = smart.get(
        "MedicationRequest", token, patient="demo-warfarin", _include="MedicationRequest:medication"
    ).json()
    Bundle.model_validate(bundle)
    matches = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    included = {
        e["resource"]["id"]: e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"
    }
    assert matches and all("medicationCodeableConcept" not in r for r in matches)
    for mr in matches:
        med_id = mr["medicationReference"]["reference"].split("/", 1)[1]
        assert med_id in included
        original = next(
            r for r in demo_resources("MedicationRequest", "demo-warfarin") if r["id"] == mr["id"]
        )
        assert included[med_id]["code"] == original["medicationCodeableConcept"]
        assert (
            smart.get(f"Medication/{med_id}", token).json()["code"] == original["medicationCodeableConcept"]
        )
    warfarin = smart.get("MedicationRequest", token, patient="demo-warfarin", code="855332").json()
    assert match_ids(warfarin) == ["demo-warfarin-mr-warfarin"]
    generic = smart.get("MedicationRequest/demo-warfarin-mr-warfarin", smart_token(smart, patient_tokens))
    assert "medicationCodeableConcept" in generic.json()


def smart_token(smart: SmartClient, patient_tokens: dict) -> str:
    token: str = patient_tokens[("demo-warfarin", "generic")]
    return token


BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "Foo", {}, 404),
    ("GET", "Foo/1", {}, 404),
    ("GET", "Observation/no-such-id", {}, 404),
    ("GET", "Observation?bogus=1", {}, 400),
    ("GET", "Observation?_count=abc", {}, 400),
    ("GET", "Observation?date=ge2026-13-45", {}, 400),
    ("GET", "Observation?code:text=INR", {}, 400),
    ("GET", "Observation?_include=Observation:subject", {}, 400),
    ("GET", "Observation?_sort=code", {}, 400),
    ("GET", "Observation?_format=xml", {}, 406),
    ("POST", "Observation", {"json": {"resourceType": "Observation"}}, 405),
    ("PUT", "Patient/demo-warfarin", {"json": {"resourceType": "Patient"}}, 405),
    ("DELETE", "Patient/demo-warfarin", {}, 405),
    ("POST", "Observation/_search", {"json": {"patient": "demo-warfarin"}}, 415),
    ("POST", "Observation/_search", {"data": {"patient": "demo-warfarin", "x": "y" * 2_000_000}}, 413),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), BAD_REQUESTS)
def test_bad_requests_get_operation_outcomes(
    smart: SmartClient, patient_tokens: dict, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    token = patient_tokens[("demo-warfarin", "generic")]
    resp = requests.request(
        method, f"{smart.fhir}/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs
    )
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith(FHIR_JSON)
    outcome = resp.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["diagnostics"]
    validate_resource(outcome)


def test_post_search_matches_get_search(smart: SmartClient, patient_tokens: dict) -> None:
    token = patient_tokens[("demo-warfarin", "generic")]
    headers = {"Authorization": f"Bearer {token}"}
    posted = requests.post(
        f"{smart.fhir}/Observation/_search", data={"code": "6301-6"}, headers=headers, timeout=10
    )
    got = smart.get("Observation", token, code="6301-6")
    assert posted.status_code == 200 and match_ids(posted.json()) == match_ids(got.json())
    assert len(match_ids(got.json())) == 2


def test_demo_bundles_are_valid_r4_with_the_shared_ids() -> None:
    folder = SANDBOX_DIR / "patients"
    ids = set()
    for path in sorted(Path(folder).glob("*.json")):
        bundle = json.loads(path.read_text())
        Bundle.model_validate(bundle)
        ids |= {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    for pid in ("demo-warfarin", "demo-warfarin-ppi", "demo-digoxin", "demo-multiproblem", "demo-trial"):
        assert ("Patient", pid) in ids
        assert any(t == "Encounter" and i.startswith(pid + "-") for t, i in ids)
    assert ("Practitioner", "demo-practitioner") in ids
