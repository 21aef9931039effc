"""Retrieval metrics on hand-computed cases, and the eval CLI end to end on a tiny set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_services.services.trial_cli import trials_group
from knowledge.trials.demo import DEMO_DIR
from knowledge.trials.evaluation import ndcg_at, precision_at, read_qrels, recall_at

JUDGED = {"a": 2, "b": 1, "c": 0, "d": 1}


@pytest.mark.parametrize(
    ("ranked", "expected"),
    [
        (["a", "b", "d"], 1.0),
        (["c", "x", "y"], 0.0),
        (
            ["b", "a"],
            (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3) + 1 / math.log2(4)),
        ),
    ],
)
def test_ndcg(ranked: list[str], expected: float) -> None:
    assert ndcg_at(ranked, JUDGED) == pytest.approx(expected)


def test_precision_and_recall() -> None:
    ranked = ["a", "c", "x", "b"]
    assert precision_at(ranked, JUDGED, 10) == pytest.approx(0.2)
    assert recall_at(ranked, JUDGED, 2) == pytest.approx(1 / 3)
    assert recall_at(ranked, JUDGED, 100) == pytest.approx(2 / 3)


def test_qrels_reader_skips_header(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\tA\t2\nq1\tB\t0\n")
    assert read_qrels(path) == {"q1": {"A": 2, "B": 0}}


def test_eval_command_prints_every_mode_and_writes_the_report(tmp_path: Path) -> None:
    studies = [json.loads(p.read_text()) for p in sorted(DEMO_DIR.glob("*.json"))]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(s) for s in studies))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps(
            {"_id": "q1", "text": "A 54-year-old woman with type 2 diabetes on metformin, HbA1c 8.4%."}
        )
        + "\n"
        + json.dumps({"_id": "q2", "text": "A 70-year-old man with atrial fibrillation taking warfarin."})
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tDEMO-T2DM-001\t2\nq2\tDEMO-AF-002\t2\n")
    report = tmp_path / "report.json"
    args = ["eval", "--queries", str(queries), "--corpus", str(corpus), "--qrels", str(qrels)]
    result = CliRunner().invoke(trials_group, [*args, "--mode", "all", "--report", str(report)])
    assert result.exit_code == 0, result.output
    lines = {
        line.split()[0]: line.split() for line in result.output.splitlines() if line and line[0] in "bdh"
    }
    assert set(lines) == {"bm25", "dense", "hybrid", "hybrid+prf", "hybrid+elig"}
    data = {r["mode"]: r for r in json.loads(report.read_text())}
    assert data["hybrid+elig"]["ndcg_10"] == pytest.approx(1.0)
    assert data["hybrid+elig"]["per_query"][0]["top10"][0] == "DEMO-T2DM-001"
    assert (
        data["hybrid+elig"]["fraction_scored_in_depth"] > 0 and data["bm25"]["fraction_scored_in_depth"] == 0
    )
