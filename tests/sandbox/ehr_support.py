"""Test support for the EHR shell and its CDS Hooks client.

* ``RecordingCdsService``: a tiny CDS Hooks 2.0 service (its own Flask app on a loopback port) that
  records every request (headers + body) and answers like a real service: a patient-view card, an
  order-select card with a delete suggestion for the selected draft and override reasons, an
  order-sign card, and feedback accepted at ``{service}/feedback``. It stands in for the product so
  the client can be tested end to end while the product's services are built elsewhere.
* ``write_test_patients``: a small FHIR R4 collection bundle (two patients) written to a folder, so
  these tests do not depend on the demo patients' exact contents.
* ``start_ehr``: the sandbox EHR + the recording service, wired through the sandbox settings.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, abort, jsonify, request

from sandbox.app import create_sandbox_app
from tests.support.live_server import LiveServer

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATIENT_ID = "ehr-test-patient"
OTHER_PATIENT_ID = "ehr-other-patient"

PATIENT_VIEW_PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "labs": "Observation?patient={{context.patientId}}&category=laboratory",
    "user": "Practitioner/{{userPractitionerId}}",
    "encounter": "Encounter/{{context.encounterId}}",
    "unanswerable": "Observation?patient={{context.patientId}}&component-code=1234-5",
}
ORDER_PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active"
    "&_include=MedicationRequest:medication",
}
OVERRIDE_REASONS = [
    {
        "system": "http://example.org/override",
        "code": "benefit-outweighs-risk",
        "display": "Benefit outweighs risk",
    },
    {"system": "http://example.org/override", "code": "will-monitor", "display": "Will monitor closely"},
]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class RecordingCdsService:
    """Discovery + three services + feedback; ``broken`` services answer 500, ``slow`` ones sleep."""

    calls: list[Recorded] = field(default_factory=list)
    feedback: list[Recorded] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    slow: dict[str, float] = field(default_factory=dict)
    discovery_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.feedback.clear()
            self.broken.clear()
            self.slow.clear()
            self.discovery_status = 200

    def of_hook(self, hook: str) -> list[Recorded]:
        return [c for c in self.calls if c.body.get("hook") == hook]

    def services(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "test-patient-view",
                "hook": "patient-view",
                "title": "Test summary",
                "description": "records patient-view",
                "prefetch": PATIENT_VIEW_PREFETCH,
            },
            {
                "id": "test-order-select",
                "hook": "order-select",
                "title": "Test interactions",
                "description": "records order-select",
                "prefetch": ORDER_PREFETCH,
            },
            {
                "id": "test-order-sign",
                "hook": "order-sign",
                "title": "Test sign check",
                "description": "records order-sign",
                "prefetch": ORDER_PREFETCH,
            },
            {
                "id": "test-broken",
                "hook": "patient-view",
                "title": "Broken service",
                "description": "fails when asked to",
            },
        ]

    def create_app(self) -> Flask:
        app = Flask("recording_cds_service")
        by_id = {s["id"]: s for s in self.services()}

        @app.get("/cds-services")
        def discovery() -> Response:
            if self.discovery_status != 200:
                abort(self.discovery_status)
            return jsonify({"services": self.services()})

        @app.post("/cds-services/<service_id>")
        def call(service_id: str) -> Response:
            if service_id not in by_id:
                abort(404)
            body = json.loads(request.get_data(as_text=True))
            with self.lock:
                self.calls.append(Recorded(request.path, dict(request.headers), body))
            time.sleep(self.slow.get(service_id, 0.0))
            if service_id in self.broken:
                abort(500)
            return jsonify({"cards": self._cards(service_id, body)})

        @app.post("/cds-services/<service_id>/feedback")
        def feedback(service_id: str) -> Response:
            body = json.loads(request.get_data(as_text=True))
            with self.lock:
                self.feedback.append(Recorded(request.path, dict(request.headers), body))
            return jsonify({})

        return app

    def _cards(self, service_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        source = {"label": "Test guideline §2", "url": "https://example.org/guideline#s2"}
        if service_id == "test-patient-view":
            return [
                {
                    "uuid": "card-pv-1",
                    "summary": "Record summary from the test service",
                    "detail": "**Bold** advice <script>alert(1)</script>",
                    "indicator": "info",
                    "source": source,
                    "links": [
                        {
                            "label": "Open evidence",
                            "url": "http://127.0.0.1:9/app/launch",
                            "type": "smart",
                            "appContext": "topic=summary",
                        },
                        {"label": "Guideline", "url": "https://example.org/g", "type": "absolute"},
                    ],
                }
            ]
        if service_id == "test-order-select":
            selected = body["context"]["selections"][0]
            entries = body["context"]["draftOrders"]["entry"]
            label = next(
                e["resource"]["medicationCodeableConcept"]["text"]
                for e in entries
                if f"MedicationRequest/{e['resource']['id']}" == selected
            )
            return [
                {
                    "uuid": f"card-os-{selected.rsplit('/', 1)[1]}",
                    "summary": f"Interaction check: {label}",
                    "indicator": "warning",
                    "source": source,
                    "suggestions": [
                        {
                            "label": "Cancel this order",
                            "uuid": "sug-cancel",
                            "actions": [
                                {"type": "delete", "description": "remove draft", "resourceId": selected}
                            ],
                        },
                        {
                            "label": "Add omeprazole 20 mg",
                            "uuid": "sug-ppi",
                            "actions": [
                                {
                                    "type": "create",
                                    "description": "add a PPI",
                                    "resource": {
                                        "resourceType": "MedicationRequest",
                                        "status": "draft",
                                        "intent": "order",
                                        "medicationCodeableConcept": {
                                            "coding": [{"system": RXNORM, "code": "198051"}],
                                            "text": "omeprazole 20 MG (suggested)",
                                        },
                                        "subject": {"reference": f"Patient/{body['context']['patientId']}"},
                                    },
                                }
                            ],
                        },
                    ],
                    "selectionBehavior": "at-most-one",
                    "overrideReasons": OVERRIDE_REASONS,
                }
            ]
        if service_id == "test-order-sign":
            n = len(body["context"]["draftOrders"]["entry"])
            return [
                {
                    "uuid": "card-sign-1",
                    "summary": f"{n} draft order(s) reviewed",
                    "indicator": "critical",
                    "source": {"label": "Test sign check"},
                }
            ]
        return []


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def ehr_test_bundle() -> dict[str, Any]:
    """Two patients; the first with active/resolved problems, meds, labs, vitals and two encounters."""
    p, o = PATIENT_ID, OTHER_PATIENT_ID
    snomed, loinc = "http://snomed.info/sct", "http://loinc.org"
    lab = [_coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")]
    vital = [
        _coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital signs")
    ]
    active = _coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")
    resolved = _coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "Resolved")
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": p,
            "gender": "male",
            "birthDate": "1948-03-02",
            "name": [{"use": "official", "family": "Testerson", "given": ["Walter"]}],
            "identifier": [
                {
                    "type": _coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "MRN"),
                    "value": "MRN-0042",
                }
            ],
        },
        {
            "resourceType": "Patient",
            "id": o,
            "gender": "female",
            "birthDate": "1980-01-01",
            "name": [{"family": "Otherly", "given": ["Olga"]}],
        },
        {
            "resourceType": "Practitioner",
            "id": "demo-practitioner",
            "name": [{"family": "Demo", "given": ["Dana"]}],
        },
        {
            "resourceType": "Encounter",
            "id": "enc-old",
            "status": "finished",
            "subject": {"reference": f"Patient/{p}"},
            "period": {"start": "2025-01-01T09:00:00Z"},
        },
        {
            "resourceType": "Encounter",
            "id": "enc-now",
            "status": "in-progress",
            "subject": {"reference": f"Patient/{p}"},
            "period": {"start": "2026-11-30T08:00:00Z"},
        },
        {
            "resourceType": "Condition",
            "id": "cond-af",
            "subject": {"reference": f"Patient/{p}"},
            "clinicalStatus": active,
            "code": _coding(snomed, "49436004", "Atrial fibrillation"),
        },
        {
            "resourceType": "Condition",
            "id": "cond-old",
            "subject": {"reference": f"Patient/{p}"},
            "clinicalStatus": resolved,
            "code": _coding(snomed, "195662009", "Acute viral pharyngitis"),
        },
        {
            "resourceType": "Condition",
            "id": "cond-other",
            "subject": {"reference": f"Patient/{o}"},
            "clinicalStatus": active,
            "code": _coding(snomed, "38341003", "Hypertension"),
        },
        {
            "resourceType": "Medication",
            "id": "med-digoxin",
            "code": _coding(RXNORM, "197604", "digoxin 0.125 MG Oral Tablet"),
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-warfarin",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{p}"},
            "medicationCodeableConcept": _coding(RXNORM, "855332", "warfarin sodium 5 MG Oral Tablet"),
            "dosageInstruction": [{"text": "5 mg once daily"}],
            "authoredOn": "2026-10-01",
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-digoxin",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{p}"},
            "medicationReference": {"reference": "Medication/med-digoxin"},
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-stopped",
            "status": "stopped",
            "intent": "order",
            "subject": {"reference": f"Patient/{p}"},
            "medicationCodeableConcept": _coding(RXNORM, "310965", "ibuprofen 200 MG Oral Tablet"),
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr-other",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{o}"},
            "medicationCodeableConcept": _coding(RXNORM, "314076", "lisinopril 10 MG Oral Tablet"),
        },
        {
            "resourceType": "Observation",
            "id": "obs-inr",
            "status": "final",
            "category": lab,
            "subject": {"reference": f"Patient/{p}"},
            "code": _coding(loinc, "6301-6", "INR"),
            "effectiveDateTime": "2026-11-20T08:00:00Z",
            "valueQuantity": {"value": 2.8, "unit": "{INR}"},
            "interpretation": [
                _coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H", "High")
            ],
        },
        {
            "resourceType": "Observation",
            "id": "obs-k",
            "status": "final",
            "category": lab,
            "subject": {"reference": f"Patient/{p}"},
            "code": _coding(loinc, "2823-3", "Potassium"),
            "effectiveDateTime": "2026-09-01T08:00:00Z",
            "valueQuantity": {"value": 4.1, "unit": "mmol/L"},
        },
        {
            "resourceType": "Observation",
            "id": "obs-bp",
            "status": "final",
            "category": vital,
            "subject": {"reference": f"Patient/{p}"},
            "code": _coding(loinc, "8480-6", "Systolic blood pressure"),
            "effectiveDateTime": "2026-11-20T08:00:00Z",
            "valueQuantity": {"value": 142, "unit": "mm[Hg]"},
        },
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def write_test_patients(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ehr-test.json").write_text(json.dumps(ehr_test_bundle()), encoding="utf-8")
    return folder


@dataclass
class EhrUnderTest:
    sandbox: Flask
    sandbox_server: LiveServer
    cds: RecordingCdsService
    cds_server: LiveServer
    state_dir: Path

    @property
    def url(self) -> str:
        return self.sandbox_server.url

    @property
    def discovery_url(self) -> str:
        return f"{self.cds_server.url}/cds-services"

    def stop(self) -> None:
        self.sandbox_server.stop()
        self.cds_server.stop()


def start_ehr(tmp: Path, overrides: dict[str, Any] | None = None) -> EhrUnderTest:
    cds = RecordingCdsService()
    cds_server = LiveServer().start(cds.create_app())
    sandbox_server = LiveServer()
    config: dict[str, Any] = {
        "base_url": sandbox_server.url,
        "app_base_url": cds_server.url,  # the iframe points at the stand-in's origin
        "cds_discovery_url": f"{cds_server.url}/cds-services",
        "patients": write_test_patients(tmp / "patients"),
        "state_dir": tmp / "state",
        "testing": True,
        "secret_key": "ehr-test-secret",
        "cds_discovery_ttl_s": 0.0,
        "cds_timeout_s": 3.0,
    }
    config.update(overrides or {})
    sandbox = create_sandbox_app(config)
    sandbox_server.start(sandbox)
    return EhrUnderTest(sandbox, sandbox_server, cds, cds_server, tmp / "state")


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EhrUnderTest]:
    running = start_ehr(tmp_path_factory.mktemp("ehr"))
    yield running
    running.stop()


@pytest.fixture
def cds(ehr: EhrUnderTest) -> RecordingCdsService:
    """The recording service of ``ehr``, emptied for this test."""
    ehr.cds.reset()
    return ehr.cds
