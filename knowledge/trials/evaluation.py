"""Retrieval metrics over graded relevance (TREC conventions), and the eval file formats.

Files (the BEIR packaging of the SIGIR-2016 cohort): queries ``{"_id", "text"}`` per line, corpus
``{"_id", "text"}`` per line, qrels TSV ``query-id  corpus-id  score`` with a header line.

* nDCG@k with gain = grade (Järvelin & Kekäläinen 2002, linear gain as in trec_eval's ``ndcg_cut``),
  ideal ranking built from all judged documents of the query;
* P@k: fraction of the top k with grade ≥ 1;
* recall@k: relevant (grade ≥ 1) retrieved in the top k over all relevant.
Unjudged documents count as non-relevant.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

Qrels = dict[str, dict[str, int]]


def read_queries(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[str(row["_id"])] = str(row["text"])
    return out


def read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # header or malformed line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(max(judged.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def precision_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    return sum(1 for d in ranked[:k] if judged.get(d, 0) > 0) / k


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 100) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


class QueryResult(BaseModel):
    query_id: str
    ndcg_10: float
    p_10: float
    recall_100: float
    scored_in_depth: int
    top10: list[str]


class EvalReport(BaseModel):
    mode: str
    n_queries: int
    corpus_size: int
    ndcg_10: float
    p_10: float
    recall_100: float
    fraction_scored_in_depth: float
    seconds: float
    per_query: list[QueryResult]


def evaluate_rankings(
    mode: str,
    rankings: Mapping[str, Sequence[str]],
    qrels: Qrels,
    corpus_size: int,
    depth: Mapping[str, int],
    seconds: float,
) -> EvalReport:
    """Aggregate per-query metrics (macro mean) over the queries that have judgments."""
    per = [
        QueryResult(
            query_id=q,
            ndcg_10=ndcg_at(r, qrels[q]),
            p_10=precision_at(r, qrels[q]),
            recall_100=recall_at(r, qrels[q]),
            scored_in_depth=depth.get(q, 0),
            top10=list(r[:10]),
        )
        for q, r in rankings.items()
        if q in qrels
    ]
    n = max(1, len(per))
    return EvalReport(
        mode=mode,
        n_queries=len(per),
        corpus_size=corpus_size,
        ndcg_10=sum(p.ndcg_10 for p in per) / n,
        p_10=sum(p.p_10 for p in per) / n,
        recall_100=sum(p.recall_100 for p in per) / n,
        fraction_scored_in_depth=sum(p.scored_in_depth for p in per) / n / max(1, corpus_size),
        seconds=seconds,
        per_query=per,
    )
