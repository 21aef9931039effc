"""``evidence-cds knowledge …``: the librarian's command line.

add FILE…            add documents to the library (no build)
ingest DIR           add every .md/.html/.pdf under DIR, then build a draft release
remove DOC_ID        retire a document from the next release
status               releases, states, scores, stale documents
eval [RELEASE]       score a release on the golden set (dense, bm25, hybrid)
publish RELEASE      gate + atomic switch (--force --reason to override, audited)
rollback [--to ID]   serve an earlier release again
diff A B             documents added / removed / changed
prune --keep N       delete old unpublished releases
create-user NAME     a local librarian account for the web UI
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from evidence_cds import db
from evidence_cds.settings import load_settings
from knowledge.config import KnowledgeConfig
from knowledge.librarian import service
from knowledge.librarian.accounts import AccountError, audit, create_user
from knowledge.librarian.config import knowledge_config
from knowledge.library import AddResult, Library, discover_files
from knowledge.publishing import GateRefused
from knowledge.releases import ReleaseError, diff, list_releases, read_pointer

console = Console(width=None if sys.stdout.isatty() else 150)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _context() -> tuple[KnowledgeConfig, Engine]:
    settings = load_settings()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url()
    db.upgrade(url)
    return knowledge_config(settings), db.make_engine(url)


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn our refusals into a clear message and exit status 1 (never a traceback)."""
    try:
        yield
    except GateRefused as err:
        _metrics_table("gate: candidate vs published (hybrid)", err.decision.candidate, err.decision.current)
        console.print(f"[red]{err}[/red]\nUse --force --reason '…' to publish anyway (audited).")
        sys.exit(1)
    except (ReleaseError, AccountError, FileNotFoundError) as err:
        console.print(f"[red]refused:[/red] {err}")
        sys.exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@click.group("knowledge")
def knowledge_group() -> None:
    """Guideline knowledge index: ingestion, releases, evaluation gate."""


@knowledge_group.command("add")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def add_cmd(files: tuple[Path, ...]) -> None:
    """Add documents to the library (metadata from sidecar, front matter or manifest.csv)."""
    cfg, engine = _context()
    results = Library(cfg).add_files(files, _actor())
    _outcome_table(results)
    audit(engine, _actor(), "add", documents=[f"{r.source}:{r.outcome}" for r in results])


@knowledge_group.command("ingest")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-build", is_flag=True, help="Only add to the library; do not build a release.")
@click.option("--rebuild", is_flag=True, help="Build a new release even if no document changed.")
def ingest_cmd(folder: Path, no_build: bool, rebuild: bool) -> None:
    """Add every document under FOLDER and build a draft release (embeddings cached by chunk hash)."""
    cfg, engine = _context()
    files = discover_files(folder)
    with _refusals(), _progress() as bar:
        parse_task = bar.add_task("parse + chunk", total=len(files))
        embed_task = bar.add_task("embed (new chunks)", total=None)
        index_task = bar.add_task("index", total=2)

        def on_progress(stage: str, done: int, total: int) -> None:
            bar.update(embed_task if stage == "embed" else index_task, completed=done, total=total)

        report = service.ingest(
            cfg,
            engine,
            _actor(),
            service.add_paths(files, _actor(), on_file=lambda: bar.advance(parse_task)),
            build=not no_build,
            progress=on_progress,
            force=rebuild,
        )
        if not report.built or (report.manifest is not None and report.manifest.encoded_chunks == 0):
            bar.update(embed_task, total=1, completed=1)
            bar.update(index_task, completed=2)
    refused = [r for r in report.results if r.outcome in ("refused", "duplicate")]
    if refused:
        _outcome_table(refused)
    table = Table(title=f"ingest {folder}")
    for col in ("files", "added", "changed", "unchanged", "duplicate", "refused", "release", "chunks"):
        table.add_column(col)
    table.add_column("encoded")
    table.add_column("wall s")
    table.add_column("chunks/s")
    m = report.manifest
    table.add_row(
        str(len(files)),
        *(str(report.counts.get(k, 0)) for k in ("added", "changed", "unchanged", "duplicate", "refused")),
        (m.release_id + ("" if report.built else " (no change)")) if m else "-",
        str(m.n_chunks) if m else "-",
        str(m.encoded_chunks if (m and report.built) else 0),
        f"{report.seconds:.2f}",
        f"{report.chunks_per_second:.1f}" if report.built else "-",
    )
    console.print(table)


@knowledge_group.command("remove")
@click.argument("doc_id")
def remove_cmd(doc_id: str) -> None:
    """Retire a document from the next release."""
    cfg, engine = _context()
    if not Library(cfg).remove(doc_id):
        console.print(f"[red]no document {doc_id!r} in the library[/red]")
        sys.exit(1)
    audit(engine, _actor(), "remove", target=doc_id)
    console.print(f"removed {doc_id}; build a release with `ingest` to take effect")


@knowledge_group.command("status")
def status_cmd() -> None:
    """Releases with state, counts, model and hybrid scores; stale documents of the published one."""
    cfg, _ = _context()
    pointer = read_pointer(cfg)
    table = Table(title=f"knowledge releases in {cfg.knowledge_dir}")
    for col in ("release", "state", "docs", "chunks", "model", "recall@5", "MRR", "nDCG@10", "built", "by"):
        table.add_column(col)
    for m in list_releases(cfg):
        h = m.evaluation.metrics["hybrid"] if m.evaluation else {}
        table.add_row(
            m.release_id,
            service.release_state(m, pointer),
            str(m.n_documents),
            str(m.n_chunks),
            m.embedding_model,
            *(f"{h[k]:.3f}" if k in h else "-" for k in ("recall@5", "mrr", "ndcg@10")),
            m.created_at.strftime("%Y-%m-%d %H:%M"),
            m.built_by,
        )
    console.print(table)
    stale = service.stale_documents(cfg)
    if stale:
        console.print(
            f"[yellow]{len(stale)} published document(s) older than {cfg.stale_years} years[/yellow]"
        )
        for d in stale[:20]:
            console.print(f"  {d.doc_id} ({d.year}) {d.title[:90]}")


@knowledge_group.command("eval")
@click.argument("release", required=False)
@click.option(
    "--golden", type=click.Path(exists=True, path_type=Path), help="Golden set YAML file or folder."
)
def eval_cmd(release: str | None, golden: Path | None) -> None:
    """Score a release (default: the newest) on the golden set: recall@5, MRR, nDCG@10 per mode."""
    cfg, engine = _context()
    with _refusals(), _progress() as bar:
        task = bar.add_task("questions", total=None)
        rid, scores = service.evaluate(
            cfg, engine, _actor(), release, golden, lambda d, t: bar.update(task, completed=d, total=t)
        )
    table = Table(title=f"{rid}: {scores.n_questions} golden questions (set {scores.golden_hash})")
    for col in ("mode", "recall@5", "MRR", "nDCG@10"):
        table.add_column(col)
    for mode, values in scores.metrics.items():
        table.add_row(mode, *(f"{values[k]:.3f}" for k in ("recall@5", "mrr", "ndcg@10")))
    console.print(table)


@knowledge_group.command("publish")
@click.argument("release")
@click.option("--force", is_flag=True, help="Publish even if the gate refuses (needs --reason).")
@click.option("--reason", help="Why (recorded in the audit trail).")
@click.option("--golden", type=click.Path(exists=True, path_type=Path), help="Golden set for the gate.")
def publish_cmd(release: str, force: bool, reason: str | None, golden: Path | None) -> None:
    """Run the evaluation gate, then atomically make RELEASE the served one."""
    cfg, engine = _context()
    with _refusals():
        outcome = service.publish(
            cfg, engine, _actor(), release, force=force, reason=reason, golden_path=golden
        )
    if outcome.decision is not None:
        _metrics_table(
            "gate: candidate vs published (hybrid)", outcome.decision.candidate, outcome.decision.current
        )
    note = " (FORCED past the gate)" if outcome.forced else ""
    console.print(f"published {release}{note}; previous: {outcome.pointer.previous or '-'}")


@knowledge_group.command("rollback")
@click.option("--to", "to", help="Release to serve (default: the one published before the current).")
@click.option("--reason", help="Why (recorded in the audit trail).")
def rollback_cmd(to: str | None, reason: str | None) -> None:
    """Serve an earlier release again (atomic; no gate)."""
    cfg, engine = _context()
    with _refusals():
        pointer = service.rollback(cfg, engine, _actor(), to, reason)
    console.print(f"now serving {pointer.release_id} (was {pointer.previous})")


@knowledge_group.command("diff")
@click.argument("base")
@click.argument("other")
def diff_cmd(base: str, other: str) -> None:
    """Documents added, removed and changed from BASE to OTHER."""
    cfg, _ = _context()
    with _refusals():
        d = diff(cfg, base, other)
    table = Table(title=f"{base} → {other} ({d.unchanged} unchanged)")
    table.add_column("change")
    table.add_column("documents")
    for label, ids in (("added", d.added), ("removed", d.removed), ("changed", d.changed)):
        table.add_row(label, ", ".join(ids) or "-")
    console.print(table)


@knowledge_group.command("prune")
@click.option("--keep", default=3, show_default=True, help="Unpublished releases to keep (newest first).")
def prune_cmd(keep: int) -> None:
    """Delete old releases (the published one is always kept)."""
    cfg, engine = _context()
    removed = service.prune_releases(cfg, engine, _actor(), keep)
    console.print(f"pruned {len(removed)} release(s): {', '.join(removed) or '-'}")


@knowledge_group.command("create-user")
@click.argument("username")
@click.option("--role", default="librarian", show_default=True)
@click.password_option()
def create_user_cmd(username: str, role: str, password: str) -> None:
    """Create a local account for the /librarian web UI (password hashed)."""
    _, engine = _context()
    with _refusals():
        create_user(engine, username, password, role)
    audit(engine, _actor(), "create_user", target=username, role=role)
    console.print(f"created {role} {username}")


def _outcome_table(results: list[AddResult]) -> None:
    table = Table(title="documents")
    for col in ("file", "outcome", "doc id", "chunks", "message"):
        table.add_column(col)
    for r in results:
        table.add_row(r.source, r.outcome, r.doc_id or "-", str(r.n_chunks), r.message)
    console.print(table)


def _metrics_table(title: str, candidate: dict[str, float], current: dict[str, float] | None) -> None:
    table = Table(title=title)
    for col in ("metric", "candidate", "published"):
        table.add_column(col)
    for k in ("recall@5", "mrr", "ndcg@10"):
        table.add_row(k, f"{candidate[k]:.3f}", f"{current[k]:.3f}" if current else "-")
    console.print(table)
