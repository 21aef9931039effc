"""The decision function: one finding per distinct interaction, tolerated pairs per policy, drafts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from knowledge.drugs.context_rules import RuleBook
from knowledge.drugs.kb import InteractionKB

SIMVASTATIN, CLARITHROMYCIN, ITRACONAZOLE = "36567", "21212", "28031"
WARFARIN, IBUPROFEN, NAPROXEN = "11289", "5640", "7258"


def test_renewal_of_a_tolerated_high_priority_pair_is_downgraded_per_policy(
    decide: Callable[..., list[Any]], med: Callable[..., Any], rulebook: RuleBook
) -> None:
    policy = rulebook.severity_policy["high-priority"]
    renewal = decide([med(SIMVASTATIN, draft=True)], [med(SIMVASTATIN), med(CLARITHROMYCIN)])
    assert [(f.indicator, f.tolerated) for f in renewal] == [(policy.tolerated, True)]
    new = decide([med(SIMVASTATIN, draft=True)], [med(CLARITHROMYCIN)])
    assert [(f.indicator, f.tolerated) for f in new] == [(policy.new, False)]
    # a new partner drafted alongside is not "tolerated", even if the drug itself is a renewal
    mixed = decide([med(SIMVASTATIN, draft=True), med(CLARITHROMYCIN, draft=True)], [med(SIMVASTATIN)])
    assert [f.indicator for f in mixed] == [policy.new]


def test_class_members_fold_into_one_finding(
    decide: Callable[..., list[Any]], med: Callable[..., Any], kb: InteractionKB
) -> None:
    found = decide([med(SIMVASTATIN, draft=True)], [med(CLARITHROMYCIN), med(ITRACONAZOLE)])
    assert [f.entry.id for f in found] == [kb.lookup(SIMVASTATIN, CLARITHROMYCIN)[0].id]
    assert sorted(found[0].partner_ingredients) == sorted([CLARITHROMYCIN, ITRACONAZOLE])


def test_two_nsaids_for_a_warfarin_patient_are_one_finding_naming_both(
    decide: Callable[..., list[Any]], med: Callable[..., Any]
) -> None:
    found = decide([med(IBUPROFEN, draft=True), med(NAPROXEN, draft=True)], [med(WARFARIN)])
    pddi = [f for f in found if f.entry.id == "pddi-warfarin-nsaids"]
    assert len(pddi) == 1 and sorted(pddi[0].draft_ingredients) == sorted([IBUPROFEN, NAPROXEN])
    assert pddi[0].indicator == "critical"  # no PPI on board
