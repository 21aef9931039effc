"""Structured criteria: the checkable rule a criterion's text states, when it states one plainly.

Parsed shapes (everything else stays textual):

* age bounds — "Age 18 to 75 years", "aged ≥ 18 years", "65 years or older";
* lab thresholds with units and recency — "HbA1c 7.0–10.5 % measured within 90 days",
  "eGFR < 45 mL/min/1.73 m2", "serum creatinine > 133 µmol/L" (converted to the canonical unit);
* medications — "use of insulin", "on a stable dose of metformin for at least 8 weeks";
* conditions — "type 1 diabetes", "history of pancreatitis";
* pregnancy — "pregnant or breastfeeding".

The rule states the *condition in the text*; whether that makes a patient eligible depends on the
criterion's kind (an exclusion whose rule holds excludes). Bounds keep their inclusiveness, so checks
are exact at the boundary.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from knowledge.trials.vocab import find_analyte, find_condition, find_medication, normalise

_NUM = r"(\d+(?:\.\d+)?)"
_UNIT = (
    r"\s*(%|mmol/mol|mg/dl|mmol/l|µmol/l|μmol/l|umol/l|g/dl|g/l|meq/l|u/l|kg/m2|kg/m²"
    r"|ml/min(?:/1\.73\s?m2|/1\.73\s?m²)?)?"
)
_RANGE = re.compile(rf"(?:between\s+)?{_NUM}{_UNIT}\s*(?:-|to|and)\s*{_NUM}{_UNIT}")
_CMP_WORDS: list[tuple[str, str]] = [
    (r"≥|>=|=>|greater than or equal to|at least|no less than|not less than|minimum of", ">="),
    (r"≤|<=|=<|less than or equal to|at most|no more than|not more than|up to|maximum of", "<="),
    (r">|greater than|more than|above|higher than|over|exceeding", ">"),
    (r"<|less than|below|lower than|under", "<"),
]
# "7.5% or higher", "45 or below": an inclusive bound written after the number.
_POSTFIX = re.compile(
    rf"{_NUM}{_UNIT}\s*(?:or|and)\s+(higher|more|greater|above|over|lower|less|below|under)"
)
_RECENCY = re.compile(
    r"(?:within|in)\s+(?:the\s+)?(?:last|past|prior|previous|preceding)?\s*(\d+)\s*(day|week|month|year)s?"
)
_DURATION = re.compile(r"(?:for\s+)?(?:at\s+least|≥|>=|minimum of)\s+(\d+)\s*(day|week|month|year)s?")
_AGE_RANGE = re.compile(rf"\bage[ds]?\b[^0-9]{{0,20}}{_NUM}\s*(?:-|to|and)\s*{_NUM}\s*(?:years?|yrs?)?")
_AGE_MIN = re.compile(
    rf"(?:\bage[ds]?\b[^0-9]{{0,12}}(?:≥|>=|at least|over|older than|>)\s*{_NUM})"
    rf"|(?:{_NUM}\s*years?(?: of age)? (?:or|and) (?:older|over|above))"
)
_AGE_MAX = re.compile(
    rf"(?:\bage[ds]?\b[^0-9]{{0,12}}(?:≤|<=|at most|under|younger than|<)\s*{_NUM})"
    rf"|(?:{_NUM}\s*years?(?: of age)? (?:or|and) (?:younger|under|below))"
)
_PREGNANCY = re.compile(r"\bpregnan|\bbreast-?feeding\b|\blactating\b|\bnursing\b")
_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


class AgeRule(BaseModel):
    type: Literal["age"] = "age"
    min_years: float | None = None
    max_years: float | None = None
    max_inclusive: bool = True


class LabRule(BaseModel):
    """``low``/``high`` in the analyte's canonical unit; ``within_days`` = how recent the value must be."""

    type: Literal["lab"] = "lab"
    analyte: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    within_days: int | None = None

    def holds(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return not (
            self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive))
        )

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g}"
        if self.low is not None:
            return f"{'≥' if self.low_inclusive else '>'} {self.low:g}"
        return f"{'≤' if self.high_inclusive else '<'} {self.high:g}"


class MedicationRule(BaseModel):
    type: Literal["medication"] = "medication"
    name: str  # a key of vocab.MEDICATIONS or an ingredient name
    min_days: int | None = None  # "stable dose for at least N weeks"


class ConditionRule(BaseModel):
    type: Literal["condition"] = "condition"
    concept: str  # a key of vocab.CONDITIONS


class PregnancyRule(BaseModel):
    type: Literal["pregnancy"] = "pregnancy"


Rule = Annotated[
    AgeRule | LabRule | MedicationRule | ConditionRule | PregnancyRule, Field(discriminator="type")
]


def _days(amount: str, unit: str) -> int:
    return int(float(amount) * _DAYS[unit])


def _norm_unit(unit: str) -> str:
    return unit.replace(" ", "").replace("μ", "µ").lower()


def _convert(value: float, unit: str | None, analyte_key: str) -> float | None:
    """``value`` in the analyte's canonical unit; ``None`` for a unit we cannot convert.

    An unknown unit is never read as the canonical one (133 µmol/L creatinine is not 133 mg/dL):
    the criterion then stays textual and its verdict "unknown" rather than wrong.
    """
    from knowledge.trials.vocab import analyte_by_key

    analyte = analyte_by_key(analyte_key)
    if analyte is None or not unit:
        return value
    key = _norm_unit(unit)
    if key == _norm_unit(analyte.unit):
        return value
    conversions = {_norm_unit(k): v for k, v in analyte.conversions.items()}
    conv = conversions.get(key)
    return value * conv[0] + conv[1] if conv else None


def parse_lab(text: str) -> LabRule | None:
    found = find_analyte(text)
    if found is None:
        return None
    analyte, pos = found
    tail = text[pos : pos + 140]
    recency = _RECENCY.search(text)
    within = _days(recency.group(1), recency.group(2)) if recency else None
    m = _RANGE.search(tail)
    if m:
        unit = m.group(4) or m.group(2)
        low, high = (
            _convert(float(m.group(1)), unit, analyte.key),
            _convert(float(m.group(3)), unit, analyte.key),
        )
        if low is None or high is None:
            return None
        if low <= high:
            return LabRule(analyte=analyte.key, low=low, high=high, within_days=within)
    for words, op in _CMP_WORDS:
        m2 = re.search(rf"(?:{words})\s*{_NUM}{_UNIT}", tail)
        if m2:
            value = _convert(float(m2.group(1)), m2.group(2), analyte.key)
            if value is None:
                return None
            if op in (">=", ">"):
                return LabRule(analyte=analyte.key, low=value, low_inclusive=op == ">=", within_days=within)
            return LabRule(analyte=analyte.key, high=value, high_inclusive=op == "<=", within_days=within)
    m3 = _POSTFIX.search(tail)
    if m3:
        value = _convert(float(m3.group(1)), m3.group(2), analyte.key)
        if value is None:
            return None
        if m3.group(3) in ("higher", "more", "greater", "above", "over"):
            return LabRule(analyte=analyte.key, low=value, within_days=within)
        return LabRule(analyte=analyte.key, high=value, within_days=within)
    return None


def parse_age(text: str) -> AgeRule | None:
    m = _AGE_RANGE.search(text)
    if m:
        low, high = float(m.group(1)), float(m.group(2))
        if low < high <= 120:
            return AgeRule(min_years=low, max_years=high)
    lo = _AGE_MIN.search(text)
    hi = _AGE_MAX.search(text)
    if lo or hi:
        low_v = float(next(g for g in lo.groups() if g)) if lo else None
        high_v = float(next(g for g in hi.groups() if g)) if hi else None
        return AgeRule(min_years=low_v, max_years=high_v)
    return None


def parse_rule(text: str) -> AgeRule | LabRule | MedicationRule | ConditionRule | PregnancyRule | None:
    """The rule ``text`` states, or ``None`` when it is not one of the plain shapes above."""
    norm = normalise(text)
    lab = parse_lab(norm)
    if lab is not None:
        return lab
    if re.search(r"\bage[ds]?\b|years? of age|years? old|years? or older", norm):
        age = parse_age(norm)
        if age is not None:
            return age
    if _PREGNANCY.search(norm) and len(norm) < 120:
        return PregnancyRule()
    med = find_medication(norm)
    cond = find_condition(norm)
    if med is not None and (cond is None or med[1] < cond[1] or _uses(norm, med[1])):
        duration = _DURATION.search(norm)
        min_days = _days(duration.group(1), duration.group(2)) if duration else None
        return MedicationRule(name=med[0], min_days=min_days)
    if cond is not None:
        return ConditionRule(concept=cond[0].key)
    return None


def _uses(text: str, pos: int) -> bool:
    """A medication mention framed as use ("treated with", "on", "use of") rather than a diagnosis."""
    before = text[max(0, pos - 30) : pos]
    return (
        re.search(
            r"(treated with|treatment with|use of|using|taking|receiving|on|therapy with)\s*(\w+\s){0,3}$",
            before,
        )
        is not None
    )
