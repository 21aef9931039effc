"""Evaluation metrics on hand-checked rankings, and the gate's decision rule."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from knowledge.evaluation import GoldenQuestion, GoldenSet, gate, score_question
from knowledge.releases import EvaluationScores
from knowledge.retrieval import Passage


def passage(doc: str, section: str = "Body", title: str = "Title") -> Passage:
    return Passage(
        text="t",
        doc_id=doc,
        title=title,
        publisher="P",
        year=2020,
        url=None,
        section_path=[title, section],
        char_start=0,
        char_end=1,
        chunk_id=f"{doc}#0",
        content_hash="h",
        grade=None,
        score=1.0,
        similarity=0.9,
        release_id="r0001",
    )


QUESTION = GoldenQuestion.model_validate(
    {
        "id": "q",
        "question": "?",
        "expected": [{"doc": "a", "section": "recommendations", "grade": 2}, {"doc": "b"}],
    }
)


@pytest.mark.parametrize(
    ("ranking", "recall", "mrr", "ndcg"),
    [
        ([passage("a", "Major Recommendations"), passage("b")], 1.0, 1.0, 1.0),
        ([passage("x"), passage("b"), passage("a", "Major Recommendations")], 1.0, 0.5, None),
        ([passage("a", "Body", title="Recommendations")], 0.0, 0.0, 0.0),  # the title is not a section
        ([passage("x")] * 5 + [passage("b")], 0.0, 1 / 6, None),
        ([], 0.0, 0.0, 0.0),
    ],
)
def test_metrics(ranking: list[Passage], recall: float, mrr: float, ndcg: float | None) -> None:
    scores = score_question(QUESTION, ranking)
    assert scores["recall@5"] == pytest.approx(recall)
    assert scores["mrr"] == pytest.approx(mrr)
    if ndcg is not None:
        assert scores["ndcg@10"] == pytest.approx(ndcg)
    assert 0.0 <= scores["ndcg@10"] <= 1.0


def test_ndcg_rewards_the_better_target_first() -> None:
    best = score_question(QUESTION, [passage("a", "Recommendations"), passage("b")])["ndcg@10"]
    swapped = score_question(QUESTION, [passage("b"), passage("a", "Recommendations")])["ndcg@10"]
    ideal = 3 / math.log2(2) + 1 / math.log2(3)
    assert swapped == pytest.approx((1 / math.log2(2) + 3 / math.log2(3)) / ideal)
    assert best == pytest.approx(1.0) and swapped < best


def scores(recall: float, mrr: float, ndcg: float) -> EvaluationScores:
    metrics = {"recall@5": recall, "mrr": mrr, "ndcg@10": ndcg}
    return EvaluationScores(
        golden_hash="g",
        n_questions=1,
        metrics={"hybrid": metrics, "dense": metrics, "bm25": metrics},
        evaluated_at=datetime.now(UTC),
        evaluated_by="test",
    )


@pytest.mark.parametrize(
    ("candidate", "passed", "dropped"),
    [
        (scores(0.80, 0.90, 0.85), True, set()),
        (scores(0.79, 0.89, 0.84), True, set()),  # within the 0.02 margin
        (scores(0.70, 0.90, 0.85), False, {"recall@5"}),
        (scores(0.80, 0.80, 0.70), False, {"mrr", "ndcg@10"}),
        (scores(0.95, 0.99, 0.99), True, set()),
    ],
)
def test_gate_refuses_drops_beyond_the_margin(
    candidate: EvaluationScores, passed: bool, dropped: set[str]
) -> None:
    decision = gate(candidate, scores(0.80, 0.90, 0.85), margin=0.02)
    assert decision.passed is passed and set(decision.drops) == dropped
    assert gate(candidate, None, margin=0.02).passed  # nothing published yet: nothing to regress from


def test_golden_set_is_well_formed(golden: GoldenSet) -> None:
    assert len(golden.questions) >= 60
    assert len({q.id for q in golden.questions}) == len(golden.questions)
    docs = {t.doc for q in golden.questions for t in q.expected}
    assert sum(d.startswith("starter-") for d in docs) == 7 and sum(d.startswith("ngc-") for d in docs) >= 40
