"""Patient → ranked trials: filter (recruiting, location), retrieve (hybrid), check eligibility, re-rank.

``match_trials`` is the one pure function behind the CDS service, the app's trial view, the evaluation
and the latency benchmark. Only the top ``depth`` retrieved trials are checked criterion by criterion
(the "scored in depth" fraction of the evaluation). Final score = normalised retrieval score +
``eligibility_weight`` × eligibility score, where a clearly met exclusion or a clearly failed inclusion
costs a full point each, which pushes such trials below every trial without one. A trial with no
structured criteria (summary only) instead loses ``population_weight`` × the prose population penalty:
a tie-breaker, because a summary's wording is far less exact than registry criteria.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from knowledge.trials.eligibility import TrialEligibility, evaluate_trial
from knowledge.trials.index import Hit, Mode, TrialIndex
from knowledge.trials.models import Trial
from knowledge.trials.patient_facts import ProfileLike
from knowledge.trials.population import population_penalty
from knowledge.trials.vocab import contains_term, find_condition, normalise

# Pseudo-relevance feedback of the full system: seed trials, BM25 expansion terms, and the weight of
# the seeds' centroid added to the whole-text query vector (Rocchio). Chosen by leave-one-query-out on
# the SIGIR-2016 development split over docs {3, 5, 10} x terms {10, 20, 40} x weight {0.25, 0.5, 1}:
# every fold chose (3, 10, 1.0); LOO nDCG@10 0.391 for hybrid+prf (see bench/trials_tuning.py).
PRF_DOCS = 3
PRF_TERMS = 10
PRF_DENSE_WEIGHT = 1.0
# Weight of the prose population penalty (trials without structured criteria, see ``population``).
# Prose is inexact and SIGIR-2016 assessors still rate, e.g., a children's forearm-fracture trial as
# worth considering for an adult with an elbow dislocation, so the penalty only breaks near-ties in
# retrieval. 8 of 9 LOO folds over {0, 0.02, 0.05, 0.1, 0.2, 0.5, 1} chose 0.05 (bench/trials_tuning.py).
POPULATION_WEIGHT = 0.05
# Feedback needs a corpus large enough that its top few trials are a topic, not the whole collection.
PRF_MIN_CORPUS = 100


def prf_docs_for(corpus_size: int) -> int:
    return PRF_DOCS if corpus_size >= PRF_MIN_CORPUS else 0


@dataclass(frozen=True)
class MatchOptions:
    mode: Mode = "hybrid"
    recruiting_only: bool = True
    locations: tuple[str, ...] = ()  # case-insensitive substrings of city / state / country; empty = any
    candidates: int = 100
    depth: int = 50  # how many retrieved trials get the criterion-level check
    eligibility: bool = True
    eligibility_weight: float = 1.0
    include_demo: bool = True
    exclude_ids: frozenset[str] = field(default_factory=frozenset)
    prf_docs: int = 0  # pseudo-relevance feedback seeds (0 = off)
    prf_terms: int = PRF_TERMS
    prf_dense_weight: float = PRF_DENSE_WEIGHT
    population_weight: float = POPULATION_WEIGHT


class TrialMatch(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    trial: Trial
    retrieval_score: float
    score: float
    eligibility: TrialEligibility | None = None
    condition_match: str | None = None  # the patient's condition that matches the trial's conditions

    @property
    def may_fit(self) -> bool:
        return self.eligibility is not None and not self.eligibility.hard_fail


def allowed_mask(trials: Sequence[Trial], opts: MatchOptions) -> list[bool]:
    wanted = [w.lower() for w in opts.locations if w.strip()]
    out: list[bool] = []
    for t in trials:
        ok = (not opts.recruiting_only or t.is_recruiting) and (opts.include_demo or not t.is_demo)
        if ok and wanted and t.locations:
            # A trial without listed sites is kept: the registry often lists sites late.
            ok = any(w in loc.label().lower() for loc in t.locations for w in wanted)
        out.append(ok and t.nct_id not in opts.exclude_ids)
    return out


def _cached_mask(index: TrialIndex, opts: MatchOptions) -> list[bool]:
    """The filter mask, computed once per index and filter settings (an index never changes)."""
    key = ("mask", opts.recruiting_only, opts.include_demo, opts.locations, opts.exclude_ids)
    mask = index.memo.get(key)
    if mask is None:
        mask = index.memo[key] = allowed_mask(index.trials, opts)
    return list(mask)


def condition_match(trial: Trial, profile: ProfileLike) -> str | None:
    """The patient's present condition or finding that one of the trial's listed conditions names."""
    names = [normalise(c) for c in trial.conditions if c.strip()]
    concepts = {found[0].key for n in names if (found := find_condition(n)) is not None}
    for f in (*profile.conditions, *profile.findings):
        if f.negated or f.family or f.uncertain or f.historical:
            continue
        text = normalise(f.text)
        if any(contains_term(text, n) or (len(text) >= 5 and contains_term(n, text)) for n in names):
            return f.text
        found = find_condition(text)
        if found is not None and found[0].key in concepts:
            return f.text
    return None


def match_trials(
    index: TrialIndex,
    profile: ProfileLike,
    query: str,
    query_vectors: npt.NDArray[np.float32] | None,
    opts: MatchOptions | None = None,
) -> list[TrialMatch]:
    """Trials for this patient, best first (at most ``opts.candidates``)."""
    opts = opts or MatchOptions()
    mask = _cached_mask(index, opts)
    hits = index.search(
        query,
        query_vectors,
        mode=opts.mode,
        k=opts.candidates,
        allowed=mask,
        prf_docs=opts.prf_docs,
        prf_terms=opts.prf_terms,
        prf_dense_weight=opts.prf_dense_weight,
    )
    if len(index) <= opts.depth:
        # Every allowed trial is checked in depth anyway: keep those retrieval did not score, after it.
        seen = {h.index for h in hits}
        hits += [Hit(i, 0.0) for i in range(len(index)) if mask[i] and i not in seen]
    if not hits:
        return []
    top = max(h.score for h in hits) or 1.0
    out: list[TrialMatch] = []
    for rank, hit in enumerate(hits):
        trial = index.trials[hit.index]
        rel = hit.score / top
        m = TrialMatch(trial=trial, retrieval_score=rel, score=rel)
        if opts.eligibility and rank < opts.depth:
            m.eligibility = evaluate_trial(trial, profile)
            m.condition_match = condition_match(trial, profile)
            m.score = rel + opts.eligibility_weight * m.eligibility.score
            if not trial.criteria:
                m.score -= opts.population_weight * population_penalty(trial, profile)
        elif opts.eligibility:
            m.score = rel - 3.0  # not checked: below every checked trial
        out.append(m)
    out.sort(key=lambda m: -m.score)
    return out
