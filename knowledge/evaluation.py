"""The evaluation gate: a golden set of questions → expected documents/sections, and three metrics.

Golden set files (YAML, a list per file, every ``*.yaml`` in a folder is read)::

    - id: warfarin-nsaid-gi-bleeding
      question: Does adding ibuprofen to warfarin raise the risk of stomach bleeding?
      expected:
        - {doc: starter-warfarin-nsaids, section: "bleeding", grade: 2}
        - {doc: starter-warfarin-nsaids}

A retrieved passage *matches* a target when its document is the target's and, if the target names a
section, the passage's heading path below the title contains that text (case-insensitive). Each
target counts once.

* recall@5: share of a question's targets matched within the first 5 passages;
* MRR: 1 / rank of the first matching passage (0 if none in the first 10);
* nDCG@10: graded gains (``grade``, default 1) with log2 discount, over the ideal ordering.

Metrics are averaged over questions, for each mode (dense, bm25, hybrid), without the
minimum-evidence threshold (the gate measures ranking, not abstention).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, TypeAdapter

from knowledge.chunking import sha256
from knowledge.config import KnowledgeConfig
from knowledge.fsutil import file_lock
from knowledge.releases import EvaluationScores, ReleaseEvent, now, read_manifest, write_manifest
from knowledge.retrieval import Passage, SearchMode, open_release_retriever

MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")
METRICS = ("recall@5", "mrr", "ndcg@10")


class GoldenTarget(BaseModel):
    doc: str
    section: str | None = None
    grade: int = Field(default=1, ge=1, le=3)

    def matches(self, passage: Passage) -> bool:
        if passage.doc_id != self.doc:
            return False
        # passage.section leaves out the document title, so a title word never matches a section
        return self.section is None or self.section.lower() in passage.section.lower()


class GoldenQuestion(BaseModel):
    id: str
    question: str
    expected: list[GoldenTarget] = Field(min_length=1)


class GoldenSet(BaseModel):
    questions: list[GoldenQuestion]
    digest: str


_QUESTIONS = TypeAdapter(list[GoldenQuestion])


def load_golden(path: Path) -> GoldenSet:
    """Read one YAML file or every ``*.yaml`` in a folder (sorted); the digest covers all content."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no golden set (*.yaml) at {path}")
    questions: list[GoldenQuestion] = []
    raw = ""
    for file in files:
        text = file.read_text(encoding="utf-8")
        raw += text
        questions.extend(_QUESTIONS.validate_python(yaml.safe_load(text) or []))
    return GoldenSet(questions=questions, digest=sha256(raw)[:16])


def score_question(question: GoldenQuestion, passages: list[Passage]) -> dict[str, float]:
    """recall@5, reciprocal rank and nDCG@10 of one ranked list."""
    found: set[int] = set()
    gains: list[float] = []
    first_hit: int | None = None
    recall_hits = 0
    for rank, passage in enumerate(passages[:10], start=1):
        gain = 0.0
        for t_index, target in enumerate(question.expected):
            if t_index not in found and target.matches(passage):
                found.add(t_index)
                gain = float(target.grade)
                if rank <= 5:
                    recall_hits += 1
                break
        if first_hit is None and any(t.matches(passage) for t in question.expected):
            first_hit = rank
        gains.append(gain)
    dcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((float(t.grade) for t in question.expected), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return {
        "recall@5": recall_hits / len(question.expected),
        "mrr": 1.0 / first_hit if first_hit else 0.0,
        "ndcg@10": dcg / idcg if idcg else 0.0,
    }


def evaluate_release(
    config: KnowledgeConfig,
    release_id: str,
    golden: GoldenSet,
    actor: str,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationScores:
    """Score ``release_id`` on ``golden`` for every mode, store the scores, mark it ``evaluated``."""
    retriever = open_release_retriever(config, release_id)
    totals = {mode: dict.fromkeys(METRICS, 0.0) for mode in MODES}
    n = len(golden.questions)
    for i, question in enumerate(golden.questions, start=1):
        for mode in MODES:
            result = retriever.search(question.question, k=10, mode=mode, min_score=-1.0)
            for metric, value in score_question(question, result.passages).items():
                totals[mode][metric] += value
        if progress:
            progress(i, n)
    metrics = {
        mode: {m: round(v / max(n, 1), 4) for m, v in values.items()} for mode, values in totals.items()
    }
    scores = EvaluationScores(
        golden_hash=golden.digest, n_questions=n, metrics=metrics, evaluated_at=now(), evaluated_by=actor
    )
    with file_lock(config.knowledge_dir / ".manifest.lock"):
        manifest = read_manifest(config, release_id)
        manifest.evaluation = scores
        manifest.state = "evaluated"
        manifest.history.append(ReleaseEvent(at=now(), actor=actor, action="evaluated"))
        write_manifest(config, manifest)
    return scores


class GateDecision(BaseModel):
    passed: bool
    candidate: dict[str, float]
    current: dict[str, float] | None
    drops: dict[str, float]  # metric → how far the candidate is below the current release
    margin: float

    def explain(self) -> str:
        if self.passed:
            return "evaluation gate passed"
        parts = ", ".join(f"{m} −{d:.3f}" for m, d in self.drops.items())
        return (
            "evaluation gate refused: hybrid scores below the published release "
            f"by more than {self.margin} ({parts})"
        )


def gate(candidate: EvaluationScores, current: EvaluationScores | None, margin: float) -> GateDecision:
    """Pass unless a hybrid metric of ``candidate`` is below ``current``'s by more than ``margin``."""
    cand = candidate.metrics["hybrid"]
    if current is None:
        return GateDecision(passed=True, candidate=cand, current=None, drops={}, margin=margin)
    cur = current.metrics["hybrid"]
    drops = {m: round(cur[m] - cand[m], 4) for m in METRICS if cur[m] - cand[m] > margin}
    return GateDecision(passed=not drops, candidate=cand, current=cur, drops=drops, margin=margin)
