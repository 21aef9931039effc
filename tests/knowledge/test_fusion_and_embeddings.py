from __future__ import annotations

import numpy as np
import pytest

from knowledge.embeddings import get_embedder, resolve_model_path
from knowledge.fusion import reciprocal_rank_fusion


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]])
    assert fused[0][0] == "b"
    assert len(fused) == 3


def test_rrf_weights_must_match_rankings() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


def test_bundled_model_embeds_semantically() -> None:
    emb = get_embedder()
    vecs = emb.encode(["warfarin bleeding risk", "anticoagulant hemorrhage", "trial eligibility for asthma"])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


def test_unknown_model_path_is_refused() -> None:
    with pytest.raises(FileNotFoundError):
        resolve_model_path("/nonexistent/model")
