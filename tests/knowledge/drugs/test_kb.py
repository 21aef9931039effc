"""Interaction KB: rebuild from the public lists, class expansion, every ONC high-priority pair fires
critical, pairs on no list stay silent."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.drugs.kb import KB_FILE, InteractionKB, SourceSeverity, kb_to_json, load_kb
from knowledge.drugs.kb_import import build_kb
from knowledge.drugs.vocabulary import load_vocabulary

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


def _onc_pairs() -> list[tuple[str, str, str]]:
    """Every (entry, object ingredient, precipitant ingredient) of the expanded ONC high-priority list."""
    kb = load_kb()
    out = []
    for e in kb.entries:
        if e.severity is SourceSeverity.high_priority:
            out += [
                (e.id, a.rxcui, b.rxcui)
                for a in e.object.members
                for b in e.precipitant.members
                if a.rxcui != b.rxcui
            ]
    return out


ONC_PAIRS = _onc_pairs()


def test_shipped_kb_rebuilds_identically_from_shared_files(shared_data: Path) -> None:
    rebuilt = build_kb(shared_data / "ddi", shared_data / "rxnorm", load_vocabulary())
    assert kb_to_json(rebuilt) == KB_FILE.read_text(encoding="utf-8")


def test_every_entry_has_severity_sources_and_text(kb: InteractionKB) -> None:
    assert {e.source for e in kb.entries} == set(kb.sources)
    for e in kb.entries:
        assert e.object.members and e.precipitant.members
        assert kb.mechanism(e) and kb.management(e)
    onc = [e for e in kb.entries if e.severity is SourceSeverity.high_priority]
    assert len(onc) == 15  # all 15 ONC rows, the QT row expanded from the team's class list
    assert all(e.mechanism and e.risk for e in onc)  # written in our own words, not the tier default


def test_class_pair_expands_to_members(kb: InteractionKB) -> None:
    entry = kb.entry("onc-hp-11")  # simvastatin, lovastatin / CYP3A4 inhibitors
    assert entry is not None
    names = {m.name for m in entry.precipitant.members}
    assert {
        "clarithromycin",
        "itraconazole",
        "voriconazole",
        "ritonavir",
    } <= names  # typo 'Voreconazole' fixed
    simva = next(m.rxcui for m in entry.object.members if m.name == "simvastatin")
    for m in entry.precipitant.members:
        assert kb.lookup(simva, m.rxcui)[0].id == "onc-hp-11"
        assert kb.lookup(m.rxcui, simva)[0].id == "onc-hp-11"  # either order


@pytest.mark.parametrize(("entry_id", "a", "b"), ONC_PAIRS, ids=[f"{e}-{a}-{b}" for e, a, b in ONC_PAIRS])
def test_every_onc_high_priority_pair_fires_critical_when_coordered(
    decide: Callable[..., list], med: Callable[..., object], entry_id: str, a: str, b: str
) -> None:
    findings = [f for f in decide([med(a, draft=True)], [med(b)]) if f.indicator is not None]
    assert [f.indicator for f in findings if f.entry.severity is SourceSeverity.high_priority] == ["critical"]
    both_drafts = decide([med(b, draft=True), med(a, draft=True)], [])
    assert [f.indicator for f in both_drafts if f.entry.severity is SourceSeverity.high_priority] == [
        "critical"
    ]


def test_pairs_on_no_list_never_fire(
    kb: InteractionKB, decide: Callable[..., list], med: Callable[..., object]
) -> None:
    vocab = load_vocabulary()
    listed = {i for e in kb.entries for s in (e.object, e.precipitant) for i in s.rxcuis}
    pool = sorted(listed | set(random.Random(7).sample(sorted(vocab.ingredient_names), 300)))
    rng = random.Random(11)
    checked = 0
    while checked < 300:
        a, b = rng.sample(pool, 2)
        if kb.lookup(a, b):
            continue
        assert decide([med(a, draft=True)], [med(b)]) == []
        checked += 1
    # and the pair the Synthea data co-prescribes that no list has (warfarin + clopidogrel)
    assert decide([med("32968", draft=True)], [med("11289")]) == []
