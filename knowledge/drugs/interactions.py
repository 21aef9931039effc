"""The pure decision function: draft medications × (other drafts + active medications) → findings.

:func:`find_interactions` compares every ingredient of every draft with every ingredient of every
other draft and active (or recently prescribed) medication, looks the pairs up in the
:class:`~knowledge.drugs.kb.InteractionKB`, and folds them into one :class:`InteractionFinding` per
clinically distinct interaction: all pairs whose strongest entry is the same KB entry become one
finding (brand and generic, both orderings, several members of one class). The indicator comes from the
entry's context rule when it has one (PDDI guide logic), else from the severity policy, which also
handles pairs the patient already tolerates (both drugs active together before this order).

No Flask, no HTTP: the same function serves a hook call, the UI and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from knowledge.drugs.context_rules import (
    FactResult,
    IndicatorName,
    MedicationLike,
    PairContext,
    RecordLike,
    RuleBook,
    SuggestionSpec,
    evaluate,
)
from knowledge.drugs.kb import SEVERITY_RANK, InteractionEntry, InteractionKB
from knowledge.drugs.vocabulary import DrugVocabulary

RECENT_DAYS = 100  # PDDI guide: rolling 100-day look-back for medication resources


@dataclass
class InteractionFinding:
    """One clinically distinct interaction to show (or, with ``indicator`` None, to stay quiet about)."""

    entry: InteractionEntry
    also_listed_in: list[InteractionEntry]
    drafts: list[MedicationLike]
    partners: list[MedicationLike]
    draft_ingredients: list[str]  # RxCUIs on the draft side of the pairs
    partner_ingredients: list[str]
    tolerated: bool
    indicator: IndicatorName | None
    rule_id: str | None = None
    facts: list[FactResult] = field(default_factory=list)
    suggestions: list[SuggestionSpec] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.entry.id


class MedicationRecordLike(RecordLike, Protocol):
    """A record with medications (``clinical.record.PatientRecord``)."""

    @property
    def medications(self) -> Sequence[MedicationLike]: ...
    @property
    def draft_medications(self) -> Sequence[MedicationLike]: ...


def current_medications(record: MedicationRecordLike, now: datetime) -> list[MedicationLike]:
    """Non-draft medications that count as "on board": active / on-hold, or prescribed in the last
    100 days and not stopped, cancelled or entered in error."""
    since = now - timedelta(days=RECENT_DAYS)
    out: list[MedicationLike] = []
    for m in record.medications:
        if m.is_draft:
            continue
        status = m.status or "active"
        recent = m.authored_on is not None and _aware(m.authored_on) >= since
        if status in {"active", "on-hold"} or (status == "completed" and recent):
            out.append(m)
    return out


def find_interactions(
    record: MedicationRecordLike,
    *,
    kb: InteractionKB,
    rules: RuleBook,
    vocab: DrugVocabulary,
    selected: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[InteractionFinding]:
    """Findings for the record's draft medications, strongest first; silent ones (indicator None) kept.

    ``selected``: source ids of the drafts to check (order-select ``selections``); other drafts still
    count as partners. Default: every draft.
    """
    now = now or datetime.now(UTC)
    drafts = list(record.draft_medications)
    checked = [d for d in drafts if selected is None or d.source_id in selected]
    current = current_medications(record, now)
    pairs: dict[str, _Group] = {}
    for d in checked:
        for partner in [*current, *(o for o in drafts if o is not d)]:
            for a in sorted(d.ingredient_ids):
                for b in sorted(partner.ingredient_ids):
                    entries = kb.lookup(a, b)
                    if not entries:
                        continue
                    best = entries[0]
                    group = pairs.setdefault(best.id, _Group(best))
                    group.add(d, partner, a, b, entries[1:])
    active_ids = {i for m in current for i in m.ingredient_ids}
    findings = [g.finding(active_ids, record, current, drafts, kb, rules, vocab, now) for g in pairs.values()]
    return sorted(findings, key=_order)


def _order(f: InteractionFinding) -> tuple[int, int, str]:
    rank = {"critical": 0, "warning": 1, "info": 2, None: 3}
    return rank[f.indicator], -SEVERITY_RANK[f.entry.severity], f.entry.id


class _Group:
    def __init__(self, entry: InteractionEntry) -> None:
        self.entry = entry
        self.drafts: list[MedicationLike] = []
        self.partners: list[MedicationLike] = []
        self.draft_ins: list[str] = []
        self.partner_ins: list[str] = []
        self.others: dict[str, InteractionEntry] = {}
        self.pairs: list[
            tuple[str, str, bool]
        ] = []  # (draft ingredient, partner ingredient, partner is draft)

    def add(self, d: MedicationLike, p: MedicationLike, a: str, b: str, more: list[InteractionEntry]) -> None:
        # Both orderings of two drafts land here twice; keep each medication once.
        if any(p is x for x in self.drafts) and any(d is x for x in self.partners):
            return
        if not any(d is x for x in self.drafts):
            self.drafts.append(d)
        if not any(p is x for x in self.partners):
            self.partners.append(p)
        for lst, v in ((self.draft_ins, a), (self.partner_ins, b)):
            if v not in lst:
                lst.append(v)
        for e in more:
            self.others.setdefault(e.id, e)
        self.pairs.append((a, b, p.is_draft))

    def finding(
        self,
        active_ids: set[str],
        record: MedicationRecordLike,
        current: list[MedicationLike],
        drafts: list[MedicationLike],
        kb: InteractionKB,
        rules: RuleBook,
        vocab: DrugVocabulary,
        now: datetime,
    ) -> InteractionFinding:
        # Tolerated: for every pair, the draft's ingredient is already on board (a renewal or dose
        # change) and the partner is an active medication, not another new draft.
        tolerated = all(a in active_ids and not p_is_draft for a, _, p_is_draft in self.pairs)
        finding = InteractionFinding(
            entry=self.entry,
            also_listed_in=list(self.others.values()),
            drafts=self.drafts,
            partners=self.partners,
            draft_ingredients=self.draft_ins,
            partner_ingredients=self.partner_ins,
            tolerated=tolerated,
            indicator=None,
        )
        rule = rules.rule(self.entry.context_rule)
        if rule is not None:
            pair_meds = [*self.drafts, *self.partners]
            others = [m for m in [*current, *drafts] if not any(m is x for x in pair_meds)]
            ctx = PairContext(
                record=record,
                pair_meds=pair_meds,
                other_meds=others,
                route_of=lambda m: vocab.route_for(m.codes, m.text),
                now=now,
            )
            outcome = evaluate(rule, rules, ctx, lambda meds: medication_names(meds))
            finding.indicator = outcome.indicator
            finding.rule_id = rule.id
            finding.facts = outcome.facts
            finding.suggestions = outcome.suggestions
            return finding
        policy = rules.severity_policy.get(self.entry.severity.value)
        if policy is not None:
            finding.indicator = policy.tolerated if tolerated else policy.new
        return finding


def medication_names(meds: Sequence[MedicationLike]) -> str:
    """Display names of medications, each once ("ibuprofen 400 MG Oral Tablet, naproxen ...")."""
    names = [m.text or next((c.display for c in m.codes if c.display), "") or "" for m in meds]
    return ", ".join(dict.fromkeys(n for n in names if n))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
