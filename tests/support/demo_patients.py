"""The sandbox's demo patients as the sandbox serves them: dates moved so ``Bundle.timestamp`` is today."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.store import shift_relative_dates

DEMO_DIR = Path(__file__).resolve().parents[2] / "sandbox" / "patients"


def demo_bundle(patient_id: str) -> dict[str, Any]:
    """The demo bundle for ``patient_id`` with relative dates applied (as the sandbox loads it)."""
    raw = json.loads((DEMO_DIR / f"{patient_id}.json").read_text())
    bundle: dict[str, Any] = shift_relative_dates(raw, datetime.now(UTC).date())
    return bundle
