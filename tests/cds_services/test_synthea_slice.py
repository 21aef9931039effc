"""Every service, patient-view (and order-select per active medication), on a slice of real Synthea
patients through the HTTP endpoint: no 5xx, valid cards, no error in the audit trail.

The slice is chosen from the shared folder's ``manifest.csv`` by shape, not by outcome: the longest
record, the living and the deceased patient with the most active medications, a patient on a
co-prescribed interacting pair, and the living one with the fewest active medications.
``bench/synthea_sweep.py`` runs the same checks over all 150.
"""

from __future__ import annotations

import copy
import csv
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_services.models import Card
from sandbox.store import PatientStore, read_bundle
from tests.cds_services.all_services import discovery, hook_body, start_all_services
from tests.cds_services.conftest import CdsServer, EhrClient, KeyHost, wait_for_audit


def _slice(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["birthDate"]]

    def meds(r: dict[str, str]) -> int:
        return int(r["n_active_meds"] or 0)

    picks = [
        max(rows, key=lambda r: int(r["n_Observation"] or 0)),
        max((r for r in rows if not r["deceased"]), key=meds),
        max((r for r in rows if r["deceased"]), key=meds),
        next(r for r in rows if "both active" in r["candidate_ddi_pairs"]),
        min((r for r in rows if not r["deceased"]), key=meds),
    ]
    return list({r["file"]: r for r in picks}.values())


@pytest.fixture(scope="module")
def synthea(shared_data: Path) -> tuple[PatientStore, list[tuple[str, bool]]]:
    folder = shared_data / "synthea-r4"
    store = PatientStore()
    patients: list[tuple[str, bool]] = []
    for row in _slice(folder):
        bundle = read_bundle(folder / row["file"])
        store.add_bundle(bundle, refs_resolved=True)
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        patients.append((patient["id"], bool(row["deceased"])))
    return store, patients


@pytest.fixture(scope="module")
def every_service(tmp_path_factory: pytest.TempPathFactory, key_host: KeyHost) -> Iterator[CdsServer]:
    srv = start_all_services(tmp_path_factory.mktemp("synthea"), key_host)
    yield srv
    srv.server.stop()


def _draft(original: dict[str, Any]) -> dict[str, Any]:
    """The EHR's "re-order": the same medication and dosage as a new draft."""
    draft = copy.deepcopy(original)
    draft.update(id=f"draft-{uuid.uuid4().hex[:10]}", status="draft", intent="order")
    return draft


def _checked(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text[:300]
    cards: list[dict[str, Any]] = resp.json()["cards"]
    for card in cards:
        Card.model_validate(card)  # summary < 140, indicator, source label, suggestion rules
        assert card["source"]["label"].strip()
    return cards


def test_every_service_answers_real_synthea_patients(
    synthea: tuple[PatientStore, list[tuple[str, bool]]], every_service: CdsServer, ec_key: Any
) -> None:
    store, patients = synthea
    services = discovery(every_service)
    assert {"patient-view", "order-select"} <= {s["hook"] for s in services.values()}
    client = EhrClient(every_service.url, ec_key)
    calls = 0
    for patient_id, deceased in patients:
        for svc in (s for s in services.values() if s["hook"] == "patient-view"):
            cards = _checked(client.call(svc["id"], hook_body(svc, store, patient_id)))
            calls += 1
            if deceased:
                assert cards == [], f"{svc['id']} advised on a deceased patient"
        active = [
            r for r in store.for_patient(patient_id, "MedicationRequest") if r.get("status") == "active"
        ]
        for med in active:
            for svc in (s for s in services.values() if s["hook"] == "order-select"):
                for card in _checked(client.call(svc["id"], hook_body(svc, store, patient_id, _draft(med)))):
                    assert " + " in card["summary"]  # an interaction card names the drug and its partner
                calls += 1
    rows = wait_for_audit(every_service.app, calls)
    assert len(rows) >= calls
    assert [r for r in rows if r.outcome == "error"] == []
