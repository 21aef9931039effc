"""Service ``trial-matching`` over real HTTP: the card for the demo patient who fits the demo trial,
silence for one who fits none, the settings that move the bar, and the card in the sandbox EHR."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.cds_services.conftest import (
    CdsServer,
    EhrClient,
    KeyHost,
    demo_resources,
    patient_view,
    searchset,
    start_cds,
)
from tests.conftest import System

MODULE = "cds_services.services.trial_matching"
SERVICE = "trial-matching"


@pytest.fixture(scope="module")
def trials_cds(tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost) -> Iterator[CdsServer]:
    srv = start_cds(tmp_path_factory.mktemp("trials"), key_host, cds_service_modules=[MODULE])
    yield srv
    srv.server.stop()


@pytest.fixture
def client(trials_cds: CdsServer, ec_key: Any) -> EhrClient:
    return EhrClient(trials_cds.url, ec_key)


def prefetch_for(patient_id: str) -> dict[str, Any]:
    resources = demo_resources(patient_id)
    by = lambda t: [r for r in resources if r["resourceType"] == t]  # noqa: E731
    return {
        "patient": by("Patient")[0],
        "conditions": searchset(by("Condition")),
        "medications": searchset([r for r in by("MedicationRequest") if r.get("status") == "active"]),
        "observations": searchset(by("Observation")),
        "notes": searchset(by("DocumentReference")),
    }


def test_discovery_advertises_the_service(client: EhrClient) -> None:
    services = requests.get(f"{client.base_url}/cds-services", timeout=10).json()["services"]
    entry = next(s for s in services if s["id"] == SERVICE)
    assert entry["hook"] == "patient-view"
    assert set(entry["prefetch"]) == {"patient", "conditions", "medications", "observations", "notes"}


def test_demo_patient_gets_one_card_naming_the_demo_trial(client: EhrClient, trials_cds: CdsServer) -> None:
    resp = client.call(SERVICE, patient_view("demo-trial", prefetch_for("demo-trial")))
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    assert card["indicator"] == "info"
    assert re.match(r"^\d+ recruiting trials? may fit: ", card["summary"]) and len(card["summary"]) < 140
    assert "Adding a Once-Weekly Oral Agent to Metformin" in card["summary"]
    assert "DEMO-T2DM-001" in card["detail"] and "fictional" in card["detail"]
    smart = card["links"][0]
    assert smart["type"] == "smart" and smart["url"] == f"{trials_cds.url}/app/launch"
    context = json.loads(smart["appContext"])
    assert context["view"] == "trials" and context["trials"][0] == "DEMO-T2DM-001"
    # Never the insulin-only, CKD-stage-3, male-only or completed trials.
    assert not {"DEMO-T2DM-INS-004", "DEMO-CKD-003", "DEMO-PROST-007", "DEMO-T1DM-005"} & set(
        context["trials"]
    )
    assert card["source"]["label"].endswith("(fictional)")


def test_no_fitting_trial_means_no_card(client: EhrClient) -> None:
    resp = client.call(SERVICE, patient_view("demo-digoxin", prefetch_for("demo-digoxin")))
    assert resp.status_code == 200 and resp.json() == {"cards": []}


@pytest.mark.parametrize(
    ("overrides", "cards"),
    [
        ({"trials_card_min_fit": 1.01}, 0),  # a bar no trial can pass
        ({"trials_locations": ["Reykjavik"]}, 0),  # no demo site there
        ({"trials_locations": ["Springfield"]}, 1),
        ({"trials_include_demo": False}, 0),
    ],
)
def test_settings_move_the_bar(
    tmp_path_factory: pytest.TempPathFactory,
    key_host: KeyHost,
    ec_key: Any,
    overrides: dict[str, Any],
    cards: int,
) -> None:
    srv = start_cds(
        tmp_path_factory.mktemp("trials-cfg"), key_host, cds_service_modules=[MODULE], **overrides
    )
    try:
        resp = EhrClient(srv.url, ec_key).call(
            SERVICE, patient_view("demo-trial", prefetch_for("demo-trial"))
        )
        assert resp.status_code == 200 and len(resp.json()["cards"]) == cards
    finally:
        srv.server.stop()


def test_card_shows_in_the_sandbox_ehr_for_the_demo_patient(system: System) -> None:
    page = requests.get(f"{system.ehr_url}/chart/demo-trial", timeout=10).text
    sid = re.search(r"/ehr/([0-9a-f]{32})/", page)
    assert sid is not None
    panel = requests.post(
        f"{system.ehr_url}/ehr/{sid.group(1)}/hooks/patient-view", headers={"HX-Request": "true"}, timeout=30
    )
    assert panel.status_code == 200
    assert "may fit" in panel.text and "Adding a Once-Weekly Oral Agent to Metformin" in panel.text
    assert 'class="cds-error" data-service="trial-matching"' not in panel.text


def test_a_damaged_trial_release_gives_no_card_not_an_error(
    tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost, ec_key: Any
) -> None:
    srv = start_cds(tmp_path_factory.mktemp("trials-broken"), key_host, cds_service_modules=[MODULE])
    try:
        trials_dir = srv.app.extensions["settings"].resolved_trials_dir()
        trials_dir.mkdir(parents=True)
        (trials_dir / "CURRENT").write_text("trials-20260101T000000000000-deadbeef\n")  # points nowhere
        resp = EhrClient(srv.url, ec_key).call(
            SERVICE, patient_view("demo-trial", prefetch_for("demo-trial"))
        )
        assert resp.status_code == 200 and resp.json() == {"cards": []}
    finally:
        srv.server.stop()
