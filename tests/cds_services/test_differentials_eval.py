"""``evidence-cds ddx eval``: the service's pipeline over JSON-lines cases, accuracy table and report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from evidence_cds.cli import main as cli

CASES = [
    {
        "id": "c1",
        "text": "Chief complaint: abdominal pain. Pain started around the umbilicus and migrated to the "
        "right lower quadrant over 12 hours, with anorexia, nausea and vomiting. Low-grade fever. "
        "No diarrhea.",
        "age": 19,
        "sex": "male",
        "diagnosis": "Appendicitis",
    },
    {
        "id": "c2",
        "text": "Sudden pleuritic chest pain and shortness of breath two days after hip surgery. "
        "Heart rate 118, SpO2 89%. Left calf swelling. No fever, no cough.",
        "age": 64,
        "sex": "female",
        "diagnosis": "Pulmonary Embolism",
    },
    {"id": "c3", "text": "Feels well today.", "diagnosis": "Widget syndrome"},
]


def test_eval_prints_the_table_and_writes_the_per_case_report(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in CASES))
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["ddx", "eval", str(cases), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert (
        "| top-1 | top-3 | top-10 | gold in KB | gold with findings | top-1/3/10 on those |" in result.output
    )
    data = json.loads(report.read_text())
    assert data["n"] == 3
    by_id = {c["id"]: c for c in data["cases"]}
    assert by_id["c1"]["rank"] == 1 and by_id["c2"]["rank"] is not None and by_id["c2"]["rank"] <= 3
    assert by_id["c3"]["rank"] is None and by_id["c3"]["in_kb"] is False and by_id["c3"]["predictions"] == []
    assert "fever" in by_id["c2"]["findings_absent"] and "tachycardia" in by_id["c2"]["findings_present"]
    assert abs(data["top"]["top3"] - 2 / 3) < 1e-9
    # the unknown "Widget syndrome" is no rankable gold: the ranking's own accuracy leaves it out
    assert by_id["c1"]["rankable"] and not by_id["c3"]["rankable"]
    assert data["rankable"] == 2 / 3 and data["top_rankable"]["top3"] == 1.0


def test_eval_rejects_a_malformed_line(tmp_path: Path) -> None:
    cases = tmp_path / "bad.jsonl"
    cases.write_text('{"id": "x", "text": "cough"}\n')
    result = CliRunner().invoke(cli, ["ddx", "eval", str(cases)])
    assert result.exit_code != 0 and "bad.jsonl:1" in result.output
