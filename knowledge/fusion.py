"""Rank fusion for hybrid retrieval.

Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): ``score(d) = Σ 1 / (k + rank_i(d))``
over the rankings that contain ``d``; robust to the incomparable score scales of BM25 and cosine.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], k: int = DEFAULT_RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse ranked id lists (best first) into one list of ``(id, fused score)``, best first.

    Ties keep the order of first appearance, so the result is deterministic.
    """
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[K, float] = {}
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else weights[i]
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])
