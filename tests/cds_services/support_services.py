"""Services used only by the core's tests: an order-select/order-sign pair sharing a dedup group,
a service with optional slow steps, one whose handler fails, and one with a warm-up hook."""

from __future__ import annotations

import os
import time

from cds_services.models import Card, Indicator, Source
from cds_services.registry import CdsService, ServiceInput, SlowStep, register
from evidence_cds.settings import Settings

_MEDS = {"medications": "MedicationRequest?patient={{context.patientId}}&status=active"}


def nsaid_with_anticoagulant(inp: ServiceInput) -> list[Card]:
    """A card per draft NSAID order when the patient takes warfarin (simplified rule for the tests)."""
    record = inp.record
    on_warfarin = any("warfarin" in m.text.lower() for m in record.active_medications)
    cards = []
    for draft in record.draft_medications:
        name = draft.text.lower()
        if on_warfarin and any(n in name for n in ("ibuprofen", "naproxen")):
            cards.append(
                Card(
                    summary=f"Bleeding risk: {draft.text} with warfarin",
                    indicator=Indicator.warning,
                    source=Source(label="test rule"),
                )
            )
    return cards


for _hook in ("order-select", "order-sign"):
    register(
        CdsService(
            id=f"test-{_hook}",
            hook=_hook,
            title=f"test {_hook}",
            description="NSAID + warfarin (test)",
            prefetch=_MEDS,
            handler=nsaid_with_anticoagulant,
            dedup_group="test-nsaid",
        )
    )


def _quick(inp: ServiceInput) -> list[Card]:
    return [Card(summary="core advice", indicator=Indicator.info, source=Source(label="test"))]


def _fast_extra(inp: ServiceInput) -> list[Card]:
    return [Card(summary="fast extra", indicator=Indicator.info, source=Source(label="test"))]


def _slow_extra(inp: ServiceInput) -> list[Card]:
    time.sleep(1.5)
    return [Card(summary="slow extra", indicator=Indicator.info, source=Source(label="test"))]


register(
    CdsService(
        id="test-slow",
        hook="patient-view",
        title="slow steps",
        description="handler plus a fast and a slow optional step",
        handler=_quick,
        slow_steps=(SlowStep("fast-extra", _fast_extra), SlowStep("slow-extra", _slow_extra)),
        time_budget_ms=600,
    )
)


def _broken(inp: ServiceInput) -> list[Card]:
    raise RuntimeError("internal detail that must not leak")


register(
    CdsService(id="test-broken", hook="patient-view", title="broken", description="fails", handler=_broken)
)


def _warm(settings: Settings) -> None:
    marker = settings.instance_path / f"warm-{os.getpid()}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(time.time()))


register(
    CdsService(
        id="test-warm",
        hook="patient-view",
        title="warm",
        description="records its warm-up",
        handler=_quick,
        warm_up=_warm,
    )
)
