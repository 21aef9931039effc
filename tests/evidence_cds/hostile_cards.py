"""A CDS service for security tests only: every card field a service controls carries markup/script."""

from __future__ import annotations

from cds_services.models import Card, Indicator, Link, LinkType, Source
from cds_services.registry import CdsService, ServiceInput, register

SCRIPT = "<script>window.__pwned=1</script>"


def _hostile(inp: ServiceInput) -> list[Card]:
    return [
        Card(
            summary=f"Hostile {SCRIPT}",
            detail=f"[click](javascript:alert(1)) <img src=x onerror=alert(1)> {SCRIPT} **bold**",
            indicator=Indicator.warning,
            source=Source(label='Label "><svg onload=alert(1)>', url="https://example.org/src?a=1&b=<x>"),
            links=[Link(label=f"Link {SCRIPT}", url="https://example.org/l", type=LinkType.absolute)],
        )
    ]


register(
    CdsService(
        id="hostile-cards",
        hook="patient-view",
        title="hostile",
        description="cards full of markup (security tests)",
        handler=_hostile,
    )
)
