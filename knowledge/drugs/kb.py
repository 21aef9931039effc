"""The drug-interaction knowledge base: entries between ingredient sets, with severity and sources.

An entry is defined between two drug classes (or two single drugs); class expansion happened at import
(:mod:`knowledge.drugs.kb_import`), so every entry lists its member ingredients by RxCUI and
:meth:`InteractionKB.lookup` is a dictionary probe per ingredient pair. The shipped file is
``data/interaction_kb.json``; its sources and their licences are in ``data/PROVENANCE.md``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from itertools import product
from pathlib import Path

from pydantic import BaseModel, Field

DATA_DIR = Path(__file__).resolve().parent / "data"
KB_FILE = DATA_DIR / "interaction_kb.json"


class SourceSeverity(StrEnum):
    """Severity as the source list states it (before any patient context)."""

    high_priority = "high-priority"  # ONC high-priority list: contraindicated, interruptive
    critical = "critical"  # NDF-RT "Critical"
    significant = "significant"  # NDF-RT "Significant"; PDDI guide pairs before context
    low = "low"  # ONC non-interruptive list: informational


class KbSource(BaseModel):
    """A source list the entries come from (label, citation, URL, licence)."""

    id: str
    label: str
    citation: str
    url: str
    licence: str


class Member(BaseModel):
    rxcui: str
    name: str


class DrugSet(BaseModel):
    """One side of an interaction: a class label (or the drug's name) and its member ingredients."""

    label: str
    members: list[Member]

    @property
    def rxcuis(self) -> set[str]:
        return {m.rxcui for m in self.members}


class InteractionEntry(BaseModel):
    """One interaction between two drug sets, as one source states it, with our own-words text."""

    id: str
    label: str
    object: DrugSet
    precipitant: DrugSet
    severity: SourceSeverity
    source: str
    mechanism: str = ""
    management: str = ""
    risk: str = ""  # the harm in a few words ("upper gastrointestinal bleeding")
    topic: str = ""  # short topic (card source.topic display, retrieval query)
    context_rule: str | None = None  # id of a context rule that adjusts this entry
    notes: str = ""

    def side_of(self, rxcui: str) -> str | None:
        """``"object"`` / ``"precipitant"`` for a member ingredient, else ``None``."""
        if rxcui in self.object.rxcuis:
            return "object"
        if rxcui in self.precipitant.rxcuis:
            return "precipitant"
        return None


class TierText(BaseModel):
    """Generic mechanism / management text for entries the team has not written its own for."""

    mechanism: str
    management: str


class InteractionKB(BaseModel):
    """All entries plus their sources; :meth:`lookup` finds the entries for an ingredient pair."""

    version: str
    sources: dict[str, KbSource]
    entries: list[InteractionEntry]
    tier_text: dict[SourceSeverity, TierText] = Field(default_factory=dict)
    unresolved: dict[str, list[str]] = Field(default_factory=dict)  # entry id → names not in RxNorm

    def model_post_init(self, __context: object) -> None:
        self._index: dict[frozenset[str], list[InteractionEntry]] = {}
        for e in self.entries:
            for a, b in product(e.object.rxcuis, e.precipitant.rxcuis):
                if a != b:
                    self._index.setdefault(frozenset((a, b)), []).append(e)

    def lookup(self, a: str, b: str) -> list[InteractionEntry]:
        """Entries between ingredients ``a`` and ``b`` (either order), strongest severity first."""
        if a == b:
            return []
        found = self._index.get(frozenset((a, b)), [])
        return sorted(found, key=lambda e: SEVERITY_RANK[e.severity], reverse=True)

    def mechanism(self, entry: InteractionEntry) -> str:
        tier = self.tier_text.get(entry.severity)
        return entry.mechanism or (tier.mechanism if tier else "")

    def management(self, entry: InteractionEntry) -> str:
        tier = self.tier_text.get(entry.severity)
        return entry.management or (tier.management if tier else "")

    def entry(self, entry_id: str) -> InteractionEntry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    @property
    def pair_count(self) -> int:
        return len(self._index)


SEVERITY_RANK = {
    SourceSeverity.low: 0,
    SourceSeverity.significant: 1,
    SourceSeverity.critical: 2,
    SourceSeverity.high_priority: 3,
}


def kb_to_json(kb: InteractionKB) -> str:
    """Deterministic JSON text of the KB (what the importer writes and the rebuild test compares).

    One entry per line keeps the file reviewable in a diff.
    """
    data = kb.model_dump(mode="json")
    entries = data.pop("entries")
    head = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
    lines = ",\n".join(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in entries)
    return head[: -len("\n}")] + ',\n "entries": [\n' + lines + "\n ]\n}\n"


@lru_cache(maxsize=4)
def load_kb(path: Path = KB_FILE) -> InteractionKB:
    """The process-wide knowledge base (loaded on first use)."""
    return InteractionKB.model_validate_json(path.read_text(encoding="utf-8"))
