"""PatientStore loading: transaction bundles with urn:uuid references, compartments, bad files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.store import BundleLoadError, PatientStore, read_bundle


def transaction_bundle() -> dict[str, Any]:
    pid, eid = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{pid}",
                "resource": {"resourceType": "Patient", "id": pid},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": f"urn:uuid:{eid}",
                "resource": {
                    "resourceType": "Encounter",
                    "id": eid,
                    "status": "finished",
                    "subject": {"reference": f"urn:uuid:{pid}"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "fullUrl": "urn:uuid:33333333-3333-4333-8333-333333333333",
                "resource": {
                    "resourceType": "Observation",
                    "id": "33333333-3333-4333-8333-333333333333",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": f"urn:uuid:{pid}"},
                    "encounter": {"reference": f"urn:uuid:{eid}"},
                    "hasMember": [{"reference": "urn:uuid:not-in-bundle"}],
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_file_and_in_memory_loads_agree(tmp_path: Path, suffix: str) -> None:
    bundle = transaction_bundle()
    path = tmp_path / f"p{suffix}"
    text = json.dumps(bundle)
    if suffix.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    from_file = PatientStore.from_folder(tmp_path)
    in_memory = PatientStore()
    in_memory.add_bundle(json.loads(text))
    pid = bundle["entry"][0]["resource"]["id"]
    for store in (from_file, in_memory):
        obs = store.get("Observation", "33333333-3333-4333-8333-333333333333")
        assert obs is not None
        assert obs["subject"] == {"reference": f"Patient/{pid}"}
        assert obs["encounter"]["reference"] == "Encounter/22222222-2222-4222-8222-222222222222"
        assert obs["hasMember"] == [{"reference": "urn:uuid:not-in-bundle"}]  # unknown urn left as is
        assert {r["id"] for r in store.for_patient(pid, "Encounter")} == {
            "22222222-2222-4222-8222-222222222222"
        }
        assert store.in_compartment(pid, obs) and not store.in_compartment("someone-else", obs)
    assert json.dumps(from_file.get("Observation", "33333333-3333-4333-8333-333333333333")) == json.dumps(
        in_memory.get("Observation", "33333333-3333-4333-8333-333333333333")
    )


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"resourceType": "Patient", "id": "x"}'])
def test_files_that_are_not_bundles_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BundleLoadError):
        read_bundle(path)
