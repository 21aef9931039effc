"""Settings → trial index and match options, for the trial-matching service, the app view and ``make run``.

Kept apart from the service module so the SMART app's trial view, the devserver's prepare step and the
benchmarks share one way of opening the current trial release.

Two choices keep the request path free of model loading where it is not needed:

* no release built yet (a fresh test instance): the demo trials are served from an in-memory,
  BM25-only index; ``make run`` builds the real release first (``PREPARE_STEPS``);
* a corpus no larger than the number of trials checked in depth: every allowed trial gets the
  criterion check anyway, so retrieval only orders them and the query is not encoded.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from knowledge.embeddings import get_embedder
from knowledge.trials.demo import demo_trials, ensure_release
from knowledge.trials.index import TrialIndex, query_pieces
from knowledge.trials.matching import PRF_TERMS, MatchOptions, TrialMatch, match_trials, prf_docs_for
from knowledge.trials.patient_facts import ProfileLike
from knowledge.trials.release import current_release_id, load_index

if TYPE_CHECKING:
    from evidence_cds.settings import Settings

_demo_lock = threading.Lock()
_demo_index: list[TrialIndex] = []


def prepare_trial_release(settings: Settings) -> None:
    """``PREPARE_STEPS`` entry: build the demo trial release when the instance has none."""
    ensure_release(settings.resolved_trials_dir(), get_embedder(settings.embedding_model))


def _demo_bm25_index() -> TrialIndex:
    with _demo_lock:
        if not _demo_index:
            empty = np.zeros((0, 0), dtype=np.float32)
            _demo_index.append(
                TrialIndex(demo_trials(), empty, np.zeros(0, dtype=np.int32), release_id="demo")
            )
        return _demo_index[0]


def trial_index(settings: Settings) -> TrialIndex:
    """The current trial release's index; the demo trials (BM25 only) when no release is built."""
    trials_dir = settings.resolved_trials_dir()
    if current_release_id(trials_dir) is None:
        return _demo_bm25_index()
    return load_index(trials_dir)


def match_options(settings: Settings, corpus_size: int = 0, **overrides: object) -> MatchOptions:
    depth = max(settings.trials_candidates, 1)
    opts = MatchOptions(
        mode="hybrid" if corpus_size > depth else "bm25",
        prf_docs=prf_docs_for(corpus_size),
        prf_terms=PRF_TERMS,
        recruiting_only=settings.trials_recruiting_only,
        locations=tuple(settings.trials_locations),
        candidates=depth,
        depth=depth,
        include_demo=settings.trials_include_demo,
    )
    return MatchOptions(**{**opts.__dict__, **overrides})


def matches_for(
    profile: ProfileLike, query: str, settings: Settings, index: TrialIndex | None = None
) -> list[TrialMatch]:
    """Ranked, eligibility-checked trials for a profile under the configured filters."""
    index = index or trial_index(settings)
    opts = match_options(settings, len(index))
    vectors = None
    if opts.mode != "bm25" and index.passage_vectors.size:
        vectors = get_embedder(settings.embedding_model).encode(query_pieces(query))
    elif opts.mode != "bm25":
        opts = match_options(settings, len(index), mode="bm25")
    return match_trials(index, profile, query, vectors, opts)


def warm_up(settings: Settings) -> None:
    """Load the trial index and, when it needs one, the embedding model before the first request."""
    index = trial_index(settings)
    if len(index) > settings.trials_candidates and index.passage_vectors.size:
        get_embedder(settings.embedding_model).encode(["warm up"])
