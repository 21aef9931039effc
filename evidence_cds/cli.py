"""The ``evidence-cds`` command line.

``run`` starts the whole development system (sandbox EHR + evidence-cds) on embedded defaults;
``serve`` runs the product under gunicorn; ``db upgrade`` applies migrations. Packages contribute
their own command groups (``knowledge``, ``audit``, ``ddx``, ``trials``) through :data:`COMMAND_GROUPS`.
"""

from __future__ import annotations

import importlib

import click

from evidence_cds import db
from evidence_cds.settings import load_settings

# "module:attribute" of click groups contributed by packages; imported lazily so a heavy package
# (embeddings, NLP) costs nothing for the commands that do not use it.
COMMAND_GROUPS: list[str] = [
    "cds_services.cli:audit_group",
    "knowledge.librarian.cli:knowledge_group",
    "cds_services.services.trial_cli:trials_group",
    "cds_services.services.differential_cli:ddx_group",
    "knowledge.drugs.cli:drugs_group",
]


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(
            spec.rsplit(":", 1)[1].replace("_group", "").replace("_", "-") for spec in COMMAND_GROUPS
        )
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        for spec in COMMAND_GROUPS:
            module, attr = spec.rsplit(":", 1)
            if attr.replace("_group", "").replace("_", "-") == cmd_name:
                loaded: click.Command = getattr(importlib.import_module(module), attr)
                return loaded
        return None


@click.group(cls=_LazyGroup)
def main() -> None:
    """evidence-cds: clinical decision support inside the EHR."""


@main.command("run")
@click.option("--no-sandbox", is_flag=True, help="Start evidence-cds only.")
def run_cmd(no_sandbox: bool) -> None:
    """Prepare embedded defaults and start the sandbox EHR and evidence-cds (Ctrl-C stops both)."""
    from evidence_cds.devserver import run_development_system

    run_development_system(with_sandbox=not no_sandbox)


@main.command("serve")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=1, show_default=True, help="Threads per worker (gthread when > 1).")
@click.option("--bind", default=None, help="host:port (default: EVIDENCE_CDS_HOST:EVIDENCE_CDS_PORT).")
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations before starting.")
def serve_cmd(workers: int, threads: int, bind: str | None, no_migrate: bool) -> None:
    """Serve the product under gunicorn; each worker warms models and indexes before its first request."""
    from cds_services.serving import serve

    serve(load_settings(), workers=workers, threads=threads, bind=bind, migrate=not no_migrate)


@main.command("prepare")
def prepare_cmd() -> None:
    """Apply migrations and build the embedded defaults (starter knowledge release) if missing."""
    from evidence_cds.devserver import prepare_defaults

    prepare_defaults(load_settings())


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (SQLite default or EVIDENCE_CDS_DATABASE_URL)."""
    settings = load_settings()
    db.upgrade(settings.resolved_database_url())
    click.echo("database is at the latest schema")


if __name__ == "__main__":
    main()
