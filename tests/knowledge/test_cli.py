"""``evidence-cds knowledge …`` end to end through click, on a real SQLite database and index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evidence_cds.cli import main
from evidence_cds.devserver import PREPARE_STEPS
from evidence_cds.settings import load_settings
from knowledge.librarian.config import knowledge_config, prepare_starter_release
from knowledge.releases import list_releases, read_manifest, read_pointer

MINI_GOLDEN = """
- id: cli-warfarin
  question: ibuprofen and warfarin bleeding
  expected: [{doc: starter-warfarin-nsaids}]
- id: cli-ckd
  question: stages of chronic kidney disease by GFR
  expected: [{doc: starter-chronic-kidney-disease}]
"""


@pytest.fixture
def cli_env(tmp_path: Path, embedding_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    golden = tmp_path / "golden.yaml"
    golden.write_text(MINI_GOLDEN)
    monkeypatch.setenv("EVIDENCE_CDS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("EVIDENCE_CDS_KNOWLEDGE_EMBEDDING_CACHE_DIR", str(embedding_cache))
    monkeypatch.setenv("EVIDENCE_CDS_KNOWLEDGE_GOLDEN_PATH", str(golden))
    return tmp_path


def run(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(main, ["knowledge", *args], input=input, catch_exceptions=False)
    return result


def test_librarian_cli_workflow(cli_env: Path, starter_files: list[Path]) -> None:
    docs = cli_env / "docs"
    docs.mkdir()
    for f in starter_files[:4]:
        shutil.copy(f, docs / f.name)
    (docs / "untitled.md").write_text("# No metadata here\n\nText.\n")

    first = run("ingest", str(docs))
    assert first.exit_code == 0, first.output
    assert "r0001" in first.output and "refused" in first.output and "untitled.md" in first.output

    again = run("ingest", str(docs))
    assert "no change" in again.output

    published = run("publish", "r0001")
    assert published.exit_code == 0 and "published r0001" in published.output

    extra = cli_env / "extra"
    extra.mkdir()
    for f in starter_files[4:]:
        shutil.copy(f, extra / f.name)
    assert run("add", *(str(p) for p in extra.iterdir())).exit_code == 0
    assert run("remove", "starter-anemia-evaluation").exit_code == 0
    second = run("ingest", str(extra))
    assert "r0002" in second.output

    changes = run("diff", "r0001", "r0002")
    assert "starter-anemia-evaluation" in changes.output and "starter-type2-diabetes" in changes.output

    scores = run("eval", "r0002")
    assert scores.exit_code == 0 and "hybrid" in scores.output and "recall@5" in scores.output

    assert run("publish", "r0002").exit_code == 0
    status = run("status")
    assert "published" in status.output and "retired" in status.output

    back = run("rollback", "--reason", "check the old one")
    assert back.exit_code == 0 and "now serving r0001" in back.output
    cfg = knowledge_config(load_settings())
    assert read_pointer(cfg).release_id == "r0001"  # type: ignore[union-attr]
    assert read_manifest(cfg, "r0001").history[-1].reason == "check the old one"

    refused = run("publish", "r9999")
    assert refused.exit_code == 1 and "refused" in refused.output

    user = run("create-user", "alice", input="correct horse battery\ncorrect horse battery\n")
    assert user.exit_code == 0 and "created librarian alice" in user.output

    pruned = run("prune", "--keep", "0")
    assert "r0002" in pruned.output
    assert [m.release_id for m in list_releases(cfg)] == ["r0001"]


def test_prepare_step_publishes_the_starter_pack_once(cli_env: Path) -> None:
    assert any(step.__name__ == "_knowledge_starter_release" for step in PREPARE_STEPS)
    settings = load_settings()
    prepare_starter_release(settings)
    cfg = knowledge_config(settings)
    pointer = read_pointer(cfg)
    assert pointer is not None and pointer.release_id == "r0001"
    manifest = read_manifest(cfg, "r0001")
    assert manifest.n_documents == 7 and manifest.evaluation is not None
    assert {d.publisher for d in manifest.documents} == {"evidence-cds team"}
    prepare_starter_release(settings)  # idempotent: nothing new
    assert [m.release_id for m in list_releases(cfg)] == ["r0001"]
