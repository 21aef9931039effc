"""``evidence-cds audit report``: per-service call counts, cards per call, override rates, latency."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import click
from sqlalchemy.orm import Session

from cds_services.audit import build_report
from evidence_cds import db
from evidence_cds.settings import load_settings

_AGO = re.compile(r"^(\d+)([dh])$")


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    m = _AGO.match(value)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return datetime.now(UTC) - (timedelta(days=n) if unit == "d" else timedelta(hours=n))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter("use e.g. 7d, 12h or an ISO date") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group("audit")
def audit_group() -> None:
    """The CDS Hooks audit trail."""


@audit_group.command("report")
@click.option("--since", help="Only calls since: 7d, 12h or an ISO date.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def report_cmd(since: str | None, as_json: bool) -> None:
    """Per-service calls, cards per call, override rate from feedback, latency p50/p95."""
    settings = load_settings()
    engine = db.make_engine(settings.resolved_database_url())
    try:
        with Session(engine) as session:
            reports = build_report(session, _since(since))
    finally:
        engine.dispose()
    if as_json:
        rows = [
            {
                **r.__dict__,
                "cards_per_call": round(r.cards_per_call, 3),
                "override_rate": None if r.override_rate is None else round(r.override_rate, 3),
            }
            for r in reports
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not reports:
        click.echo("no CDS Hooks calls recorded")
        return
    click.echo(
        f"{'service':<28}{'calls':>7}{'ok':>7}{'cards/call':>12}{'feedback':>10}{'override':>10}"
        f"{'p50 ms':>9}{'p95 ms':>9}"
    )
    for r in reports:
        rate = "-" if r.override_rate is None else f"{r.override_rate:.0%}"
        p50 = "-" if r.latency_p50_ms is None else f"{r.latency_p50_ms:.1f}"
        p95 = "-" if r.latency_p95_ms is None else f"{r.latency_p95_ms:.1f}"
        click.echo(
            f"{r.service_id:<28}{r.calls:>7}{r.ok_calls:>7}{r.cards_per_call:>12.2f}{r.feedback:>10}"
            f"{rate:>10}{p50:>9}{p95:>9}"
        )
        if r.unknown_feedback:
            click.echo(f"  ({r.unknown_feedback} feedback item(s) for cards this server never issued)")
