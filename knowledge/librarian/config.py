"""Settings → :class:`knowledge.config.KnowledgeConfig` (the librarian layer may read ``evidence_cds``)."""

from __future__ import annotations

from evidence_cds.settings import Settings
from knowledge.config import KnowledgeConfig


def knowledge_config(settings: Settings) -> KnowledgeConfig:
    return KnowledgeConfig(
        knowledge_dir=settings.resolved_knowledge_dir(),
        embedding_model=settings.embedding_model,
        chunk_size=settings.knowledge_chunk_size,
        chunk_overlap=settings.knowledge_chunk_overlap,
        chroma_url=settings.knowledge_chroma_url,
        chroma_token=settings.knowledge_chroma_token,
        min_score=settings.knowledge_min_score,
        eval_margin=settings.knowledge_eval_margin,
        stale_years=settings.knowledge_stale_years,
        golden_path=settings.knowledge_golden_path,
        embedding_cache_dir=settings.knowledge_embedding_cache_dir,
        query_threads=settings.knowledge_query_threads,
    )


def prepare_starter_release(settings: Settings) -> None:
    """``PREPARE_STEPS`` entry: publish release 1 from the starter pack on a fresh machine."""
    from knowledge.starter import ensure_starter_release

    release = ensure_starter_release(knowledge_config(settings), settings.knowledge_starter_pack)
    if release:
        print(f"knowledge: published starter release {release}", flush=True)
