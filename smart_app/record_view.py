"""Reading the launched patient over FHIR into a ``PatientRecord`` plus per-panel availability.

The view needs six kinds of resources; they are fetched in parallel, each one only when the granted
scopes cover its type. A type that was not granted, or that the server refuses (403), degrades only its
panel ("not available"), never the page. Medications referenced by relative URL and not returned via
``_include`` are read one by one afterwards (SMART servers differ on ``_include`` support).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from clinical.fhir_client import FhirClient, FhirError, FhirForbidden, FhirUnauthorized, Query
from clinical.record import IngredientResolver, PatientRecord, build_patient_record

# panel → the resource type whose scope it needs
PANELS: dict[str, str] = {
    "medications": "MedicationRequest",
    "problems": "Condition",
    "allergies": "AllergyIntolerance",
    "labs": "Observation",
    "vitals": "Observation",
    "encounter": "Encounter",
}


@dataclass
class PanelStatus:
    state: str = "ok"  # ok | not-granted | forbidden | error
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass
class RecordView:
    record: PatientRecord
    panels: dict[str, PanelStatus] = field(default_factory=dict)
    resources: list[Any] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    fetch_ms: float = 0.0
    build_ms: float = 0.0
    requests_made: int = 0


def view_queries(patient_id: str, encounter_id: str | None, lab_count: int = 100) -> dict[str, Query]:
    queries = {
        "patient": Query("Patient", read_id=patient_id),
        "medications": Query(
            "MedicationRequest",
            {"patient": patient_id, "_include": "MedicationRequest:medication", "_count": "100"},
        ),
        "problems": Query("Condition", {"patient": patient_id, "_count": "100"}),
        "allergies": Query("AllergyIntolerance", {"patient": patient_id, "_count": "100"}),
        "labs": Query(
            "Observation",
            {"patient": patient_id, "category": "laboratory", "_sort": "-date", "_count": str(lab_count)},
        ),
        "vitals": Query(
            "Observation",
            {"patient": patient_id, "category": "vital-signs", "_sort": "-date", "_count": str(lab_count)},
        ),
        # Notes feed the in-process services (differentials read findings in them), as in the hook.
        "notes": Query("DocumentReference", {"patient": patient_id, "_count": "50"}),
    }
    if encounter_id:
        queries["encounter"] = Query("Encounter", read_id=encounter_id.rsplit("/", 1)[-1])
    return queries


def load_record_view(
    client: FhirClient,
    patient_id: str,
    *,
    encounter_id: str | None,
    granted_types: set[str],
    wildcard: bool,
    resolver: IngredientResolver | None = None,
) -> RecordView:
    """Fetch and assemble the view. Raises :class:`FhirUnauthorized` from any query (the caller
    refreshes and retries) and any :class:`FhirError` of the Patient read; every other failure
    degrades one panel."""
    t0 = time.perf_counter()
    panels: dict[str, PanelStatus] = {}
    queries: dict[str, Query] = {}
    for key, q in view_queries(patient_id, encounter_id).items():
        if key != "patient" and not wildcard and q.resource_type not in granted_types:
            panels[key] = PanelStatus("not-granted", f"{q.resource_type} access was not granted")
            continue
        queries[key] = q
    results = client.fetch_parallel(queries)
    for res in results.values():
        if isinstance(res, FhirUnauthorized):
            raise res
    patient_res = results.get("patient")
    if isinstance(patient_res, FhirError):
        # Without the Patient resource the page cannot show whose record it is: fail the page.
        raise patient_res
    resources: list[Any] = []
    truncated: list[str] = []
    warnings: list[str] = []
    for key, res in results.items():
        if isinstance(res, FhirError):
            state = "forbidden" if isinstance(res, FhirForbidden) else "error"
            text = (
                "access denied by the EHR" if state == "forbidden" else f"could not be loaded ({res.status})"
            )
            panels[key] = PanelStatus(state, text)
            continue
        panels.setdefault(key, PanelStatus())
        resources.extend(res.resources)
        warnings.extend(res.warnings)
        if res.truncated:
            truncated.append(key)
    resources.extend(_missing_medications(client, resources))
    fetched = time.perf_counter()
    record = build_patient_record(resources, resolver=resolver)
    record.warnings.extend(warnings)
    if not record.patient_id:
        record.patient_id = patient_id
    record.observations.sort(key=lambda o: o.effective.timestamp() if o.effective else 0.0, reverse=True)
    done = time.perf_counter()
    return RecordView(
        record=record,
        panels=panels,
        resources=resources,
        truncated=truncated,
        fetch_ms=(fetched - t0) * 1000,
        build_ms=(done - fetched) * 1000,
        requests_made=client.requests_made,
    )


def _missing_medications(client: FhirClient, resources: list[Any]) -> list[Any]:
    """Medication resources a MedicationRequest references relatively but the search did not include."""
    have = {r.id for r in resources if r.__resource_type__ == "Medication" and r.id}
    wanted: set[str] = set()
    for r in resources:
        if r.__resource_type__ != "MedicationRequest" or r.medicationReference is None:
            continue
        ref = r.medicationReference.reference or ""
        if ref.startswith("Medication/") and ref.split("/", 1)[1] not in have:
            wanted.add(ref.split("/", 1)[1])
    if not wanted:
        return []
    found = client.fetch_parallel({mid: Query("Medication", read_id=mid) for mid in sorted(wanted)})
    return [r for res in found.values() if not isinstance(res, FhirError) for r in res.resources]
