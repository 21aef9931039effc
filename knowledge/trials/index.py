"""Hybrid retrieval over trials: BM25 (bm25s) and dense passages (numpy), fused by reciprocal rank.

Choice recorded: the dense side is a plain float32 matrix of passage vectors (a few per trial) scored by
one matrix product, not chromadb: for thousands of trials an exact dot product takes about a
millisecond and needs no server, and exact scores keep evaluation reproducible. A trial's dense score
is the best of its passages (max-sim), so long eligibility texts are not diluted into one vector.

Queries: BM25 takes the whole patient text (minus negated findings, which the profile already dropped);
the dense side encodes the query in pieces (the whole text plus each sentence) and scores each trial by
the mean of the best-matching pieces, so a long description does not wash out its key finding.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import bm25s
import numpy as np
import numpy.typing as npt

from knowledge.fusion import reciprocal_rank_fusion
from knowledge.trials.models import Trial
from knowledge.trials.stopwords import TRIAL_STOPWORDS

Mode = Literal["bm25", "dense", "hybrid"]
FloatArray = npt.NDArray[np.float32]

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_STOP = TRIAL_STOPWORDS


def _stem(word: str) -> str:
    """A light plural/suffix stemmer (S-stemmer plus -ing/-ed); enough to join "tumors" and "tumor"."""
    if len(word) <= 4 or word.isdigit():
        return word
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ness", ""),
        ("ing", ""),
        ("ed", ""),
        ("es", "e"),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


def tokenize(text: str) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOP and len(t) > 1]


def bm25_tokens(trial: Trial) -> list[str]:
    """A trial's BM25 document, field-aware: the headline (title, conditions, keywords) counts twice.

    The registry's own statement of what a trial studies is stronger topical evidence than a word in
    its summary or inclusion list (a BM25F-style field weight; exclusion criteria are not indexed at
    all, so a trial that excludes a disease is not retrieved for it). The weight 2 is the customary
    title boost, fixed a priori: the development corpus has summaries only, so it cannot be tuned there.
    """
    return tokenize(trial.headline()) + tokenize(trial.search_text())


_SENT = re.compile(r"(?<=[.;!?])\s+|\n+")


def query_pieces(text: str, max_pieces: int = 12) -> list[str]:
    """The whole query plus its sentences (each at least a few words), for piecewise dense scoring."""
    sents = [s.strip() for s in _SENT.split(text) if len(s.split()) >= 3]
    return [text, *sents[:max_pieces]] if len(sents) > 1 else [text]


@dataclass(frozen=True)
class Hit:
    """One retrieved trial: its position in the index, fused score, and per-retriever ranks (1-based)."""

    index: int
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None


class TrialIndex:
    """An immutable searchable set of trials (one release). Thread-safe for concurrent searches."""

    def __init__(
        self,
        trials: Sequence[Trial],
        passage_vectors: FloatArray,
        passage_owner: npt.NDArray[np.int32],
        *,
        release_id: str = "",
        embedding_model: str = "",
    ) -> None:
        self.trials = list(trials)
        self.release_id = release_id
        self.embedding_model = embedding_model
        self.passage_vectors = np.ascontiguousarray(passage_vectors, dtype=np.float32)
        self.passage_owner = np.asarray(passage_owner, dtype=np.int32)
        self.by_id = {t.nct_id: i for i, t in enumerate(self.trials)}
        self.memo: dict[Hashable, Any] = {}  # per-index derived values (filter masks); the index is immutable
        corpus = [bm25_tokens(t) or ["empty"] for t in self.trials]
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        self._bm25.index(corpus, show_progress=False)
        self._vocab: dict[str, int] = dict(self._bm25.vocab_dict)
        self._tokens = corpus
        df: Counter[str] = Counter(t for doc in corpus for t in set(doc))
        n = max(1, len(corpus))
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        centroids = np.zeros(
            (len(self.trials), self.passage_vectors.shape[1] if self.passage_vectors.ndim == 2 else 0),
            dtype=np.float32,
        )
        if len(self.trials) and self.passage_vectors.size:
            np.add.at(centroids, self.passage_owner, self.passage_vectors)
            centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        self._centroids = centroids

    def __len__(self) -> int:
        return len(self.trials)

    def bm25_scores(self, query: str | Sequence[str]) -> FloatArray:
        """BM25 score of every trial; ``query`` as text or as tokens (repeats weigh a term up)."""
        raw = tokenize(query) if isinstance(query, str) else list(query)
        tokens = [t for t in raw if t in self._vocab]
        if not tokens or not self.trials:
            return np.zeros(len(self.trials), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def expansion_terms(self, seeds: Sequence[int], n_terms: int) -> list[str]:
        """Pseudo-relevance feedback terms (RM3-style): the terms that weigh most in the seed trials,
        each weighted by its in-trial frequency × IDF × the seed's rank weight."""
        weights: dict[str, float] = {}
        for rank, i in enumerate(seeds):
            tokens = self._tokens[i]
            counts = Counter(tokens)
            for term, tf in counts.items():
                w = tf / len(tokens) * self._idf.get(term, 0.0) / (1 + 0.5 * rank)
                weights[term] = weights.get(term, 0.0) + w
        return sorted(weights, key=lambda t: -weights[t])[:n_terms]

    def dense_scores(self, query_vectors: FloatArray) -> FloatArray:
        """Per trial: mean over query pieces of the best passage similarity (whole text counts double)."""
        n = len(self.trials)
        if n == 0 or query_vectors.size == 0:
            return np.zeros(n, dtype=np.float32)
        sims = query_vectors @ self.passage_vectors.T  # (pieces, passages)
        best = np.full((sims.shape[0], n), -1.0, dtype=np.float32)
        for row in range(sims.shape[0]):
            np.maximum.at(best[row], self.passage_owner, sims[row])
        weights = np.ones(sims.shape[0], dtype=np.float32)
        weights[0] = 2.0 if sims.shape[0] > 1 else 1.0
        # The top pieces carry the match; averaging all would reward trials that match filler sentences.
        top = np.sort(best, axis=0)[::-1][: max(1, min(4, best.shape[0]))]
        return np.asarray(
            (best[0] * weights[0] + top.sum(axis=0)) / (weights[0] + top.shape[0]), dtype=np.float32
        )

    def _rank(
        self,
        tokens: Sequence[str],
        vectors: FloatArray | None,
        mode: Mode,
        mask: npt.NDArray[np.bool_],
        depth: int,
    ) -> tuple[list[tuple[int, float]], dict[int, int], dict[int, int]]:
        """Rankings (best first, at most ``depth`` each) and their fusion for ``mode``."""
        bm25_rank: dict[int, int] = {}
        dense_rank: dict[int, int] = {}
        rankings: list[list[int]] = []
        scores: dict[str, FloatArray] = {}
        if mode in ("bm25", "hybrid"):
            s = scores["bm25"] = self.bm25_scores(tokens)
            idx = np.argsort(-s, kind="stable")
            order = idx[mask[idx] & (s[idx] > 0)][:depth].tolist()
            bm25_rank = {i: r for r, i in enumerate(order, 1)}
            rankings.append(order)
        if mode in ("dense", "hybrid"):
            if vectors is None:
                raise ValueError("dense retrieval needs query vectors")
            d = scores["dense"] = self.dense_scores(vectors)
            idx = np.argsort(-d, kind="stable")
            order = idx[mask[idx]][:depth].tolist()
            dense_rank = {i: r for r, i in enumerate(order, 1)}
            rankings.append(order)
        if mode != "hybrid":
            only = scores[mode]
            return [(i, float(only[i])) for i in rankings[0]], bm25_rank, dense_rank
        return reciprocal_rank_fusion(rankings), bm25_rank, dense_rank

    def search(
        self,
        query: str,
        query_vectors: FloatArray | None = None,
        *,
        mode: Mode = "hybrid",
        k: int = 100,
        allowed: Sequence[bool] | None = None,
        prf_docs: int = 0,
        prf_terms: int = 10,
        prf_dense_weight: float = 0.5,
    ) -> list[Hit]:
        """Top ``k`` trials for ``query``; ``allowed`` masks trials out (status and location filters).

        ``prf_docs > 0`` adds one round of pseudo-relevance feedback: the top ``prf_docs`` trials of the
        first pass lend their heaviest terms to the BM25 query and their centroid to the whole-text
        query vector (Rocchio), so a description that never names its diagnosis still reaches the trials
        that do ("strawberry tongue, coronary dilation" → Kawasaki disease).
        """
        n = len(self.trials)
        mask = np.ones(n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        tokens = tokenize(query)
        # Fusion reads each ranking only this deep: below it a trial's 1/(60+rank) share is noise.
        depth = max(4 * k, 400)
        ranked, bm25_rank, dense_rank = self._rank(tokens, query_vectors, mode, mask, depth)
        if prf_docs > 0 and ranked:
            seeds = [i for i, _ in ranked[:prf_docs]]
            tokens = tokens + self.expansion_terms(seeds, prf_terms)
            if query_vectors is not None and mode != "bm25" and self._centroids.size:
                centroid = self._centroids[seeds].mean(axis=0)
                query_vectors = query_vectors.copy()
                moved = query_vectors[0] + prf_dense_weight * centroid
                query_vectors[0] = moved / max(float(np.linalg.norm(moved)), 1e-9)
            ranked, bm25_rank, dense_rank = self._rank(tokens, query_vectors, mode, mask, depth)
        return [Hit(i, sc, bm25_rank.get(i), dense_rank.get(i)) for i, sc in ranked[:k]]
