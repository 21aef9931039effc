"""Context rules as data (``data/context_rules.json``) and their evaluator.

A rule names the interaction it adjusts, a set of *facts* (named predicates over the patient record:
co-medication in a class, age, a coded condition, the latest lab in a window and range, the route of
the interacting product, and ``all`` / ``any`` combinations) and a *decision table* read top-down (first
row whose ``when`` matches gives the indicator). This is the HL7 PDDI CDS guide's logic
(``input/cql/*.cql``) expressed as tables; adding a pair is a new rule object plus a test, no code.

The evaluator reads the record through small protocols (:class:`RecordLike` and friends) that
``clinical.record.PatientRecord`` satisfies, so ``knowledge`` does not import ``clinical``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from knowledge.drugs.vocabulary import CodeLike

DATA_DIR = Path(__file__).resolve().parent / "data"
RULES_FILE = DATA_DIR / "context_rules.json"
CLASSES_FILE = DATA_DIR / "drug_classes.json"
IndicatorName = Literal["info", "warning", "critical"]
INDICATOR_RANK = {"info": 0, "warning": 1, "critical": 2}


# --- what the evaluator reads (structurally satisfied by clinical.record) ------------------------


class MedicationLike(Protocol):
    @property
    def source_id(self) -> str | None: ...
    @property
    def codes(self) -> Sequence[CodeLike]: ...
    @property
    def text(self) -> str: ...
    @property
    def status(self) -> str | None: ...
    @property
    def authored_on(self) -> datetime | None: ...
    @property
    def is_draft(self) -> bool: ...
    @property
    def ingredient_ids(self) -> set[str]: ...


class ProblemLike(Protocol):
    @property
    def codes(self) -> Sequence[CodeLike]: ...
    @property
    def text(self) -> str: ...
    @property
    def verification_status(self) -> str | None: ...
    @property
    def onset(self) -> datetime | None: ...
    @property
    def recorded(self) -> datetime | None: ...


class ObservationLike(Protocol):
    @property
    def codes(self) -> Sequence[CodeLike]: ...
    @property
    def value(self) -> float | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def effective(self) -> datetime | None: ...


class RecordLike(Protocol):
    @property
    def problems(self) -> Sequence[ProblemLike]: ...
    @property
    def observations(self) -> Sequence[ObservationLike]: ...
    def age_years(self, on: date | None = None) -> int | None: ...


# --- the rule data ---------------------------------------------------------------------------------


class Explain(BaseModel):
    true: str | None = None
    false: str | None = None


class FactSpec(BaseModel):
    """One named predicate. ``kind`` selects the check; the other fields are its parameters."""

    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["on_medication", "draft_in_class", "pair_route", "age", "condition", "lab", "all", "any"]
    drug_class: str | None = Field(default=None, alias="class")
    routes: list[str] = Field(default_factory=list)
    lookback_days: int | None = None
    exclude_pair: bool = False
    op: Literal[">", ">=", "<", "<="] | None = None
    value: float | None = None
    system: str | None = None
    codes: list[str] = Field(default_factory=list)
    loinc: list[str] = Field(default_factory=list)
    within_days: int | None = None
    low: float | None = None
    high: float | None = None
    unit: str | None = None
    convert: dict[str, float] = Field(default_factory=dict)
    of: list[str] = Field(default_factory=list)
    explain: Explain | None = None


class DecisionRow(BaseModel):
    when: dict[str, bool]
    indicator: IndicatorName


class SuggestionSpec(BaseModel):
    kind: Literal["cancel_draft", "substitute", "add_medication", "order_lab"]
    label: str
    unless: list[str] = Field(default_factory=list)
    rxnorm: str | None = None
    display: str | None = None
    loinc: str | None = None
    also: list[tuple[str, str]] = Field(default_factory=list)


class ContextRule(BaseModel):
    id: str
    entry: str
    label: str
    source: str
    object_class: str
    precipitant_class: str
    facts: dict[str, FactSpec]
    decision: list[DecisionRow]
    risk_factors: list[str] = Field(default_factory=list)
    suggestions: list[SuggestionSpec] = Field(default_factory=list)


class PolicyRow(BaseModel):
    new: IndicatorName | None
    tolerated: IndicatorName | None


class RuleBook(BaseModel):
    """Rules, the severity policy for entries without a rule, and the drug classes (as RxCUIs)."""

    kb_version: str
    severity_policy: dict[str, PolicyRow]
    rules: list[ContextRule]
    classes: dict[str, set[str]] = Field(default_factory=dict)
    class_labels: dict[str, str] = Field(default_factory=dict)

    def rule(self, rule_id: str | None) -> ContextRule | None:
        return next((r for r in self.rules if r.id == rule_id), None) if rule_id else None


@dataclass
class FactResult:
    name: str
    value: bool
    text: str | None  # the explanation for this value, placeholders filled; None when not explained


@dataclass
class PairContext:
    """What one rule evaluation sees: the record, the interacting medications, every other medication."""

    record: RecordLike
    pair_meds: list[MedicationLike]  # the drafts and partners that make up the interaction
    other_meds: list[MedicationLike]  # everything else: active, recent, other drafts
    route_of: Any  # callable (MedicationLike) -> str
    now: datetime
    cache: dict[str, FactResult] = field(default_factory=dict)


@dataclass
class RuleOutcome:
    indicator: IndicatorName
    facts: list[FactResult]
    suggestions: list[SuggestionSpec]


def evaluate(rule: ContextRule, book: RuleBook, ctx: PairContext, names_of: Any) -> RuleOutcome:
    """Evaluate every fact, pick the first matching decision row, keep the applicable suggestions.

    ``names_of(meds)`` renders medication names for the ``{drugs}`` placeholder.
    """
    evaluator = _Evaluator(rule, book, ctx, names_of)
    values = {name: evaluator.fact(name) for name in rule.facts}
    indicator: IndicatorName = "warning"
    for row in rule.decision:
        if all(values[k].value == v for k, v in row.when.items()):
            indicator = row.indicator
            break
    shown = [r for r in values.values() if r.text]
    suggestions = [s for s in rule.suggestions if not any(_ref(values, evaluator, u) for u in s.unless)]
    return RuleOutcome(indicator=indicator, facts=shown, suggestions=suggestions)


def _ref(values: dict[str, FactResult], ev: _Evaluator, ref: str) -> bool:
    return ev.ref(ref)


class _Evaluator:
    def __init__(self, rule: ContextRule, book: RuleBook, ctx: PairContext, names_of: Any) -> None:
        self.rule, self.book, self.ctx, self.names_of = rule, book, ctx, names_of

    def ref(self, ref: str) -> bool:
        """``"a"``, ``"!a"`` or ``"a&!b"`` over fact names."""
        return all(
            (not self.fact(p[1:]).value) if p.startswith("!") else self.fact(p).value for p in ref.split("&")
        )

    def fact(self, name: str) -> FactResult:
        if name in self.ctx.cache:
            return self.ctx.cache[name]
        spec = self.rule.facts[name]
        value, slots = self._check(spec)
        text = None
        if spec.explain is not None:
            template = spec.explain.true if value else spec.explain.false
            text = (
                template.format(
                    **{
                        "drugs": "",
                        "value": "",
                        "unit": "",
                        "date": "",
                        "condition": "",
                        "latest": "",
                        **slots,
                    }
                )
                if template
                else None
            )
        result = FactResult(name=name, value=value, text=text)
        self.ctx.cache[name] = result
        return result

    def _members(self, spec: FactSpec) -> set[str]:
        return self.book.classes.get(spec.drug_class or "", set())

    def _check(self, spec: FactSpec) -> tuple[bool, dict[str, str]]:
        ctx = self.ctx
        if spec.kind == "all":
            return all(self.ref(r) for r in spec.of), {}
        if spec.kind == "any":
            return any(self.ref(r) for r in spec.of), {}
        if spec.kind == "draft_in_class":
            hits = [m for m in ctx.pair_meds if m.is_draft and m.ingredient_ids & self._members(spec)]
            return bool(hits), {"drugs": self.names_of(hits)}
        if spec.kind == "pair_route":
            in_class = [m for m in ctx.pair_meds if m.ingredient_ids & self._members(spec)]
            topical = bool(in_class) and all(ctx.route_of(m) in spec.routes for m in in_class)
            return topical, {"drugs": self.names_of(in_class)}
        if spec.kind == "on_medication":
            pool = (
                ctx.other_meds
                if spec.exclude_pair
                else ctx.other_meds + [m for m in ctx.pair_meds if not m.is_draft]
            )
            since = ctx.now - timedelta(days=spec.lookback_days or 100)
            hits = [
                m
                for m in pool
                if m.ingredient_ids & self._members(spec)
                and (
                    m.is_draft
                    or (m.status or "active") in {"active", "on-hold"}
                    or _after(m.authored_on, since)
                )
            ]
            return bool(hits), {"drugs": self.names_of(hits)}
        if spec.kind == "age":
            age = ctx.record.age_years(ctx.now.date())
            if age is None or spec.value is None:
                return False, {}
            ok = {
                ">": age > spec.value,
                ">=": age >= spec.value,
                "<": age < spec.value,
                "<=": age <= spec.value,
            }
            return ok[spec.op or ">"], {"value": str(age)}
        if spec.kind == "condition":
            return self._condition(spec)
        return self._lab(spec)

    def _condition(self, spec: FactSpec) -> tuple[bool, dict[str, str]]:
        since = self.ctx.now - timedelta(days=spec.lookback_days or 36500)
        wanted = set(spec.codes)
        for p in self.ctx.record.problems:
            if p.verification_status in {"refuted", "entered-in-error"}:
                continue
            if not any(c.system == spec.system and c.code in wanted for c in p.codes):
                continue
            when = p.onset or p.recorded
            if when is None or _after(when, since):
                return True, {
                    "condition": p.text,
                    "date": when.date().isoformat() if when else "date unknown",
                }
        return False, {}

    def _lab(self, spec: FactSpec) -> tuple[bool, dict[str, str]]:
        since = self.ctx.now - timedelta(days=spec.within_days or 365)
        wanted = set(spec.loinc)
        found = [
            o
            for o in self.ctx.record.observations
            if o.value is not None
            and any(c.system == "http://loinc.org" and c.code in wanted for c in o.codes)
        ]
        if not found:
            return False, {}
        # The latest result decides (the CQL takes the last *normal* one; a newer abnormal value must
        # win). One older than the window decides nothing but is still shown ("latest ... on ...").
        latest = max(found, key=lambda o: o.effective or datetime.min.replace(tzinfo=UTC))
        value = _convert(latest.value, latest.unit, spec)
        day = latest.effective.date().isoformat() if latest.effective else "date unknown"
        shown_unit = spec.unit or latest.unit or ""
        slots = {
            "value": f"{value:g}" if value is not None else "?",
            "unit": shown_unit,
            "date": day,
            "latest": f" (latest {value:g} {shown_unit} on {day})" if value is not None else "",
        }
        if value is None or not _after(latest.effective, since):
            return False, slots
        ok = (spec.low is None or value > spec.low) and (spec.high is None or value < spec.high)
        if spec.low is None and spec.high is None:
            ok = True  # a "recent result exists" fact
        return ok, slots


def _convert(value: float | None, unit: str | None, spec: FactSpec) -> float | None:
    if value is None or spec.unit is None or unit is None or unit == spec.unit:
        return value
    factor = spec.convert.get(unit)
    if factor is None and unit.lower() == spec.unit.lower():
        return value
    return value * factor if factor is not None else None


def _after(when: datetime | None, since: datetime) -> bool:
    if when is None:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when >= since


def indicator_max(a: IndicatorName | None, b: IndicatorName | None) -> IndicatorName | None:
    if a is None or b is None:
        return a or b
    return a if INDICATOR_RANK[a] >= INDICATOR_RANK[b] else b


def load_rulebook(vocab: Any, rules_file: Path = RULES_FILE, classes_file: Path = CLASSES_FILE) -> RuleBook:
    """Rules + policy from JSON; class member names resolved to RxCUIs with the vocabulary."""
    data = json.loads(rules_file.read_text(encoding="utf-8"))
    classes = json.loads(classes_file.read_text(encoding="utf-8"))
    book = RuleBook.model_validate({k: v for k, v in data.items() if not k.startswith("_")})
    synonyms = classes.get("_synonyms", {})
    for key, spec in classes.items():
        if key.startswith("_"):
            continue
        ids = {vocab.rxcui_for_name(synonyms.get(n.lower(), n)) for n in spec["members"]}
        book.classes[key] = {i for i in ids if i}
        book.class_labels[key] = spec["label"]
    return book


def rule_codes(rules_file: Path = RULES_FILE) -> tuple[list[str], list[str]]:
    """(LOINC codes of every lab fact, ``system|code`` of every condition fact) in the rules: what a
    prefetch template must ask the EHR for, so it never pulls a patient's whole lab history."""
    data = json.loads(rules_file.read_text(encoding="utf-8"))
    loinc: dict[str, None] = {}
    conditions: dict[str, None] = {}
    for rule in data["rules"]:
        for fact in rule["facts"].values():
            if fact["kind"] == "lab":
                loinc.update(dict.fromkeys(fact["loinc"]))
            elif fact["kind"] == "condition":
                conditions.update(dict.fromkeys(f"{fact['system']}|{c}" for c in fact["codes"]))
    return list(loinc), list(conditions)


@lru_cache(maxsize=1)
def default_rulebook() -> RuleBook:
    from knowledge.drugs.vocabulary import load_vocabulary

    return load_rulebook(load_vocabulary())
