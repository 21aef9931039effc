"""Importer: modern API JSON (single, list, page, JSONL), classic XML, BEIR corpus rows, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.trials.demo import DEMO_DIR
from knowledge.trials.importer import TrialImportError, import_file, import_files, parse_age

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize(
    ("text", "years"),
    [("18 Years", 18.0), ("75 Years", 75.0), ("6 Months", 0.5), ("N/A", None), ("", None), (None, None)],
)
def test_parse_age(text: str | None, years: float | None) -> None:
    assert parse_age(text) == years


def test_modern_json_keeps_fields_and_splits_criteria() -> None:
    [trial] = import_file(DEMO_DIR / "DEMO-T2DM-001.json")
    assert trial.nct_id == "DEMO-T2DM-001" and trial.is_demo and trial.registry_url is None
    assert trial.status == "RECRUITING" and trial.is_recruiting
    assert (trial.minimum_age_years, trial.maximum_age_years, trial.sex) == (18.0, 75.0, "ALL")
    assert trial.conditions == ["Type 2 Diabetes Mellitus"] and trial.phase == "PHASE3"
    assert trial.locations[0].city == "Springfield"
    assert [c.text for c in trial.inclusion][:2] == [
        "Age 18 to 75 years",
        "Diagnosis of type 2 diabetes mellitus",
    ]
    assert len(trial.inclusion) == 4 and len(trial.exclusion) == 5
    assert {c.kind for c in trial.exclusion} == {"exclusion"}


@pytest.mark.parametrize("shape", ["list", "page", "jsonl"])
def test_modern_json_containers(shape: str, tmp_path: Path) -> None:
    studies = [json.loads(p.read_text()) for p in sorted(DEMO_DIR.glob("*.json"))]
    path = tmp_path / ("studies.jsonl" if shape == "jsonl" else "studies.json")
    if shape == "list":
        path.write_text(json.dumps(studies))
    elif shape == "page":
        path.write_text(json.dumps({"studies": studies, "nextPageToken": None}))
    else:
        path.write_text("\n".join(json.dumps(s) for s in studies))
    assert sorted(t.nct_id for t in import_file(path)) == sorted(p.stem for p in DEMO_DIR.glob("*.json"))


def test_classic_xml() -> None:
    [trial] = import_file(DATA / "classic_study.xml")
    assert trial.nct_id == "DEMO-XML-001"
    assert trial.status == "RECRUITING" and trial.phase == "Phase 2"
    assert trial.conditions == ["Stroke", "Hypertension"]
    assert trial.interventions == ["Home blood pressure telemonitor"]
    assert (trial.minimum_age_years, trial.maximum_age_years, trial.sex) == (40.0, None, "MALE")
    assert trial.healthy_volunteers is False
    assert [c.text for c in trial.inclusion] == [
        "Ischaemic stroke within the last 6 months",
        "Systolic blood pressure of at least 140 mm Hg on two occasions",
    ]
    assert [c.text for c in trial.exclusion] == ["Atrial fibrillation", "Pregnancy"]
    assert trial.locations[0].label() == "Test Stroke Unit (fictional), Leeds, United Kingdom"


def test_corpus_rows_and_later_files_replace_earlier(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text('{"_id": "X1", "text": "first"}\n{"_id": "X2", "text": "other"}\n')
    b = tmp_path / "b.jsonl"
    b.write_text('{"_id": "X1", "text": "second"}\n')
    trials = {t.nct_id: t for t in import_files([a, b])}
    assert trials["X1"].brief_summary == "second" and trials["X2"].status == "UNKNOWN"
    assert not trials["X1"].criteria


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.json", "{not json"),
        ("bad.xml", "<clinical_study><id_info>"),
        ("noid.json", '{"protocolSection": {"identificationModule": {}}}'),
        ("other.json", '{"resourceType": "Patient"}'),
        ("other.xml", "<feed/>"),
        (
            "bomb.xml",
            '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><clinical_study>&b;</clinical_study>',
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(name: str, content: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TrialImportError):
        import_file(path)
