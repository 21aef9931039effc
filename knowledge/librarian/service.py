"""The librarian's operations, shared by the CLI and the web UI: each does the work and writes one
audit row naming the actor.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from knowledge.config import KnowledgeConfig
from knowledge.evaluation import load_golden
from knowledge.librarian.accounts import audit
from knowledge.library import AddResult, Library
from knowledge.publishing import PublishOutcome, publish_release, rollback_release
from knowledge.releases import (
    EvaluationScores,
    ManifestDocument,
    Pointer,
    ProgressFn,
    ReleaseError,
    ReleaseManifest,
    build_release,
    list_releases,
    prune,
    read_manifest,
    read_pointer,
)

UploadFn = Callable[[Library], list[AddResult]]


@dataclass
class IngestReport:
    results: list[AddResult]
    manifest: ReleaseManifest | None
    built: bool
    seconds: float
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def chunks_per_second(self) -> float:
        if self.manifest is None or not self.seconds:
            return 0.0
        return self.manifest.n_chunks / self.seconds


def ingest(
    config: KnowledgeConfig,
    engine: Engine,
    actor: str,
    add: UploadFn,
    build: bool = True,
    progress: ProgressFn | None = None,
    force: bool = False,
) -> IngestReport:
    """Add documents (``add`` fills the library) then build a draft release from the library."""
    started = time.perf_counter()
    library = Library(config)
    results = add(library)
    counts: Counter[str] = Counter(r.outcome for r in results)
    manifest: ReleaseManifest | None = None
    built = False
    if build and library.index():
        manifest, built = build_release(config, actor, progress, force=force)
    seconds = time.perf_counter() - started
    audit(
        engine,
        actor,
        "ingest",
        target=manifest.release_id if manifest else None,
        documents=dict(counts),
        refused=[r.message for r in results if r.outcome == "refused"][:20],
        built=built,
        seconds=round(seconds, 2),
    )
    return IngestReport(results, manifest, built, seconds, counts)


def add_paths(paths: Sequence[Path], actor: str, on_file: Callable[[], None] | None = None) -> UploadFn:
    def run(library: Library) -> list[AddResult]:
        out: list[AddResult] = []
        for path in paths:
            out.extend(library.add_files([path], actor))
            if on_file:
                on_file()
        return out

    return run


def evaluate(
    config: KnowledgeConfig,
    engine: Engine,
    actor: str,
    release_id: str | None = None,
    golden_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[str, EvaluationScores]:
    from knowledge.evaluation import evaluate_release

    path = golden_path or config.golden_path
    if path is None:
        raise ReleaseError("no golden set: pass --golden PATH or set EVIDENCE_CDS_KNOWLEDGE_GOLDEN_PATH")
    rid = release_id or latest_release_id(config)
    scores = evaluate_release(config, rid, load_golden(path), actor, progress)
    audit(engine, actor, "evaluate", target=rid, metrics=scores.metrics, golden=scores.golden_hash)
    return rid, scores


def publish(
    config: KnowledgeConfig,
    engine: Engine,
    actor: str,
    release_id: str,
    force: bool = False,
    reason: str | None = None,
    golden_path: Path | None = None,
) -> PublishOutcome:
    golden = load_golden(golden_path) if golden_path else None
    try:
        outcome = publish_release(config, release_id, actor, force=force, reason=reason, golden=golden)
    except ReleaseError as err:
        audit(engine, actor, "publish_refused", target=release_id, reason=reason, error=str(err))
        raise
    audit(
        engine,
        actor,
        "publish",
        target=release_id,
        forced=outcome.forced,
        reason=reason,
        previous=outcome.pointer.previous,
        gate=outcome.decision.model_dump() if outcome.decision else None,
    )
    return outcome


def rollback(
    config: KnowledgeConfig, engine: Engine, actor: str, to: str | None = None, reason: str | None = None
) -> Pointer:
    pointer = rollback_release(config, actor, to=to, reason=reason)
    audit(engine, actor, "rollback", target=pointer.release_id, reason=reason, previous=pointer.previous)
    return pointer


def prune_releases(config: KnowledgeConfig, engine: Engine, actor: str, keep: int) -> list[str]:
    removed = prune(config, keep)
    audit(engine, actor, "prune", target=",".join(removed) or None, keep=keep)
    return removed


def latest_release_id(config: KnowledgeConfig) -> str:
    releases = list_releases(config)
    if not releases:
        raise ReleaseError("no release has been built yet")
    return releases[-1].release_id


def release_state(manifest: ReleaseManifest, pointer: Pointer | None) -> str:
    if pointer is not None and pointer.release_id == manifest.release_id:
        return "published"
    if any(e.action in ("published", "rolled_back_to") for e in manifest.history):
        return "retired"
    return manifest.state


def stale_documents(config: KnowledgeConfig, release_id: str | None = None) -> list[ManifestDocument]:
    """Documents of the release (default: published) older than ``stale_years``."""
    pointer = read_pointer(config)
    rid = release_id or (pointer.release_id if pointer else None)
    if rid is None:
        return []
    cutoff = datetime.now(UTC).year - config.stale_years
    return [d for d in read_manifest(config, rid).documents if d.year < cutoff]


def is_stale(config: KnowledgeConfig, year: int) -> bool:
    return year < datetime.now(UTC).year - config.stale_years
