"""The app's trial view as data (the pure function ``smart_app.trial_view`` renders), for the demo patient."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from cds_services.services.trial_view import trials_for_record
from clinical.record import build_patient_record
from tests.support.demo_patients import demo_bundle

PATIENTS = Path(__file__).resolve().parents[2] / "sandbox" / "patients"


def test_trial_rows_carry_the_criterion_table(app: Flask) -> None:
    record = build_patient_record([demo_bundle("demo-trial")])
    profile, rows = trials_for_record(record, app.extensions["settings"])
    assert profile.age_years == 54.0
    first = rows[0]
    assert first.nct_id == "DEMO-T2DM-001" and first.verdict == "may_fit" and first.registry_url is None
    statuses = {c.criterion_id: c.status for c in first.criteria}
    assert statuses["inc-3"] == "met" and statuses["exc-2"] == "not_met"
    hba1c = next(c for c in first.criteria if c.criterion_id == "inc-3")
    assert hba1c.source_id == "demo-trial-obs-a1c" and hba1c.rule_type == "lab"
    assert {r.nct_id: r.verdict for r in rows}["DEMO-T2DM-INS-004"] == "excluded"
    assert "DEMO-T1DM-005" not in {r.nct_id for r in rows}  # completed: filtered
    assert first.met_summary.startswith("5/5 inclusion met, no exclusion met")
