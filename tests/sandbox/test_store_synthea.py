"""All 150 Synthea R4 transaction bundles load into the sandbox as they are, and are served correctly."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle

from sandbox.fhir_params import SUPPORTED_TYPES
from tests.sandbox.smart_support import start_sandbox


@pytest.mark.slow
def test_all_synthea_bundles_load_and_serve(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "synthea-r4"
    with (folder / "manifest.csv").open(encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh))
    assert len(manifest) == 150
    server, app = start_sandbox(tmp_path, patients=folder)
    try:
        store = app.extensions["sandbox_store"]
        patients = store.patients()
        assert len(patients) == len(manifest)
        ready = requests.get(f"{server.url}/readyz", timeout=10).json()
        assert ready["patients"] == 150 and ready["resources"] == store.count()
        # Per-file counts from the manifest match what each patient's compartment holds, and no
        # transaction-internal urn:uuid reference survives the load.
        row = next(r for r in manifest if int(r["n_MedicationRequest"]) > 0 and int(r["n_Observation"]) > 0)
        with gzip.open(folder / row["file"], "rt", encoding="utf-8") as fh:
            patient_id = next(
                e["resource"]["id"]
                for e in json.load(fh)["entry"]
                if e["resource"]["resourceType"] == "Patient"
            )
        for rtype in ("MedicationRequest", "Condition", "Observation", "AllergyIntolerance"):
            assert len(store.for_patient(patient_id, rtype)) == int(row[f"n_{rtype}"]), rtype
        for rtype in SUPPORTED_TYPES:
            for res in store.for_patient(patient_id, rtype):
                assert "urn:uuid:" not in json.dumps(res), f"{rtype}/{res['id']}"
        # Served through the API under the epic flavour (inline medications become references).
        mint = app.extensions["sandbox_mint_access_token"]
        token = mint(patient_id, "patient/MedicationRequest.rs patient/Medication.rs", "evidence-cds", "epic")
        resp = requests.get(
            f"{server.url}/fhir/MedicationRequest",
            params={"patient": patient_id, "_include": "MedicationRequest:medication", "_count": "500"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        bundle = resp.json()
        Bundle.model_validate(bundle)
        assert bundle["total"] == int(row["n_MedicationRequest"])
        assert all(
            "medicationReference" in e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"
        )
        assert any(e["search"]["mode"] == "include" for e in bundle["entry"])
    finally:
        server.stop()
