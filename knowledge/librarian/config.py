"""Settings → :class:`knowledge.config.KnowledgeConfig` (the librarian layer may read ``evidence_cds``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from evidence_cds.settings import Settings
from knowledge.config import KnowledgeConfig

if TYPE_CHECKING:
    from knowledge.retrieval import Retriever

log = logging.getLogger(__name__)


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


def current_retriever(settings: Settings) -> Retriever | None:
    """The published release's retriever, configured from ``settings`` (chroma server, threshold).

    ``None`` when no release can serve (none published, another embedding model, unreadable index):
    callers then cite their own knowledge-base source instead of a passage.
    """
    from knowledge.retrieval import ModelMismatchError, NoPublishedRelease, open_current_retriever

    try:
        return open_current_retriever(
            settings.resolved_knowledge_dir(), settings.embedding_model, knowledge_config(settings)
        )
    except (NoPublishedRelease, ModelMismatchError, OSError, ValueError) as err:
        log.info("no guideline retriever: %s", type(err).__name__)
        return None
