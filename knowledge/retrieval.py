"""Retrieval over the published release: typed passages with provenance, score and release id.

The small interface every service uses (drug interactions, differentials, trial matching, the evidence
UI)::

    retriever = open_current_retriever(knowledge_dir, embedding_model)   # cached per process
    result = retriever.search("NSAID bleeding risk with warfarin", k=5,
                              filters=SearchFilters(year_min=2012), mode="hybrid")
    if result.supported:
        cite(result.passages[0])      # .title .publisher .year .url .section_path .grade .release_id

``hybrid`` fuses the chromadb cosine ranking and the BM25 ranking by reciprocal-rank fusion
(:func:`knowledge.fusion.reciprocal_rank_fusion`). The minimum-evidence threshold is on the cosine
similarity of query and passage (comparable across queries, unlike RRF or BM25 scores): a passage
below it is never cited, and a search with none left reports ``supported=False``
("no supporting passage") rather than a weak citation. Filters: publisher, year range, topic, document.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from cachetools import LRUCache
from pydantic import BaseModel, Field

from knowledge.config import KnowledgeConfig
from knowledge.embeddings import get_embedder
from knowledge.fusion import reciprocal_rank_fusion
from knowledge.index_store import bm25_scores, load_bm25, open_collection
from knowledge.releases import ChunkRecord, ReleaseError, read_manifest, read_pointer, release_dir

SearchMode = Literal["hybrid", "dense", "bm25"]
NO_SUPPORT = "no supporting passage"
_query_cache: LRUCache[tuple[str, str], npt.NDArray[np.float32]] = LRUCache(maxsize=1024)
_query_lock = threading.Lock()
CANDIDATES = 50  # depth of each ranking fed to fusion


def _limit_torch_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def clear_query_cache() -> None:
    """Forget cached query vectors (benchmarks measure encoding every time)."""
    with _query_lock:
        _query_cache.clear()


class NoPublishedRelease(LookupError):
    """No release has been published in this knowledge folder yet."""


class ModelMismatchError(RuntimeError):
    """The configured embedding model is not the one the release was built with."""


class Passage(BaseModel):
    """One cited passage: its text and everything a card needs to cite it."""

    text: str
    doc_id: str
    title: str
    publisher: str
    year: int
    url: str | None
    section_path: list[str]
    char_start: int
    char_end: int
    chunk_id: str
    content_hash: str
    grade: str | None
    score: float  # ranking score of the mode (RRF for hybrid, cosine for dense, BM25 for bm25)
    similarity: float  # cosine similarity of query and passage, the minimum-evidence measure
    release_id: str
    topics: list[str] = Field(default_factory=list)

    @property
    def section(self) -> str:
        return " > ".join(p for p in self.section_path if p != self.title)

    def citation(self) -> str:
        """Human-readable citation, e.g. ``USPSTF (2016). Title. § Major Recommendations``."""
        sect = f" § {self.section}" if self.section else ""
        return f"{self.publisher} ({self.year}). {self.title}.{sect}"


class SearchFilters(BaseModel):
    """Restrict a search; every given field must match (topics: any of them, case-insensitive)."""

    publishers: list[str] | None = None
    year_min: int | None = None
    year_max: int | None = None
    topics: list[str] | None = None
    doc_ids: list[str] | None = None


class SearchResult(BaseModel):
    query: str
    mode: SearchMode
    release_id: str
    embedding_model: str
    passages: list[Passage]
    supported: bool
    message: str | None = None


class Retriever:
    """Search one release. Immutable after opening, safe to share between threads."""

    def __init__(self, config: KnowledgeConfig, release_id: str) -> None:
        self.config = config
        self.release_id = release_id
        self.manifest = read_manifest(config, release_id)
        if self.manifest.embedding_model != config.embedding_model:
            raise ModelMismatchError(
                f"release {release_id} was built with {self.manifest.embedding_model!r}; "
                f"queries would be encoded with {config.embedding_model!r}"
            )
        folder = release_dir(config, release_id)
        with (folder / "chunks.jsonl").open(encoding="utf-8") as fh:
            self.records = [ChunkRecord.model_validate_json(line) for line in fh]
        self.vectors: npt.NDArray[np.float32] = np.load(folder / "embeddings.npy")
        self.row_of = {r.chunk_id: i for i, r in enumerate(self.records)}
        self._bm25 = load_bm25(folder / "bm25")
        self._collection = open_collection(config, release_id)
        self._embedder = get_embedder(config.embedding_model)
        if config.query_threads:
            _limit_torch_threads(config.query_threads)
        self._years = np.array([r.year for r in self.records])

    @cached_property
    def _doc_of_row(self) -> list[str]:
        return [r.doc_id for r in self.records]

    # --- building blocks (also used by the benchmark) ---------------------------------------------
    def encode(self, query: str, use_cache: bool = True) -> npt.NDArray[np.float32]:
        """The query vector; recent queries come from a small per-process LRU (services repeat them)."""
        if not use_cache:
            return self._embedder.encode_one(query)
        key = (self.manifest.embedding_model, query)
        with _query_lock:
            hit = _query_cache.get(key)
        if hit is not None:
            return hit
        vector = self._embedder.encode_one(query)
        with _query_lock:
            _query_cache[key] = vector
        return vector

    def dense_ids(self, qvec: npt.NDArray[np.float32], n: int, doc_ids: list[str] | None = None) -> list[str]:
        """Raw vector lookup in the chromadb collection (cosine), best first."""
        where: dict[str, Any] | None = None
        if doc_ids is not None:
            where = {"doc_id": {"$in": doc_ids}} if len(doc_ids) > 1 else {"doc_id": doc_ids[0]}
        res = self._collection.query(
            query_embeddings=[qvec], n_results=min(n, len(self.records)), where=where, include=[]
        )
        return [str(i) for i in res["ids"][0]]

    def bm25_ranked(self, query: str, n: int, mask: npt.NDArray[np.bool_] | None) -> list[tuple[str, float]]:
        """``(chunk_id, BM25 score)`` best first; chunks without any query term are left out."""
        scores = bm25_scores(self._bm25, query)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.records[i].chunk_id, float(scores[i])) for i in top if scores[i] > 0]

    def _mask(self, filters: SearchFilters | None) -> npt.NDArray[np.bool_] | None:
        if filters is None or filters == SearchFilters():
            return None
        mask = np.ones(len(self.records), dtype=bool)
        if filters.year_min is not None:
            mask &= self._years >= filters.year_min
        if filters.year_max is not None:
            mask &= self._years <= filters.year_max
        if filters.publishers:
            wanted = {p.lower() for p in filters.publishers}
            mask &= np.array([r.publisher.lower() in wanted for r in self.records])
        if filters.doc_ids:
            ids = set(filters.doc_ids)
            mask &= np.array([r.doc_id in ids for r in self.records])
        if filters.topics:
            needles = [t.lower() for t in filters.topics]
            mask &= np.array([any(n in t.lower() for t in r.topics for n in needles) for r in self.records])
        return mask

    # --- the contract --------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
        min_score: float | None = None,
    ) -> SearchResult:
        """The ``k`` best passages for ``query`` in this release (see the module docstring)."""
        threshold = self.config.min_score if min_score is None else min_score
        mask = self._mask(filters)
        result = SearchResult(
            query=query,
            mode=mode,
            release_id=self.release_id,
            embedding_model=self.manifest.embedding_model,
            passages=[],
            supported=False,
            message=NO_SUPPORT,
        )
        if not query.strip() or (mask is not None and not mask.any()):
            return result
        depth = max(CANDIDATES, k)
        qvec = self.encode(query)
        ranked: list[tuple[str, float]]
        if mode == "bm25":
            ranked = self.bm25_ranked(query, depth, mask)
        else:
            allowed = None if mask is None else sorted({self._doc_of_row[i] for i in np.flatnonzero(mask)})
            dense = self.dense_ids(qvec, depth, allowed)
            if mode == "dense":
                ranked = [(c, float(self.vectors[self.row_of[c]] @ qvec)) for c in dense]
            else:
                lexical = [c for c, _ in self.bm25_ranked(query, depth, mask)]
                ranked = reciprocal_rank_fusion([dense, lexical])
        for chunk_id, score in ranked:
            row = self.row_of[chunk_id]
            similarity = float(self.vectors[row] @ qvec)
            if similarity < threshold:
                continue
            rec = self.records[row]
            result.passages.append(
                Passage(
                    **rec.model_dump(exclude={"index"}),
                    score=round(score, 6),
                    similarity=round(similarity, 4),
                    release_id=self.release_id,
                )
            )
            if len(result.passages) == k:
                break
        result.supported = bool(result.passages)
        result.message = None if result.supported else NO_SUPPORT
        return result


_cache_lock = threading.Lock()
_release_cache: dict[tuple[KnowledgeConfig, str], Retriever] = {}
_pointer_seen: dict[tuple[str, str, str], tuple[tuple[int, int, int], str]] = {}


def open_release_retriever(config: KnowledgeConfig, release_id: str) -> Retriever:
    """A cached retriever for any release (evaluation reads drafts through this)."""
    key = (config, release_id)
    with _cache_lock:
        if key not in _release_cache:
            _release_cache[key] = Retriever(config, release_id)
        return _release_cache[key]


def open_current_retriever(
    knowledge_dir: Path,
    embedding_model: str,
    config: KnowledgeConfig | None = None,
) -> Retriever:
    """The retriever of the published release, cached per process and reopened when ``CURRENT``
    changes (one ``stat`` per call). ``config`` supplies the other settings (chroma server, threshold).

    Raises :class:`NoPublishedRelease` when nothing is published, :class:`ModelMismatchError` when
    ``embedding_model`` differs from the release's.
    """
    cfg = config or KnowledgeConfig(knowledge_dir=knowledge_dir, embedding_model=embedding_model)
    key = (str(knowledge_dir.resolve()), embedding_model, cfg.chroma_url or "")
    try:
        st = os.stat(cfg.pointer_path)
    except FileNotFoundError as err:
        raise NoPublishedRelease(f"no published knowledge release in {knowledge_dir}") from err
    signature = (st.st_ino, st.st_mtime_ns, st.st_size)
    seen = _pointer_seen.get(key)
    if seen is not None and seen[0] == signature:
        return open_release_retriever(cfg, seen[1])
    pointer = read_pointer(cfg)
    if pointer is None:
        raise NoPublishedRelease(f"no published knowledge release in {knowledge_dir}")
    try:
        retriever = open_release_retriever(cfg, pointer.release_id)
    except ReleaseError as err:
        raise NoPublishedRelease(str(err)) from err
    _pointer_seen[key] = (signature, pointer.release_id)
    return retriever
