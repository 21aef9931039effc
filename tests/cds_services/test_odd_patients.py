"""Regressions from the Synthea robustness sweep (bench/synthea_sweep.py), over real HTTP.

* A partial ``birthDate`` ("1950") reached the services as a str: differentials and trial-matching
  answered 500 (AttributeError in ``PatientRecord.age_years``).
* Deceased patients (41 of the 150 Synthea patients) got monitoring, differential and trial cards.
* The largest Synthea prefetch was 875 KB against a 1 MB app-wide body limit: a longer record got 413
  and no advice; hook calls now have their own limit (``cds_max_request_bytes``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_services.models import Card
from tests.cds_services.all_services import discovery, hook_body, start_all_services, store_of
from tests.cds_services.conftest import CdsServer, EhrClient, KeyHost, demo_resources, start_cds

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="module")
def every_service(tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost) -> Iterator[CdsServer]:
    srv = start_all_services(tmp_path_factory.mktemp("odd"), key_host)
    yield srv
    srv.server.stop()


@pytest.fixture(scope="module")
def services(every_service: CdsServer) -> dict[str, dict[str, Any]]:
    return discovery(every_service)


@pytest.fixture
def client(every_service: CdsServer, ec_key: Any) -> EhrClient:
    return EhrClient(every_service.url, ec_key)


def _warfarin_without_inr() -> list[dict[str, Any]]:
    """The smallest record-summary case: warfarin active, no INR on record."""
    return [
        {"resourceType": "Patient", "id": "odd-1", "birthDate": "1941-03-02", "gender": "male"},
        {
            "resourceType": "MedicationRequest",
            "id": "odd-1-warfarin",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/odd-1"},
            "medicationCodeableConcept": {
                "coding": [
                    {"system": RXNORM, "code": "855332", "display": "Warfarin Sodium 5 MG Oral Tablet"}
                ]
            },
        },
    ]


CASES = {
    "record-summary": _warfarin_without_inr,
    "differentials": lambda: demo_resources("demo-multiproblem"),
    "trial-matching": lambda: demo_resources("demo-trial"),
}


def _patient_view(
    client: EhrClient, service: dict[str, Any], resources: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    resp = client.call(service["id"], hook_body(service, store_of(resources), patient_id))
    assert resp.status_code == 200, resp.text
    cards: list[dict[str, Any]] = resp.json()["cards"]
    for card in cards:
        Card.model_validate(card)
    return cards


def _with_patient(resources: list[dict[str, Any]], **fields: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(resources)
    patient = next(r for r in out if r["resourceType"] == "Patient")
    for key in ("deceasedBoolean", "deceasedDateTime"):
        patient.pop(key, None)
    patient.update(fields)
    return out


@pytest.mark.parametrize("service_id", sorted(CASES))
@pytest.mark.parametrize("birth", ["1950", "1950-07"])
def test_partial_birth_date_is_answered(
    client: EhrClient, services: dict[str, dict[str, Any]], service_id: str, birth: str
) -> None:
    cards = _patient_view(client, services[service_id], _with_patient(CASES[service_id](), birthDate=birth))
    assert all(len(c["summary"]) < 140 for c in cards)


@pytest.mark.parametrize("service_id", sorted(CASES))
@pytest.mark.parametrize(
    "deceased", [{"deceasedDateTime": "2016-12-10T02:39:21+00:00"}, {"deceasedBoolean": True}]
)
def test_no_patient_view_advice_for_a_deceased_patient(
    client: EhrClient, services: dict[str, dict[str, Any]], service_id: str, deceased: dict[str, Any]
) -> None:
    resources = CASES[service_id]()
    service = services[service_id]
    assert _patient_view(client, service, resources), "the living patient gets a card (control)"
    assert _patient_view(client, service, _with_patient(resources, **deceased)) == []


def _long_record(resources: list[dict[str, Any]], at_least_bytes: int) -> list[dict[str, Any]]:
    """The record with its observations repeated (new ids) until the prefetch passes ``at_least_bytes``."""
    obs = [r for r in resources if r["resourceType"] == "Observation"]
    size = sum(len(str(r)) for r in obs)
    copies = at_least_bytes // max(size, 1) + 1
    extra = [{**o, "id": f"{o['id']}-copy{k}"} for k in range(copies) for o in obs]
    return resources + extra


def test_a_long_record_over_one_megabyte_is_answered(
    client: EhrClient, every_service: CdsServer, services: dict[str, dict[str, Any]]
) -> None:
    assert every_service.app.config["MAX_CONTENT_LENGTH"] <= 1_048_576  # the app-wide limit stays small
    resources = _long_record(demo_resources("demo-multiproblem"), 2_000_000)
    cards = _patient_view(client, services["differentials"], resources)
    assert len(cards) == 1


def test_feedback_keeps_the_app_wide_body_limit(client: EhrClient) -> None:
    comment = "x" * 1_100_000
    item = {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-30T10:00:00Z"}
    item["overrideReason"] = {"userComment": comment}
    resp = client.feedback("record-summary", {"feedback": [item]})
    assert resp.status_code == 413


def test_a_body_over_the_hook_limit_is_refused(tmp_path: Path, key_host: KeyHost, ec_key: Any) -> None:
    srv = start_cds(tmp_path, key_host, cds_max_request_bytes=200_000)
    try:
        body = hook_body(
            {"id": "record-summary", "hook": "patient-view", "prefetch": {}}, store_of([]), "odd-1"
        )
        body["prefetch"] = {"labs": {"resourceType": "Bundle", "type": "searchset", "padding": "x" * 300_000}}
        resp = EhrClient(srv.url, ec_key).call("record-summary", body)
        assert resp.status_code == 413
        small = requests.post(f"{srv.url}/cds-services/record-summary", data="{}", timeout=10)
        assert small.status_code != 413
    finally:
        srv.server.stop()
