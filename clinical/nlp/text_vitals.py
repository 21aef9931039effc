"""Vital signs written as numbers in free text ("Temperature: 38.9°C", "HR 118 bpm", "SpO2 88%").

Thresholds are the usual adult ones (fever ≥ 38.0 °C / 100.4 °F; tachycardia > 100/min; bradycardia
< 50/min; tachypnea > 20/min; systolic < 90 or ≥ 140 mmHg; SpO2 < 92 %). Returns concept ids of the
default vocabulary with the character span of the value.
"""

from __future__ import annotations

import re

_NUM = r"(\d{2,3}(?:\.\d+)?)"
_TEMP = re.compile(r"(?:temperature|temp|T)\b[^0-9\n]{0,15}" + _NUM + r"\s*°?\s*([CF])?", re.IGNORECASE)
_HR = re.compile(r"(?:heart rate|pulse|HR)\b[^0-9\n]{0,15}" + _NUM, re.IGNORECASE)
_RR = re.compile(r"(?:respiratory rate|resp(?:iratory)? rate|RR)\b[^0-9\n]{0,15}" + _NUM, re.IGNORECASE)
_BP = re.compile(r"(?:blood pressure|BP)\b[^0-9\n]{0,15}(\d{2,3})\s*/\s*(\d{2,3})", re.IGNORECASE)
_SPO2 = re.compile(
    r"(?:SpO2|O2 sat(?:uration)?|oxygen saturation|saturation)\b[^0-9\n]{0,20}" + _NUM + r"\s*%",
    re.IGNORECASE,
)


def vital_findings_from_text(text: str) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for m in _TEMP.finditer(text):
        value, unit = float(m.group(1)), (m.group(2) or "").upper()
        celsius = (value - 32) * 5 / 9 if unit == "F" or value > 50 else value
        if 38.0 <= celsius < 45:
            out.append(("fever", m.start(), m.end()))
    for m in _HR.finditer(text):
        v = float(m.group(1))
        if v > 100:
            out.append(("tachycardia", m.start(), m.end()))
        elif v < 50:
            out.append(("bradycardia", m.start(), m.end()))
    for m in _RR.finditer(text):
        if float(m.group(1)) > 20:
            out.append(("tachypnea", m.start(), m.end()))
    for m in _BP.finditer(text):
        sys_bp = float(m.group(1))
        if sys_bp < 90:
            out.append(("hypotension", m.start(), m.end()))
        elif sys_bp >= 140:
            out.append(("hypertension_reading", m.start(), m.end()))
    for m in _SPO2.finditer(text):
        if float(m.group(1)) < 92:
            out.append(("hypoxemia", m.start(), m.end()))
    return out
