"""The product with every shipped service, warmed up, and hook bodies built the way the sandbox EHR
builds them (its prefetch evaluator over a :class:`~sandbox.store.PatientStore`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import requests

from cds_services.services import SERVICE_MODULES
from cds_services.serving import warm_up_app
from sandbox.prefetch import PrefetchContext, build_prefetch
from sandbox.store import PatientStore
from tests.cds_services.conftest import CdsServer, KeyHost, start_cds

USER = "Practitioner/demo-practitioner"


def start_all_services(tmp: Path, key_host: KeyHost) -> CdsServer:
    srv = start_cds(tmp, key_host, cds_service_modules=list(SERVICE_MODULES))
    warm_up_app(srv.app)  # NLP pipeline and KBs, as each gunicorn worker does before its first call
    return srv


def discovery(srv: CdsServer) -> dict[str, dict[str, Any]]:
    """The discovery entries (id → entry) the product publishes."""
    services = requests.get(f"{srv.url}/cds-services", timeout=10).json()["services"]
    return {s["id"]: s for s in services}


def hook_body(
    service: dict[str, Any], store: PatientStore, patient_id: str, draft: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The body the sandbox's CDS client sends ``service`` for this patient (and draft order)."""
    ctx = PrefetchContext(patient_id, USER, None)
    context: dict[str, Any] = {"userId": USER, "patientId": patient_id}
    if draft is not None:
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": draft}],
        }
        if service["hook"] == "order-select":
            context["selections"] = [f"MedicationRequest/{draft['id']}"]
    return {
        "hook": service["hook"],
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": build_prefetch(
            service.get("prefetch") or {}, ctx, store, "https://ehr.test.example/fhir"
        ),
    }


def store_of(resources: list[dict[str, Any]]) -> PatientStore:
    store = PatientStore()
    for r in resources:
        store.add(r)
    return store
