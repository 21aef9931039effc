"""Hybrid index and versioned releases: idempotent builds, atomic pointer, rollback, retrieval."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.embeddings import Embedder
from knowledge.trials.demo import ensure_release
from knowledge.trials.importer import import_file
from knowledge.trials.index import TrialIndex, query_pieces
from knowledge.trials.models import Trial
from knowledge.trials.release import (
    ReleaseNotFound,
    activate,
    build_release,
    current_release_id,
    list_releases,
    load_index,
)

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_mode_finds_the_matching_trial(demo_index: TrialIndex, embedder: Embedder, mode: str) -> None:
    query = "woman with obesity who wants to lose weight, body mass index 34"
    hits = demo_index.search(query, embedder.encode(query_pieces(query)), mode=mode, k=3)  # type: ignore[arg-type]
    assert demo_index.trials[hits[0].index].nct_id == "DEMO-OBES-006"


def test_feedback_round_keeps_the_answer_and_masks_hold(demo_index: TrialIndex, embedder: Embedder) -> None:
    query = "type 2 diabetes on metformin with raised HbA1c"
    vectors = embedder.encode(query_pieces(query))
    plain = demo_index.search(query, vectors, k=3)
    fed = demo_index.search(query, vectors, k=3, prf_docs=2, prf_terms=5)
    assert demo_index.trials[plain[0].index].conditions == ["Type 2 Diabetes Mellitus"]
    assert demo_index.trials[fed[0].index].conditions[-1] == "Type 2 Diabetes Mellitus"
    allowed = [t.nct_id != "DEMO-T2DM-001" for t in demo_index.trials]
    masked = demo_index.search(query, vectors, k=10, allowed=allowed, prf_docs=2)
    assert "DEMO-T2DM-001" not in {demo_index.trials[h.index].nct_id for h in masked}


def test_dense_requires_vectors(demo_index: TrialIndex) -> None:
    with pytest.raises(ValueError, match="query vectors"):
        demo_index.search("diabetes", None, mode="dense")


def test_release_build_is_idempotent_and_switchable(
    tmp_path: Path, demo: list[Trial], embedder: Embedder
) -> None:
    trials_dir = tmp_path / "trials"
    with pytest.raises(ReleaseNotFound):
        load_index(trials_dir)
    first = ensure_release(trials_dir, embedder)
    assert current_release_id(trials_dir) == first.release_id and first.n_trials == len(demo)
    assert first.n_recruiting == len(demo) - 1
    assert (
        build_release(demo, trials_dir, embedder).release_id == first.release_id
    )  # same content: no rebuild
    bigger = build_release([*demo, *import_file(DATA / "classic_study.xml")], trials_dir, embedder)
    assert bigger.release_id != first.release_id and current_release_id(trials_dir) == bigger.release_id
    index = load_index(trials_dir)
    assert len(index) == len(demo) + 1 and "DEMO-XML-001" in index.by_id
    assert index.passage_vectors.shape[0] == bigger.n_passages
    assert [m.release_id for m in list_releases(trials_dir)] == [first.release_id, bigger.release_id]
    activate(trials_dir, first.release_id)  # rollback is one pointer write
    assert len(load_index(trials_dir)) == len(demo)
    with pytest.raises(ReleaseNotFound):
        activate(trials_dir, "trials-nope")


def test_import_releases_and_activate_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cds_services.services.trial_cli import trials_group

    monkeypatch.setenv("EVIDENCE_CDS_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    first = runner.invoke(trials_group, ["import", str(DATA / "classic_study.xml")])
    assert first.exit_code == 0, first.output
    assert "8 trials (7 recruiting)" in first.output and "now current" in first.output
    only_xml = runner.invoke(trials_group, ["import", "--no-demo", str(DATA / "classic_study.xml")])
    assert "1 trials (1 recruiting)" in only_xml.output
    listing = runner.invoke(trials_group, ["releases"]).output.splitlines()
    assert len(listing) == 2 and listing[1].startswith("* ")
    old_id = listing[0].split()[0]
    assert runner.invoke(trials_group, ["activate", old_id]).exit_code == 0
    assert runner.invoke(trials_group, ["releases"]).output.splitlines()[0].startswith(f"* {old_id}")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    refused = runner.invoke(trials_group, ["import", str(bad)])
    assert refused.exit_code != 0 and "invalid JSON" in refused.output
