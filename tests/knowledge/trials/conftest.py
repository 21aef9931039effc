"""Trial fixtures: the demo trials, a real embedder (loaded once), an in-memory index, profiles.

Profiles are the real ``clinical.patient_profile`` models, built field by field so each test states
exactly the patient it checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from clinical.codes import LOINC, Code
from clinical.patient_profile import LabFact, PatientProfile, ProfileFact
from knowledge.embeddings import Embedder, get_embedder
from knowledge.trials.demo import demo_trials
from knowledge.trials.index import TrialIndex
from knowledge.trials.models import Trial
from knowledge.trials.release import build_index

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder()


@pytest.fixture(scope="session")
def demo() -> list[Trial]:
    return demo_trials()


@pytest.fixture(scope="session")
def demo_index(demo: list[Trial], embedder: Embedder) -> TrialIndex:
    return build_index(demo, embedder, release_id="test-demo")


def lab(loinc: str, value: float, unit: str, days_ago: int = 10) -> LabFact:
    return LabFact(
        text=loinc,
        codes=[Code(system=LOINC, code=loinc)],
        value=value,
        unit=unit,
        when=NOW - timedelta(days=days_ago),
        source_id=f"obs-{loinc}-{days_ago}",
    )


def fact(kind: Literal["condition", "medication", "finding"], text: str, **flags: Any) -> ProfileFact:
    return ProfileFact(kind=kind, text=text, source_id=f"{kind}-{text[:12]}", **flags)


@pytest.fixture
def make_profile() -> Callable[..., PatientProfile]:
    """A profile that fits DEMO-T2DM-001, with any field overridden."""

    def build(**overrides: Any) -> PatientProfile:
        base: dict[str, Any] = {
            "patient_id": "p1",
            "age_years": 54.0,
            "sex": "female",
            "pregnant": False,
            "pregnancy_source": "obs-preg",
            "as_of": NOW,
            "lists_complete": True,
            "conditions": [fact("condition", "Diabetes mellitus type 2")],
            "medications": [
                fact(
                    "medication",
                    "metformin hydrochloride 1000 MG Oral Tablet",
                    since=NOW - timedelta(days=120),
                )
            ],
            "labs": [lab("4548-4", 8.4, "%"), lab("33914-3", 78, "mL/min/{1.73_m2}")],
            "findings": [],
        }
        base.update(overrides)
        return PatientProfile(**base)

    return build
