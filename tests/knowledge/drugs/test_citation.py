"""Cards cite a passage of the published knowledge release only when it names both sides of the
interaction; otherwise the KB source itself (never a weak match). Real release, real embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_services.services.drug_interactions import cite, supports
from evidence_cds.settings import Settings, load_settings
from knowledge.config import STARTER_PACK_DIR, KnowledgeConfig
from knowledge.drugs.kb import InteractionKB
from knowledge.library import Library
from knowledge.publishing import publish_release
from knowledge.releases import build_release


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> Settings:
    """A published release of the starter pack's two interaction summaries plus one unrelated
    guideline summary (small: one model load, a few dozen chunks)."""
    cfg = KnowledgeConfig(
        knowledge_dir=tmp_path_factory.mktemp("ddi-release") / "knowledge",
        embedding_cache_dir=embedding_cache,
    )
    files = [
        STARTER_PACK_DIR / f"{n}.md" for n in ("warfarin-nsaids", "digoxin-cyclosporine", "hypertension")
    ]
    assert all(r.outcome == "added" for r in Library(cfg).add_files(files, "test"))
    manifest, _ = build_release(cfg, "test")
    publish_release(cfg, manifest.release_id, "test")
    return load_settings({"knowledge_dir": cfg.knowledge_dir, "embedding_model": cfg.embedding_model})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Avoid NSAIDs such as naproxen in patients taking warfarin.", True),
        ("Nonsteroidal drugs and anticoagulants: see section 4.", False),  # neither side named
        ("Warfarin needs INR monitoring every 4 weeks.", False),  # one side only
    ],
)
def test_support_needs_both_sides_named(kb: InteractionKB, text: str, expected: bool) -> None:
    entry = kb.entry("pddi-warfarin-nsaids")
    assert entry is not None
    assert supports(text, entry) is expected


def test_pddi_pairs_cite_the_starter_pack_passage(kb: InteractionKB, settings: Settings) -> None:
    for entry_id, words in (
        ("pddi-warfarin-nsaids", ("warfarin", "nsaid")),
        ("pddi-digoxin-cyclosporine", ("digoxin", "cyclosporine")),
    ):
        entry = kb.entry(entry_id)
        assert entry is not None
        citation = cite(entry, kb, settings)
        assert citation.release_id, f"{entry_id}: expected a passage from the release, got {citation}"
        assert citation.quote and all(w in citation.quote.lower() for w in words)


def test_pair_without_a_supporting_passage_cites_the_kb_source(kb: InteractionKB, settings: Settings) -> None:
    entry = kb.entry("onc-hp-14")  # tranylcypromine / procarbazine: no document in the release names both
    assert entry is not None
    citation = cite(entry, kb, settings)
    assert citation.release_id is None and citation.quote is None
    assert citation.label == kb.sources[entry.source].label and citation.url == kb.sources[entry.source].url


def test_warm_up_resolves_the_curated_citations_before_the_first_call(
    kb: InteractionKB, settings: Settings
) -> None:
    from cds_services.services import drug_interactions

    drug_interactions._citations.clear()
    drug_interactions.warm_up(settings)
    cached = {entry_id for _release, entry_id in drug_interactions._citations}
    assert {"pddi-warfarin-nsaids", "pddi-digoxin-cyclosporine", "onc-hp-11"} <= cached
    assert drug_interactions._citations[
        next(k for k in drug_interactions._citations if k[1] == "pddi-warfarin-nsaids")
    ]
