"""Feedback linked to cards, audit rows for every call (SQLite and PostgreSQL), the audit report."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from joserfc.jwk import ECKey

from cds_services.models_db import CdsCard, CdsFeedback
from evidence_cds.cli import main
from evidence_cds.db import session_scope
from evidence_cds.logging_setup import hash_id
from tests.cds_services.conftest import (
    CdsServer,
    EhrClient,
    KeyHost,
    demo_resources,
    full_prefetch,
    patient_view,
    start_cds,
    wait_for_audit,
)


@pytest.fixture
def db_cds(tmp_path: Path, key_host: KeyHost, database_url: str) -> Any:
    """A product server on SQLite or on its own fresh PostgreSQL database (counts stay exact)."""
    url, admin, name = database_url, None, None
    if database_url.startswith("postgresql"):
        admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
        name = f"cds_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = database_url.rsplit("/", 1)[0] + f"/{name}"
    srv = start_cds(tmp_path, key_host, database_url=url)
    yield srv
    srv.server.stop()
    srv.app.extensions["db_engine"].dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _gap_prefetch() -> dict[str, Any]:
    """demo-digoxin without its potassium results: a digoxin monitoring gap by construction."""
    resources = [r for r in demo_resources("demo-digoxin") if "2823-3" not in json.dumps(r.get("code", {}))]
    return full_prefetch(resources)


def _feedback(card: str, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "feedback": [{"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-30T09:00:00Z", **extra}]
    }


def test_audit_row_for_every_call_and_feedback_linked(db_cds: CdsServer, ec_key: ECKey) -> None:
    ehr = EhrClient(db_cds.url, ec_key)
    ok = patient_view("demo-digoxin", _gap_prefetch())
    resp = ehr.call("record-summary", ok)
    assert resp.status_code == 200
    cards = resp.json()["cards"]
    assert [c["summary"] for c in cards] == ["Digoxin: no potassium in the last 12 months"]
    bad = patient_view("demo-digoxin", {})  # 412
    unauth = patient_view("demo-digoxin")
    assert ehr.call("record-summary", bad).status_code == 412
    assert ehr.call("record-summary", unauth, token="").status_code == 401
    assert ehr.call("record-summary", {"hook": "patient-view"}).status_code == 400

    # Rows are written just after each answer is sent, so their order may interleave.
    rows = {r.status_code: r for r in wait_for_audit(db_cds.app, 4)}
    assert {code: r.outcome for code, r in rows.items()} == {
        200: "ok",
        412: "unavailable",
        401: "rejected",
        400: "rejected",
    }
    first = rows[200]
    assert first.hook_instance == ok["hookInstance"] and first.hook == "patient-view"
    assert first.patient_hash == hash_id("demo-digoxin") and "demo-digoxin" not in json.dumps(first.notes)
    assert first.card_uuids == [c["uuid"] for c in cards]
    assert first.indicators == [c["indicator"] for c in cards]
    assert first.client_iss == "https://ehr.test.example" and first.latency_ms > 0
    assert rows[401].detail == "jwt: no Authorization header"

    accepted = _feedback(cards[0]["uuid"], "accepted", acceptedSuggestions=[{"id": "s-1"}])
    assert ehr.feedback("record-summary", accepted).status_code == 200
    override = _feedback(
        str(uuid.uuid4()),
        "overridden",
        overrideReason={"reason": {"code": "not-relevant", "display": "Not relevant"}, "userComment": "seen"},
    )
    resp = ehr.feedback("record-summary", override)
    assert resp.status_code == 200 and resp.json()["unknownCards"] == 1
    with session_scope(db_cds.app) as s:
        fb = s.scalars(sa.select(CdsFeedback).order_by(CdsFeedback.id)).all()
        assert [(f.outcome, f.known_card) for f in fb] == [("accepted", True), ("overridden", False)]
        card = s.get(CdsCard, fb[0].card_id)
        assert card is not None and card.card_uuid == cards[0]["uuid"] and card.audit_id == first.id
        assert fb[0].accepted_suggestions == ["s-1"]
        assert fb[1].override_reason == {"code": "not-relevant", "display": "Not relevant"}
        assert fb[1].user_comment == "seen"


def test_audit_table_is_append_only(db_cds: CdsServer, ec_key: ECKey) -> None:
    ehr = EhrClient(db_cds.url, ec_key)
    assert ehr.call("record-summary", patient_view("demo-digoxin", _gap_prefetch())).status_code == 200
    assert len(wait_for_audit(db_cds.app, 1)) == 1
    engine = db_cds.app.extensions["db_engine"]
    for statement in ("UPDATE cds_audit SET outcome = 'forged'", "DELETE FROM cds_audit"):
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT outcome FROM cds_audit")).scalars().all() == ["ok"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": []},
        {"feedback": [{"card": "x", "outcome": "maybe", "outcomeTimestamp": "t"}]},
        {"feedback": [{"card": "x", "outcome": "accepted"}]},
        _feedback("x", "accepted", overrideReason={"userComment": "contradiction"}),
    ],
)
def test_invalid_feedback_is_400(ehr: EhrClient, body: dict[str, Any]) -> None:
    resp = ehr.feedback("record-summary", body)
    assert resp.status_code == 400 and resp.json()["resourceType"] == "OperationOutcome"


def test_feedback_requires_a_trusted_jwt(cds: CdsServer) -> None:
    import requests

    resp = requests.post(
        f"{cds.url}/cds-services/record-summary/feedback", json=_feedback("x", "accepted"), timeout=5
    )
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_audit_report_cli(db_cds: CdsServer, ec_key: ECKey, monkeypatch: pytest.MonkeyPatch) -> None:
    ehr = EhrClient(db_cds.url, ec_key)
    cards = []
    for _ in range(3):
        resp = ehr.call("record-summary", patient_view("demo-digoxin", _gap_prefetch()))
        cards.append(resp.json()["cards"])
    ehr.call("record-summary", patient_view("demo-digoxin", {}))  # 412: counted, not in latency
    assert len(wait_for_audit(db_cds.app, 4)) == 4
    ehr.feedback("record-summary", _feedback(cards[0][0]["uuid"], "overridden"))
    ehr.feedback("record-summary", _feedback(cards[1][0]["uuid"], "accepted"))
    monkeypatch.setenv("EVIDENCE_CDS_DATABASE_URL", db_cds.app.extensions["settings"].resolved_database_url())
    result = CliRunner().invoke(main, ["audit", "report", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["service_id"] == "record-summary"
    assert (row["calls"], row["ok_calls"], row["feedback"], row["override_rate"]) == (4, 3, 2, 0.5)
    assert row["cards_per_call"] == pytest.approx(len(cards[0]))
    assert 0 < row["latency_p50_ms"] <= row["latency_p95_ms"]
    text = CliRunner().invoke(main, ["audit", "report", "--since", "1d"])
    assert text.exit_code == 0 and "record-summary" in text.output and "50%" in text.output
