"""Retrieval over a real published release: provenance, modes, filters, minimum evidence, reopening."""

from __future__ import annotations

import pytest

from knowledge.config import KnowledgeConfig
from knowledge.releases import read_pointer
from knowledge.retrieval import (
    NO_SUPPORT,
    NoPublishedRelease,
    SearchFilters,
    open_current_retriever,
)


def _retriever(cfg: KnowledgeConfig):  # type: ignore[no-untyped-def]
    return open_current_retriever(cfg.knowledge_dir, cfg.embedding_model, cfg)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_search_returns_cited_passages_from_the_published_release(
    published_slice: KnowledgeConfig, mode: str
) -> None:
    result = _retriever(published_slice).search(
        "ibuprofen for a patient on warfarin: GI bleeding risk", mode=mode
    )
    pointer = read_pointer(published_slice)
    assert pointer is not None
    assert result.supported and result.release_id == pointer.release_id
    top = result.passages[0]
    assert top.doc_id == "starter-warfarin-nsaids"
    assert top.publisher == "evidence-cds team" and top.year == 2026 and top.url
    assert top.release_id == pointer.release_id and len(top.content_hash) == 64
    assert top.section_path[0].startswith("Warfarin with NSAIDs")
    assert all(p.similarity >= published_slice.min_score for p in result.passages)
    assert len(result.passages) <= 5


def test_passage_offsets_point_into_the_documents_normalised_text(published_slice: KnowledgeConfig) -> None:
    from knowledge.library import Library

    result = _retriever(published_slice).search("screening for thyroid dysfunction", k=3)
    lib = Library(published_slice)
    for p in result.passages:
        assert lib.document(p.doc_id).text[p.char_start : p.char_end] == p.text


def test_grade_is_carried_into_passages(published_slice: KnowledgeConfig) -> None:
    result = _retriever(published_slice).search(
        "oral cancer screening evidence insufficient I statement",
        k=5,
        filters=SearchFilters(doc_ids=["ngc-10097"]),
    )
    assert "USPSTF I statement" in {p.grade for p in result.passages}


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        (SearchFilters(publishers=["evidence-cds team"]), lambda p: p.publisher == "evidence-cds team"),
        (SearchFilters(year_min=2015, year_max=2016), lambda p: 2015 <= p.year <= 2016),
        (SearchFilters(doc_ids=["ngc-10822", "ngc-10008"]), lambda p: p.doc_id in {"ngc-10822", "ngc-10008"}),
        (
            SearchFilters(topics=["hypertension"]),
            lambda p: any("hypertension" in t.lower() for t in p.topics),
        ),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_metadata_filters(published_slice: KnowledgeConfig, filters: SearchFilters, check, mode: str) -> None:  # type: ignore[no-untyped-def]
    result = _retriever(published_slice).search(
        "blood pressure screening in adults", k=8, filters=filters, mode=mode, min_score=-1
    )
    assert result.passages
    assert all(check(p) for p in result.passages)


def test_filters_matching_nothing_give_no_supporting_passage(published_slice: KnowledgeConfig) -> None:
    result = _retriever(published_slice).search("warfarin", filters=SearchFilters(year_max=1990))
    assert not result.supported and result.passages == [] and result.message == NO_SUPPORT


def test_weak_matches_are_not_cited(published_slice: KnowledgeConfig) -> None:
    retriever = _retriever(published_slice)
    off_topic = retriever.search("how to tune a guitar for drop D and replace the strings")
    assert not off_topic.supported and off_topic.message == NO_SUPPORT
    on_topic = retriever.search("digoxin toxicity with cyclosporine")
    assert on_topic.supported
    # the same weak query passes when the caller lowers the threshold: the cut is the threshold
    assert retriever.search("how to tune a guitar for drop D and replace the strings", min_score=-1).supported


def test_no_published_release_is_a_clear_error(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config()
    with pytest.raises(NoPublishedRelease):
        open_current_retriever(cfg.knowledge_dir, cfg.embedding_model)
