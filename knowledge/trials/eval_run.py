"""One evaluation run: a corpus, patient descriptions and qrels → metrics for one retrieval mode.

Every mode starts from the same patient → query step (``profile_builder``: free text → profile whose
``query`` drops negated mentions); modes differ only in ranking:

* ``bm25`` / ``dense`` / ``hybrid`` (reciprocal-rank fusion of the two), without feedback;
* ``hybrid+prf``: hybrid with one round of pseudo-relevance feedback (RM3 terms + Rocchio vector);
* ``hybrid+elig``: the full system — hybrid+prf retrieval, then the top ``depth`` trials are checked
  against the profile (criteria when the corpus has them, else the population its summary describes)
  and re-ranked.

The profile builder is passed in (``clinical.patient_profile.profile_from_text`` from the CLI) because
``knowledge`` does not import ``clinical``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from knowledge.trials.evaluation import EvalReport, evaluate_rankings, read_qrels, read_queries
from knowledge.trials.importer import import_file
from knowledge.trials.index import Mode, TrialIndex, query_pieces
from knowledge.trials.matching import (
    PRF_DENSE_WEIGHT,
    PRF_TERMS,
    MatchOptions,
    match_trials,
    prf_docs_for,
)
from knowledge.trials.patient_facts import ProfileLike
from knowledge.trials.release import Encoder, build_index

EvalMode = Literal["bm25", "dense", "hybrid", "hybrid+prf", "hybrid+elig"]
EVAL_MODES: tuple[EvalMode, ...] = ("bm25", "dense", "hybrid", "hybrid+prf", "hybrid+elig")


class ProfileWithQuery(ProfileLike, Protocol):
    @property
    def query(self) -> str: ...


@dataclass
class EvalInputs:
    index: TrialIndex
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_inputs(corpus: Path, queries: Path, qrels: Path, encoder: Encoder) -> EvalInputs:
    trials = import_file(corpus)
    return EvalInputs(
        build_index(trials, encoder, release_id=f"eval:{corpus.name}"),
        read_queries(queries),
        read_qrels(qrels),
    )


def run_mode(
    inputs: EvalInputs,
    mode: EvalMode,
    encoder: Encoder,
    profile_builder: Callable[[str], ProfileWithQuery],
    *,
    depth: int = 30,
    k: int = 100,
    prf_docs: int | None = None,
    prf_terms: int = PRF_TERMS,
    profiles: Mapping[str, ProfileWithQuery] | None = None,
) -> EvalReport:
    """Rank the corpus for every query in ``mode`` and score the rankings."""
    start = time.perf_counter()
    index = inputs.index
    prf_docs = prf_docs_for(len(index)) if prf_docs is None else prf_docs
    rankings: dict[str, Sequence[str]] = {}
    scored: dict[str, int] = {}
    for qid, text in inputs.queries.items():
        profile = profiles[qid] if profiles and qid in profiles else profile_builder(text)
        query = profile.query or text
        vectors = encoder.encode(query_pieces(query)) if mode != "bm25" else None
        if mode == "hybrid+elig":
            opts = MatchOptions(
                mode="hybrid",
                recruiting_only=False,
                candidates=k,
                depth=depth,
                prf_docs=prf_docs,
                prf_terms=prf_terms,
            )
            matches = match_trials(index, profile, query, vectors, opts)
            rankings[qid] = [m.trial.nct_id for m in matches]
            scored[qid] = min(depth, len(matches))
        else:
            feedback = prf_docs if mode == "hybrid+prf" else 0
            base_mode: Mode = "hybrid" if mode == "hybrid+prf" else mode
            hits = index.search(
                query,
                vectors,
                mode=base_mode,
                k=k,
                prf_docs=feedback,
                prf_terms=prf_terms,
                prf_dense_weight=PRF_DENSE_WEIGHT,
            )
            rankings[qid] = [index.trials[h.index].nct_id for h in hits]
            scored[qid] = 0
    seconds = time.perf_counter() - start
    return evaluate_rankings(mode, rankings, inputs.qrels, len(index), scored, seconds)
