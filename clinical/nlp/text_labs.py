"""Lab results written in free text ("Na: 122 mEq/L", "WBC 13,400/mm3", "Creatinine: elevated").

Names come from ``data/lab_text_names.tsv``; each maps to a row of the LOINC table ``data/lab_findings.tsv``
(the same default adult range and low/high concepts as a coded Observation without its own range).
A number counts only when its unit is the table's unit, a known conversion of it, or absent, and its
(converted) value has a plausible magnitude (within a factor :data:`PLAUSIBLE_FACTOR` of the range,
:data:`MARKER_FACTOR` above it for markers and enzymes);
anything else is skipped, never guessed. A qualitative result ("elevated", "low") counts in its
direction. Results of other specimens written just before the name ("urine Na", "CSF glucose") are
skipped: the ranges are serum/blood ranges. Ranges are adult ranges (as for coded Observations without
their own range).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from clinical.nlp.labs import LabRule, lab_table, range_direction

NAMES_PATH = Path(__file__).parent / "data" / "lab_text_names.tsv"
PLAUSIBLE_FACTOR = 5.0
MARKER_FACTOR = 200.0
# enzymes and bilirubin: a result 20-100x the upper limit is real (hepatitis, pancreatitis)
WIDE_RANGE = frozenset({"1742-6", "1920-8", "6768-6", "1975-2", "3040-3", "1798-8"})
_HIGH_WORDS = ("elevated", "high", "increased", "raised")
_LOW_WORDS = ("low", "decreased", "reduced", "depressed")
_OTHER_SPECIMEN = re.compile(
    r"\b(urine|urinary|csf|pleural|stool|fecal|faecal|peritoneal|synovial)\W*$", re.I
)

# (unit as written, lower-cased, spaces removed) → factor to the table's unit, per LOINC
_PER_MM3 = ("/mm3", "/mm^3", "cells/mm3", "/ul", "/µl", "/mcl", "cells/ul", "cells/µl", "/cumm")
_PER_NANOLITRE = (
    "x10^9/l",
    "×10^9/l",
    "x109/l",
    "10^9/l",
    "x10^3/ul",
    "×10^3/µl",
    "k/ul",
    "k/µl",
    "10*3/ul",
)
_CONVERSIONS: dict[str, dict[str, float]] = {
    "2951-2": {"meq/l": 1.0, "mmol/l": 1.0},
    "2823-3": {"meq/l": 1.0, "mmol/l": 1.0},
    "2160-0": {"mg/dl": 1.0, "µmol/l": 1 / 88.4, "umol/l": 1 / 88.4, "μmol/l": 1 / 88.4},
    "3094-0": {"mg/dl": 1.0, "mmol/l": 2.8},
    "718-7": {"g/dl": 1.0, "g/l": 0.1},
    "4544-3": {"%": 1.0},
    "787-2": {"fl": 1.0},
    "6690-2": {**{u: 1 / 1000 for u in _PER_MM3}, **{u: 1.0 for u in _PER_NANOLITRE}},
    "777-3": {**{u: 1 / 1000 for u in _PER_MM3}, **{u: 1.0 for u in _PER_NANOLITRE}},
    "17861-6": {"mg/dl": 1.0, "mmol/l": 4.0},
    "2345-7": {"mg/dl": 1.0, "mmol/l": 18.0},
    "4548-4": {"%": 1.0},
    "1742-6": {"u/l": 1.0, "iu/l": 1.0},
    "1920-8": {"u/l": 1.0, "iu/l": 1.0},
    "6768-6": {"u/l": 1.0, "iu/l": 1.0},
    "1975-2": {"mg/dl": 1.0, "µmol/l": 1 / 17.1, "umol/l": 1 / 17.1},
    "3040-3": {"u/l": 1.0, "iu/l": 1.0},
    "1798-8": {"u/l": 1.0, "iu/l": 1.0},
    "10839-9": {"ng/ml": 1.0, "ng/l": 1 / 1000},
    "4537-7": {"mm/h": 1.0, "mm/hr": 1.0, "mm/hour": 1.0},
    "1988-5": {"mg/l": 1.0, "mg/dl": 10.0},
    "48065-7": {"ng/ml": 1.0, "ng/mlfeu": 1.0, "µg/l": 1.0, "ug/l": 1.0, "mg/l": 1000.0, "µg/ml": 1000.0},
    "30934-4": {"pg/ml": 1.0},
    "33762-6": {"pg/ml": 1.0},
    "3016-3": {"miu/l": 1.0, "µiu/ml": 1.0, "uiu/ml": 1.0, "mu/l": 1.0},
    "3024-7": {"ng/dl": 1.0, "pmol/l": 1 / 12.87},
    "2857-1": {"ng/ml": 1.0},
    "1751-7": {"g/dl": 1.0, "g/l": 0.1},
}
_VALUE = r"(?P<cmp>[<>]=?)?\s*(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
_UNIT = r"(?P<unit>(?:[a-zA-Zµμ%*/^×]|\d(?=[/^a-zA-Z]))(?:[\wµμ%*/^×.]*[\wµμ%*/^×])?)?"
_WORD = r"(?P<word>" + "|".join(_HIGH_WORDS + _LOW_WORDS) + r")\b"


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], LabRule]]:
    table = lab_table()
    out: list[tuple[re.Pattern[str], LabRule]] = []
    for line in NAMES_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        loinc, names = line.split("\t")
        rule = table.get(loinc)
        if rule is None:
            raise ValueError(f"{NAMES_PATH.name}: {loinc} is not in the lab table")
        for name in (n.strip() for n in names.split(";") if n.strip()):
            flags = 0 if len(name.rstrip("+")) <= 3 else re.IGNORECASE
            head = r"(?<![\w-])" + re.escape(name) + r"(?![\w-])"
            tail = r"(?:\s+(?:level|count|value))?\s*(?::|=|\bof\b|\bwas\b|\bis\b)?\s*"
            out.append(
                (re.compile(head + tail + "(?:" + _VALUE + r"\s*" + _UNIT + "|" + _WORD + ")", flags), rule)
            )
    return out


def _plausible(rule: LabRule, value: float) -> bool:
    """Within a factor of the range; markers and enzymes may be many times their upper limit."""
    anchors = [v for v in (rule.low, rule.high) if v]
    if not anchors:
        return False
    ceiling = max(anchors) * (MARKER_FACTOR if rule.loinc in WIDE_RANGE or not rule.low else PLAUSIBLE_FACTOR)
    return min(anchors) / PLAUSIBLE_FACTOR <= value <= ceiling


def lab_findings_from_text(text: str) -> list[tuple[str, int, int]]:
    """``[(concept_id, start, end)]`` for abnormal lab results written in ``text``."""
    out: list[tuple[str, int, int]] = []
    taken: list[tuple[int, int]] = []
    for pattern, rule in _patterns():
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue  # "total count WBC" and "WBC" name the same result once
            if _OTHER_SPECIMEN.search(text[max(0, m.start() - 25) : m.start()]):
                continue
            direction = _read(m, rule)
            concept = (
                rule.high_concept if direction == "H" else rule.low_concept if direction == "L" else None
            )
            taken.append((m.start(), m.end()))
            if concept:
                out.append((concept, m.start(), m.end()))
    return out


def _read(m: re.Match[str], rule: LabRule) -> str | None:
    word = m.group("word")
    if word:
        return "H" if word.lower() in _HIGH_WORDS else "L"
    if m.group("cmp"):
        return None  # "< 0.01": a bound, not a value
    value = float(m.group("num").replace(",", ""))
    unit = (m.group("unit") or "").lower().replace(" ", "").rstrip(".")
    if unit:
        factor = _CONVERSIONS.get(rule.loinc, {}).get(unit)
        if factor is None and unit == rule.unit.lower():
            factor = 1.0
        if factor is None:
            return None
        value *= factor
    if not _plausible(rule, value):
        return None  # "Glu: 0 mg/dL" is another specimen or a typo, not a blood result
    return range_direction(value, rule.low, rule.high)
