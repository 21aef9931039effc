"""The audit trail of hook calls and card feedback, and the ``evidence-cds audit report`` figures.

One append-only :class:`~cds_services.models_db.CdsAudit` row per call to a known service (success
or refusal), with the cards it returned indexed in ``cds_card``; feedback rows are linked to the card
they concern, or stored with ``known_card = False`` when the uuid was never issued here
(CDS Hooks 2.0 §Feedback). No raw patient id, token or card text is stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from cds_services.models import Card, FeedbackItem
from cds_services.models_db import CdsAudit, CdsCard, CdsFeedback
from evidence_cds.logging_setup import hash_id

log = logging.getLogger(__name__)


@dataclass
class CallRecord:
    """What the edge learned about one call; written as one audit row."""

    service_id: str
    started: float
    hook: str | None = None
    hook_instance: str | None = None
    client_iss: str | None = None
    patient_id: str | None = None
    cards: list[Card] = field(default_factory=list)
    release_id: str | None = None
    outcome: str = "ok"
    status_code: int = 200
    detail: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def write_call(session: Session, call: CallRecord, latency_ms: float) -> int:
    """Insert the audit row and its card index rows; returns the audit id.

    Core ``INSERT``s rather than ORM objects: this runs on every hook call, inside its latency.
    """
    now = datetime.now(UTC)
    audit_id = session.execute(
        insert(CdsAudit)
        .values(
            created_at=now,
            client_iss=call.client_iss,
            service_id=call.service_id,
            hook=call.hook[:200] if call.hook else None,
            hook_instance=call.hook_instance[:200] if call.hook_instance else None,
            patient_hash=hash_id(call.patient_id),
            card_uuids=[c.uuid for c in call.cards],
            indicators=[c.indicator.value for c in call.cards],
            card_count=len(call.cards),
            release_id=call.release_id,
            latency_ms=round(latency_ms, 3),
            outcome=call.outcome,
            status_code=call.status_code,
            detail=call.detail[:500] if call.detail else None,
            notes=call.notes,
        )
        .returning(CdsAudit.id)
    ).scalar_one()
    if call.cards:
        session.execute(
            insert(CdsCard),
            [
                {
                    "card_uuid": c.uuid,
                    "audit_id": audit_id,
                    "service_id": call.service_id,
                    "indicator": c.indicator.value,
                    "issued_at": now,
                }
                for c in call.cards
            ],
        )
    return int(audit_id)


def write_feedback(
    session: Session, service_id: str, items: list[FeedbackItem], client_iss: str | None
) -> int:
    """Store each feedback item; returns how many concerned cards this server never issued."""
    unknown = 0
    now = datetime.now(UTC)
    for item in items:
        card = session.scalars(
            select(CdsCard).where(CdsCard.card_uuid == item.card, CdsCard.service_id == service_id).limit(1)
        ).first()
        if card is None:
            unknown += 1
        reason = item.overrideReason
        session.add(
            CdsFeedback(
                received_at=now,
                service_id=service_id,
                card_uuid=item.card,
                card_id=card.id if card else None,
                known_card=card is not None,
                outcome=item.outcome.value,
                accepted_suggestions=[s.id for s in item.acceptedSuggestions or []],
                override_reason=reason.reason if reason else None,
                user_comment=reason.userComment if reason else None,
                outcome_timestamp=item.outcomeTimestamp,
                client_iss=client_iss,
            )
        )
    return unknown


@dataclass
class ServiceReport:
    service_id: str
    calls: int
    ok_calls: int
    cards: int
    feedback: int
    overridden: int
    unknown_feedback: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None

    @property
    def cards_per_call(self) -> float:
        return self.cards / self.ok_calls if self.ok_calls else 0.0

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.feedback if self.feedback else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def build_report(session: Session, since: datetime | None = None) -> list[ServiceReport]:
    """Per-service call counts, cards per call, override rate and latency of successful calls."""
    where = [CdsAudit.created_at >= since] if since else []
    services = session.scalars(select(CdsAudit.service_id).where(*where).distinct()).all()
    fb_where = [CdsFeedback.received_at >= since] if since else []
    fb_services = session.scalars(select(CdsFeedback.service_id).where(*fb_where).distinct()).all()
    reports = []
    for sid in sorted(set(services) | set(fb_services)):
        rows = session.execute(
            select(CdsAudit.outcome, CdsAudit.card_count, CdsAudit.latency_ms).where(
                CdsAudit.service_id == sid, *where
            )
        ).all()
        ok = [r for r in rows if r.outcome == "ok"]
        fb = session.execute(
            select(CdsFeedback.outcome, CdsFeedback.known_card, func.count())
            .where(CdsFeedback.service_id == sid, *fb_where)
            .group_by(CdsFeedback.outcome, CdsFeedback.known_card)
        ).all()
        latencies = [float(r.latency_ms) for r in ok]
        reports.append(
            ServiceReport(
                service_id=sid,
                calls=len(rows),
                ok_calls=len(ok),
                cards=sum(r.card_count for r in ok),
                feedback=sum(n for _, _, n in fb),
                overridden=sum(n for outcome, _, n in fb if outcome == "overridden"),
                unknown_feedback=sum(n for _, known, n in fb if not known),
                latency_p50_ms=percentile(latencies, 50),
                latency_p95_ms=percentile(latencies, 95),
            )
        )
    return reports
