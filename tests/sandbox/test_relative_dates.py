"""Demo bundles keep their clinical timeline relative to today; other bundles are left untouched."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sandbox.settings import SANDBOX_DIR
from sandbox.store import shift_relative_dates


def _raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SANDBOX_DIR / "patients" / f"{name}.json").read_text())
    return data


def test_demo_dates_move_with_the_calendar() -> None:
    raw = _raw("demo-trial")
    authored = date.fromisoformat(raw["timestamp"][:10])
    later = date(authored.year + 1, authored.month, 1)
    shifted = shift_relative_dates(raw, later)
    assert shifted["timestamp"].startswith(later.isoformat())
    delta = later - authored
    before = {e["resource"]["id"]: e["resource"] for e in raw["entry"]}
    for entry in shifted["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Observation":
            old = date.fromisoformat(before[res["id"]]["effectiveDateTime"][:10])
            assert res["effectiveDateTime"][:10] == (old + delta).isoformat()
            assert res["effectiveDateTime"][10:] == before[res["id"]]["effectiveDateTime"][10:]
        if res["resourceType"] == "Patient":
            born = date.fromisoformat(before[res["id"]]["birthDate"])
            assert date.fromisoformat(res["birthDate"]) == born + delta


def test_untagged_bundles_are_not_touched() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": "2020-01-01T00:00:00Z"}
    assert shift_relative_dates(bundle, date(2030, 1, 1)) is bundle
