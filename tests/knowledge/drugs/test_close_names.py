"""Misspelt drug names in free text still resolve, but never to a look-alike drug."""

from __future__ import annotations

import pytest

from knowledge.drugs.vocabulary import load_vocabulary


@pytest.mark.parametrize(
    ("text", "ingredient"),
    [
        ("Simvistatin 10 MG Oral Tablet", "simvastatin"),  # as a real Synthea record spells it
        ("clopidogral 75 mg", "clopidogrel"),
        ("Warfarn sodium 5 mg", "warfarin"),
    ],
)
def test_a_near_miss_spelling_resolves(text: str, ingredient: str) -> None:
    assert [h.name for h in load_vocabulary().ingredients_for_text(text)] == [ingredient]


@pytest.mark.parametrize(
    ("text", "ingredient"),
    [("cefuroxime 250 mg", "cefuroxime"), ("cefotaxime 1 g", "cefotaxime"), ("hydroxyzine", "hydroxyzine")],
)
def test_exact_names_of_look_alike_drugs_never_swap(text: str, ingredient: str) -> None:
    assert [h.name for h in load_vocabulary().ingredients_for_text(text)] == [ingredient]


@pytest.mark.parametrize("text", ["Vitamin gummies 1 tab", "saline flush", "Unknown compound XR-77"])
def test_words_that_are_not_drug_names_match_nothing(text: str) -> None:
    assert load_vocabulary().ingredients_for_text(text) == []
