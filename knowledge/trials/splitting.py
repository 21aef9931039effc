"""Split a ClinicalTrials.gov eligibility text block into individual inclusion and exclusion criteria.

The registry stores eligibility as one free-text block (``eligibilityModule.eligibilityCriteria`` in
the modern API, ``eligibility/criteria/textblock`` in the classic XML), conventionally with
"Inclusion Criteria:" / "Exclusion Criteria:" headings and one bullet per criterion ("*", "-", "•",
"1."). Continuation lines are joined to their bullet; a block without headings counts as inclusion.
"""

from __future__ import annotations

import re

_HEADING = re.compile(
    r"^\s*(?:key\s+)?(inclusion|exclusion|eligibility)(?:\s+and\s+exclusion)?\s+criteria\s*:?\s*(.*)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•▪◦·]|\d{1,2}[.)]|[a-z][.)])\s+", re.IGNORECASE)
_MIN_LEN = 3


def _items(lines: list[str]) -> list[str]:
    """Bulleted items; lines without a bullet continue the previous item (or stand alone if first)."""
    has_bullets = any(_BULLET.match(line) for line in lines)
    items: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            if not has_bullets and items and items[-1]:
                items.append("")  # paragraph break separates criteria in unbulleted text
            continue
        if _BULLET.match(raw):
            items.append(_BULLET.sub("", raw, count=1).strip())
        elif items and items[-1] and (has_bullets or not items[-1].endswith((".", ":"))):
            items[-1] = f"{items[-1]} {line}"
        else:
            items.append(line)
    return [re.sub(r"\s+", " ", i).strip() for i in items if len(i.strip()) >= _MIN_LEN]


def split_criteria(text: str) -> tuple[list[str], list[str]]:
    """``(inclusion, exclusion)`` criterion texts from an eligibility block, in their order."""
    sections: dict[str, list[str]] = {"inclusion": [], "exclusion": []}
    current = "inclusion"
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        m = _HEADING.match(line)
        if m:
            current = "exclusion" if m.group(1).lower() == "exclusion" else "inclusion"
            rest = m.group(2).strip()
            if rest:
                sections[current].append(rest)
            continue
        sections[current].append(line)
    return _items(sections["inclusion"]), _items(sections["exclusion"])
