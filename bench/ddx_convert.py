"""Convert the shared DDx sets to ``evidence-cds ddx eval`` JSON lines (id, text, age, sex, diagnosis).

    .venv/bin/python bench/ddx_convert.py [--data ../shared/data/ddx] [--out bench/results/ddx]

Writes ``avey.jsonl`` and ``agentclinic.jsonl`` under ``--out`` (a results folder, not committed).
Only the case's own fields become text; the gold diagnosis goes to ``diagnosis`` and nowhere else.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ddx"
_DEMO = re.compile(r"(\d+(?:\.\d+)?)[\s-]*(year|month|week|day)s?[\s-]*old\s+(\w+)", re.IGNORECASE)
_FEMALE = {"female", "woman", "girl", "lady", "f"}
_MALE = {"male", "man", "boy", "gentleman", "m"}


def parse_demographics(text: str) -> tuple[float | None, str | None]:
    m = _DEMO.search(text or "")
    if not m:
        return None, None
    value, unit, who = float(m.group(1)), m.group(2).lower(), m.group(3).lower()
    age = (
        value if unit == "year" else value / 12 if unit == "month" else value / 52 if unit == "week" else 0.0
    )
    sex = "female" if who in _FEMALE else "male" if who in _MALE else None
    return age, sex


def _clean(value: str | None) -> str:
    v = (value or "").strip()
    return "" if v in {"-", "None", "none", "N/A"} else v


def avey_case(i: int, row: dict[str, Any]) -> dict[str, Any]:
    age, sex = parse_demographics(row.get("demographics", ""))
    parts = [
        f"{row.get('demographics', '').strip()}.",
        f"Chief complaint: {_clean(row.get('chief_complaints'))}.",
        f"Presentation: {_clean(row.get('presentation'))}",
        f"Absent findings: {_clean(row.get('absent_findings'))}.",
        f"Past medical history: {_clean(row.get('physical_history'))}",
        f"Family history: {_clean(row.get('family_history'))}",
        f"Social history: {_clean(row.get('social_history'))}",
    ]
    text = "\n".join(p for p in parts if not p.endswith(": ") and not p.endswith(": ."))
    return {
        "id": f"avey-{i:03d}",
        "text": text,
        "age": age,
        "sex": sex,
        "diagnosis": row["correct_diagnosis"],
    }


def _flatten(value: Any, label: str = "") -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for k, v in value.items():
            out.extend(_flatten(v, k.replace("_", " ")))
        return out
    if isinstance(value, list):
        return [f"{label}: " + "; ".join(str(x) for x in value)] if label else [str(x) for x in value]
    return [f"{label}: {value}" if label else str(value)]


def agentclinic_case(i: int, row: dict[str, Any]) -> dict[str, Any]:
    osce = row["OSCE_Examination"]
    actor = osce.get("Patient_Actor", {})
    age, sex = parse_demographics(actor.get("Demographics", ""))
    sections = [
        ("Chief complaint", (actor.get("Symptoms") or {}).get("Primary_Symptom", "")),
        ("History", actor.get("History", "")),
        ("Symptoms", "; ".join((actor.get("Symptoms") or {}).get("Secondary_Symptoms", []) or [])),
        ("Past medical history", actor.get("Past_Medical_History", "")),
        ("Social history", actor.get("Social_History", "")),
        ("Review of systems", actor.get("Review_of_Systems", "")),
        ("Examination", "\n".join(_flatten(osce.get("Physical_Examination_Findings", {})))),
        ("Tests", "\n".join(_flatten(osce.get("Test_Results", {})))),
    ]
    text = f"{actor.get('Demographics', '')}.\n" + "\n".join(
        f"{h}: {_clean(str(v))}" for h, v in sections if v
    )
    return {
        "id": f"agentclinic-{i:03d}",
        "text": text,
        "age": age,
        "sex": sex,
        "diagnosis": osce["Correct_Diagnosis"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ddx")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, src, fn in (
        ("avey", "avey_vignettes.jsonl", avey_case),
        ("agentclinic", "agentclinic_medqa.jsonl", agentclinic_case),
    ):
        rows = [json.loads(x) for x in (args.data / src).read_text().splitlines() if x.strip()]
        out = args.out / f"{name}.jsonl"
        out.write_text("".join(json.dumps(fn(i, r)) + "\n" for i, r in enumerate(rows)), encoding="utf-8")
        print(f"{out}: {len(rows)} cases")


if __name__ == "__main__":
    main()
