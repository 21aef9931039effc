"""``evidence-cds trials …``: import trial files into a release, list / activate releases, evaluate.

    import FILE…        import ClinicalTrials.gov JSON / XML (and the demo trials) → new release
    releases            list releases, the current one marked
    activate RELEASE    serve an earlier (or newer) release
    eval                nDCG@10, P@10, recall@100 on a queries / corpus / qrels set, per mode

This is an edge (it lives beside the services, not in ``knowledge``): it reads ``evidence_cds``
settings and, for the eligibility mode, the clinical NLP (``clinical.patient_profile``), lazily inside
the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from knowledge.trials.importer import TrialImportError, import_files
from knowledge.trials.release import (
    ReleaseNotFound,
    activate,
    build_release,
    current_release_id,
    list_releases,
)


def _settings() -> Any:
    from evidence_cds.settings import load_settings

    return load_settings()


@click.group("trials")
def trials_group() -> None:
    """Clinical-trial corpus: import, releases, evaluation."""


@trials_group.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--no-demo", is_flag=True, help="Leave the team's fictional demo trials out of the release.")
@click.option("--no-activate", is_flag=True, help="Build the release without serving it.")
def import_cmd(files: tuple[Path, ...], no_demo: bool, no_activate: bool) -> None:
    """Import trial records (modern API JSON, classic XML, JSONL) into a new release."""
    from knowledge.embeddings import get_embedder
    from knowledge.trials.demo import DEMO_DIR

    settings = _settings()
    paths = list(files) if no_demo else [*sorted(DEMO_DIR.glob("*.json")), *files]
    try:
        trials = import_files(paths)
    except TrialImportError as err:
        raise click.ClickException(str(err)) from err
    manifest = build_release(
        trials,
        settings.resolved_trials_dir(),
        get_embedder(settings.embedding_model),
        activate_it=not no_activate,
    )
    click.echo(
        f"release {manifest.release_id}: {manifest.n_trials} trials ({manifest.n_recruiting} recruiting), "
        f"{manifest.n_passages} passages{'' if no_activate else ', now current'}"
    )


@trials_group.command("releases")
def releases_cmd() -> None:
    """List trial releases (the current one marked with *)."""
    trials_dir = _settings().resolved_trials_dir()
    current = current_release_id(trials_dir)
    for m in list_releases(trials_dir):
        mark = "*" if m.release_id == current else " "
        click.echo(
            f"{mark} {m.release_id}  {m.n_trials} trials  {m.created_at:%Y-%m-%d %H:%M}  {m.embedding_model}"
        )


@trials_group.command("activate")
@click.argument("release_id")
def activate_cmd(release_id: str) -> None:
    """Serve RELEASE_ID (promotion or rollback)."""
    try:
        m = activate(_settings().resolved_trials_dir(), release_id)
    except ReleaseNotFound as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"current trial release: {m.release_id}")


@trials_group.command("eval")
@click.option("--queries", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--corpus", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--qrels", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(["bm25", "dense", "hybrid", "hybrid+prf", "hybrid+elig", "all"]),
    default=("hybrid+elig",),
    show_default=True,
)
@click.option(
    "--depth", default=30, show_default=True, help="Trials checked in depth per query (hybrid+elig)."
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Write the per-query JSON report."
)
def eval_cmd(
    queries: Path, corpus: Path, qrels: Path, modes: tuple[str, ...], depth: int, report: Path | None
) -> None:
    """Score retrieval (and eligibility re-ranking) on a graded-relevance set."""
    from clinical.patient_profile import profile_from_text
    from knowledge.embeddings import get_embedder
    from knowledge.trials.eval_run import EVAL_MODES, load_inputs, run_mode

    encoder = get_embedder(_settings().embedding_model)
    inputs = load_inputs(corpus, queries, qrels, encoder)
    wanted = EVAL_MODES if "all" in modes else tuple(m for m in EVAL_MODES if m in modes)
    profiles = {qid: profile_from_text(text, source_id=qid) for qid, text in inputs.queries.items()}
    reports = [
        run_mode(inputs, m, encoder, profile_from_text, depth=depth, profiles=profiles) for m in wanted
    ]
    click.echo(f"{'mode':<12} {'nDCG@10':>8} {'P@10':>6} {'R@100':>6} {'in depth':>9} {'s':>6}")
    for r in reports:
        click.echo(
            f"{r.mode:<12} {r.ndcg_10:8.3f} {r.p_10:6.3f} {r.recall_100:6.3f} "
            f"{r.fraction_scored_in_depth:9.1%} {r.seconds:6.1f}"
        )
    click.echo(f"{reports[0].n_queries} queries, corpus of {reports[0].corpus_size} trials", err=True)
    if report is not None:
        report.write_text(json.dumps([r.model_dump() for r in reports], indent=2))
        click.echo(f"per-query report: {report}", err=True)
    sys.stdout.flush()
