"""What a demo patient's bundle says (read from the sandbox's own files, never hard-coded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.demo_patients import demo_bundle

PATIENTS_DIR = Path(__file__).resolve().parents[2] / "sandbox" / "patients"


@dataclass
class Expected:
    name: str
    medications: list[str]
    problems: list[str]


def _text(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for c in concept.get("coding") or []:
        if c.get("display"):
            return str(c["display"])
    return ""


def expected(patient_id: str) -> Expected:
    bundle = demo_bundle(patient_id)
    res = [e["resource"] for e in bundle.get("entry", [])]
    patient = next(r for r in res if r["resourceType"] == "Patient" and r["id"] == patient_id)
    n = patient["name"][0]
    name = n.get("text") or " ".join([*n.get("given", []), n.get("family", "")]).strip()
    meds = [
        _text(r.get("medicationCodeableConcept"))
        for r in res
        if r["resourceType"] == "MedicationRequest" and r.get("status") == "active"
    ]
    problems = [
        _text(r.get("code"))
        for r in res
        if r["resourceType"] == "Condition"
        and (r.get("clinicalStatus") or {}).get("coding", [{}])[0].get("code", "active") == "active"
    ]
    return Expected(name=name, medications=[m for m in meds if m], problems=[p for p in problems if p])
