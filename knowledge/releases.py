"""Releases: immutable snapshots of the library (documents + chunks + embeddings + indexes + manifest).

Layout under ``knowledge_dir``::

    releases/<id>/manifest.json   documents with hashes, counts, model, build time, scores, history
    releases/<id>/chunks.jsonl    one :class:`ChunkRecord` per line (text + provenance)
    releases/<id>/embeddings.npy  the chunk vectors, row i ↔ line i
    releases/<id>/bm25/           the bm25s index
    chroma/                       one collection ``release-<id>`` per release
    CURRENT                       the published release (JSON), replaced atomically

A release is built in a hidden ``.building-<id>`` folder and renamed into place when complete, so a
crashed build leaves nothing a reader could mistake for a release. States: ``draft`` → ``evaluated``
in the manifest; *published* is whatever ``CURRENT`` names, so exactly one release serves at a time,
and switching it is one ``os.replace`` (see :mod:`knowledge.fsutil`). Old releases stay until pruned.
A release records one embedding model; the embedding cache is keyed by model, so it never mixes.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from knowledge.chunking import Chunk, embedding_input
from knowledge.config import KnowledgeConfig
from knowledge.embedding_cache import EmbeddingCache
from knowledge.fsutil import atomic_write_text, file_lock
from knowledge.index_store import build_bm25, drop_collection, write_collection
from knowledge.library import Library

ReleaseState = Literal["draft", "evaluated"]
ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


class ReleaseError(RuntimeError):
    """A release operation was refused (unknown id, nothing to build, pruning the current one…)."""


class ManifestDocument(BaseModel):
    doc_id: str
    title: str
    publisher: str
    year: int
    url: str | None
    topics: list[str]
    source_name: str
    content_hash: str
    doc_hash: str
    n_chunks: int


class ChunkRecord(Chunk):
    title: str
    publisher: str
    year: int
    url: str | None
    topics: list[str]


class EvaluationScores(BaseModel):
    golden_hash: str
    n_questions: int
    metrics: dict[str, dict[str, float]]  # mode → metric → value
    evaluated_at: datetime
    evaluated_by: str


class ReleaseEvent(BaseModel):
    at: datetime
    actor: str
    action: str
    reason: str | None = None
    forced: bool = False


class ReleaseManifest(BaseModel):
    release_id: str
    created_at: datetime
    built_by: str
    embedding_model: str
    embedding_dim: int
    chunk_params: str
    documents: list[ManifestDocument]
    n_documents: int
    n_chunks: int
    encoded_chunks: int
    build_seconds: float
    state: ReleaseState = "draft"
    evaluation: EvaluationScores | None = None
    history: list[ReleaseEvent] = Field(default_factory=list)


class Pointer(BaseModel):
    release_id: str
    published_at: datetime
    actor: str
    previous: str | None = None


def now() -> datetime:
    return datetime.now(UTC)


def release_dir(config: KnowledgeConfig, release_id: str) -> Path:
    if not release_id or "/" in release_id or release_id.startswith("."):
        raise ReleaseError(f"invalid release id {release_id!r}")
    return config.releases_dir / release_id


def read_manifest(config: KnowledgeConfig, release_id: str) -> ReleaseManifest:
    path = release_dir(config, release_id) / "manifest.json"
    if not path.is_file():
        raise ReleaseError(f"no release {release_id!r}")
    return ReleaseManifest.model_validate_json(path.read_bytes())


def write_manifest(config: KnowledgeConfig, manifest: ReleaseManifest) -> None:
    atomic_write_text(
        release_dir(config, manifest.release_id) / "manifest.json", manifest.model_dump_json(indent=1)
    )


def list_releases(config: KnowledgeConfig) -> list[ReleaseManifest]:
    if not config.releases_dir.is_dir():
        return []
    ids = sorted(p.name for p in config.releases_dir.iterdir() if (p / "manifest.json").is_file())
    return [read_manifest(config, rid) for rid in ids]


def read_pointer(config: KnowledgeConfig) -> Pointer | None:
    try:
        return Pointer.model_validate_json(config.pointer_path.read_bytes())
    except FileNotFoundError:
        return None


def record_event(config: KnowledgeConfig, release_id: str, event: ReleaseEvent) -> ReleaseManifest:
    with file_lock(config.knowledge_dir / ".manifest.lock"):
        manifest = read_manifest(config, release_id)
        manifest.history.append(event)
        write_manifest(config, manifest)
    return manifest


def _next_id(config: KnowledgeConfig) -> str:
    existing = [p.name for p in config.releases_dir.iterdir()] if config.releases_dir.is_dir() else []
    numbers = [int(m.group(1)) for n in existing if (m := re.search(r"(?:^|-)r(\d+)$", n))]
    return f"r{max(numbers, default=0) + 1:04d}"


def build_release(
    config: KnowledgeConfig, actor: str, progress: ProgressFn | None = None, force: bool = False
) -> tuple[ReleaseManifest, bool]:
    """Build a draft release from the library; returns ``(manifest, built)``.

    When the newest release already holds exactly the library's document versions with the same
    model, nothing is built (``built`` is False) unless ``force``.
    """
    started = time.perf_counter()
    library = Library(config)
    with file_lock(config.lock_path):
        index = library.index()
        if not index:
            raise ReleaseError("the library is empty: add documents first")
        wanted = {doc_id: s.doc_hash for doc_id, s in index.items()}
        existing = list_releases(config)
        if existing and not force:
            last = existing[-1]
            if last.embedding_model == config.embedding_model and wanted == {
                d.doc_id: d.doc_hash for d in last.documents
            }:
                return last, False
        records: list[ChunkRecord] = []
        documents: list[ManifestDocument] = []
        for doc_id in sorted(index):
            doc = library.document(doc_id)
            meta = doc.summary.meta
            documents.append(
                ManifestDocument(
                    **meta.model_dump(exclude={"doc_id"}),
                    doc_id=doc_id,
                    source_name=doc.summary.source_name,
                    content_hash=doc.summary.content_hash,
                    doc_hash=doc.summary.doc_hash,
                    n_chunks=len(doc.chunks),
                )
            )
            shared = {"title": meta.title, "publisher": meta.publisher, "year": meta.year, "url": meta.url}
            records.extend(ChunkRecord(**c.model_dump(), **shared, topics=meta.topics) for c in doc.chunks)
        texts = [embedding_input(r.title, r) for r in records]
        cache = EmbeddingCache(config.cache_dir, config.embedding_model)
        try:
            vectors = cache.embed(
                texts, on_progress=(lambda d, t: progress("embed", d, t)) if progress else None
            )
        finally:
            cache.close()
        release_id = _next_id(config)
        staging = config.releases_dir / f".building-{release_id}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if progress:
            progress("index", 0, 2)
        np.save(staging / "embeddings.npy", vectors)
        (staging / "chunks.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
        build_bm25(texts, staging / "bm25")
        write_collection(
            config,
            release_id,
            [r.chunk_id for r in records],
            vectors,
            [{"doc_id": r.doc_id, "publisher": r.publisher, "year": r.year} for r in records],
        )
        if progress:
            progress("index", 2, 2)
        manifest = ReleaseManifest(
            release_id=release_id,
            created_at=now(),
            built_by=actor,
            embedding_model=config.embedding_model,
            embedding_dim=int(vectors.shape[1]),
            chunk_params=f"{config.chunk_size}/{config.chunk_overlap}",
            documents=documents,
            n_documents=len(documents),
            n_chunks=len(records),
            encoded_chunks=cache.encoded,
            build_seconds=round(time.perf_counter() - started, 3),
            history=[ReleaseEvent(at=now(), actor=actor, action="built")],
        )
        (staging / "manifest.json").write_text(manifest.model_dump_json(indent=1))
        staging.rename(config.releases_dir / release_id)
        return manifest, True


def switch_pointer(config: KnowledgeConfig, release_id: str, actor: str) -> Pointer:
    """Make ``release_id`` the published release in one atomic replace of ``CURRENT``."""
    read_manifest(config, release_id)  # refuse unknown ids before touching the pointer
    current = read_pointer(config)
    pointer = Pointer(
        release_id=release_id,
        published_at=now(),
        actor=actor,
        previous=current.release_id if current else None,
    )
    atomic_write_text(config.pointer_path, pointer.model_dump_json())
    return pointer


def published_history(config: KnowledgeConfig) -> list[str]:
    """Release ids in the order they were published (from the manifests' histories)."""
    events: list[tuple[datetime, str]] = []
    for manifest in list_releases(config):
        for event in manifest.history:
            if event.action in ("published", "rolled_back_to"):
                events.append((event.at, manifest.release_id))
    return [rid for _, rid in sorted(events)]


def prune(config: KnowledgeConfig, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest releases; the published one is never deleted."""
    pointer = read_pointer(config)
    with file_lock(config.lock_path):
        releases = [m.release_id for m in list_releases(config)]
        candidates = [r for r in releases if not pointer or r != pointer.release_id]
        doomed = candidates[: max(0, len(candidates) - keep)]
        for rid in doomed:
            drop_collection(config, rid)
            shutil.rmtree(release_dir(config, rid))
    return doomed


class ReleaseDiff(BaseModel):
    base: str
    other: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: int


def diff(config: KnowledgeConfig, base: str, other: str) -> ReleaseDiff:
    """Documents added, removed and changed going from release ``base`` to ``other``."""
    a = {d.doc_id: d.doc_hash for d in read_manifest(config, base).documents}
    b = {d.doc_id: d.doc_hash for d in read_manifest(config, other).documents}
    return ReleaseDiff(
        base=base,
        other=other,
        added=sorted(set(b) - set(a)),
        removed=sorted(set(a) - set(b)),
        changed=sorted(k for k in set(a) & set(b) if a[k] != b[k]),
        unchanged=sum(1 for k in set(a) & set(b) if a[k] == b[k]),
    )
