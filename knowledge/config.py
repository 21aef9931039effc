"""The knowledge index's settings as one typed value (built from ``evidence_cds`` Settings by the
librarian layer, or directly by tests and benchmarks), so nothing below reads Flask or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from knowledge.chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from knowledge.embeddings import BUNDLED_MODEL

STARTER_PACK_DIR = Path(__file__).resolve().parent / "starter_pack"


@dataclass(frozen=True)
class KnowledgeConfig:
    knowledge_dir: Path
    embedding_model: str = BUNDLED_MODEL
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    chroma_url: str | None = None  # chromadb server (HttpClient); only behind auth on a private network
    chroma_token: str | None = None
    min_score: float = 0.30  # cosine similarity below which a passage is not cited
    eval_margin: float = 0.02
    stale_years: int = 5
    golden_path: Path | None = None
    # torch intra-op threads once a Retriever opens (process-wide). One query is tiny work: on a busy
    # 2-core host, 2 spinning OpenMP threads made encoding ~10x slower (p50 255 ms vs 11-23 ms).
    query_threads: int | None = 1
    embedding_cache_dir: Path | None = None  # default knowledge_dir/cache; shareable (keyed by model)

    @property
    def library_dir(self) -> Path:
        return self.knowledge_dir / "library"

    @property
    def releases_dir(self) -> Path:
        return self.knowledge_dir / "releases"

    @property
    def chroma_dir(self) -> Path:
        return self.knowledge_dir / "chroma"

    @property
    def cache_dir(self) -> Path:
        return self.embedding_cache_dir or self.knowledge_dir / "cache"

    @property
    def pointer_path(self) -> Path:
        return self.knowledge_dir / "CURRENT"

    @property
    def lock_path(self) -> Path:
        return self.knowledge_dir / ".build.lock"
