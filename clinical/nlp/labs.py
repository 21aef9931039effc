"""Abnormal labs and vitals → finding concepts (LOINC table in ``data/lab_findings.tsv``).

Order of evidence, most specific first: the Observation's interpretation code (v3
ObservationInterpretation H/HH/L/LL/A...), then its own reference range, then the table's default adult
range. The table is consulted only for the direction → concept mapping and as the last resort range.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

from clinical.codes import LOINC
from clinical.record import Observation

TABLE_PATH = Path(__file__).parent / "data" / "lab_findings.tsv"
_HIGH = {"H", "HH", "HU", ">", "AA"}
_LOW = {"L", "LL", "LU", "<"}


class LabRule(BaseModel):
    loinc: str
    name: str
    low_concept: str | None = None
    high_concept: str | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""


@lru_cache(maxsize=1)
def lab_table() -> dict[str, LabRule]:
    rules: dict[str, LabRule] = {}
    for line in TABLE_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        loinc, name, lo_c, hi_c, lo, hi, unit = (line.split("\t") + [""] * 7)[:7]
        rules[loinc] = LabRule(
            loinc=loinc,
            name=name,
            low_concept=lo_c or None,
            high_concept=hi_c or None,
            low=float(lo) if lo else None,
            high=float(hi) if hi else None,
            unit=unit,
        )
    return rules


def abnormal_lab_findings(obs: Observation) -> list[tuple[str, str]]:
    """``[(concept_id, evidence_text)]`` for an abnormal Observation; ``[]`` when normal or unknown."""
    loinc = next((c.code for c in obs.codes if c.system == LOINC and c.code), None)
    rule = lab_table().get(loinc or "")
    if rule is None:
        return []
    direction = _direction(obs, rule)
    concept = rule.high_concept if direction == "H" else rule.low_concept if direction == "L" else None
    if concept is None:
        return []
    shown = f"{obs.value:g} {obs.unit or ''}".strip() if obs.value is not None else (obs.value_text or "")
    return [(concept, f"{rule.name} {shown} ({direction})")]


def _direction(obs: Observation, rule: LabRule) -> str | None:
    code = (obs.interpretation or "").upper()
    if code in _HIGH:
        return "H"
    if code in _LOW:
        return "L"
    if code == "N" or obs.value is None:
        return None
    low = obs.ref_low if obs.ref_low is not None or obs.ref_high is not None else rule.low
    high = obs.ref_high if obs.ref_low is not None or obs.ref_high is not None else rule.high
    return range_direction(obs.value, low, high)


def range_direction(value: float, low: float | None, high: float | None) -> str | None:
    """ "H" above ``high``, "L" below ``low``, else ``None`` (a missing bound never flags)."""
    if high is not None and value > high:
        return "H"
    if low is not None and value < low:
        return "L"
    return None
