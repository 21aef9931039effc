"""RxNorm vocabulary: code normalisation (SCD, SBD, IN, PIN, MIN, packs), name matching, rebuild."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cds_services.services.drug_interaction_record import RxNormResolver
from clinical.codes import RXNORM, Code
from clinical.record import build_patient_record
from knowledge.drugs.rxnorm_import import build_vocabulary, render
from knowledge.drugs.vocabulary import VOCABULARY_FILE, DrugVocabulary


@pytest.mark.parametrize(
    ("code", "kind", "expected"),
    [
        ("855332", "SCD", {"warfarin"}),  # warfarin sodium 5 MG Oral Tablet
        ("855292", "SBD", {"warfarin"}),  # ... [Jantoven]
        ("197805", "SCD", {"ibuprofen"}),
        ("197885", "SCD", {"hydrochlorothiazide", "lisinopril"}),  # two ingredients
        ("722126", "SCD", {"amlodipine", "valsartan"}),  # "A" ingredient recovered from the product name
        ("11289", "IN", {"warfarin"}),
        ("114194", "PIN", {"warfarin"}),  # warfarin sodium
        ("214287", "MIN", {"benazepril", "hydrochlorothiazide"}),  # not the lisinopril rows of the source
        ("703", "IN", {"amiodarone"}),  # from the NDF-RT map (the 2025 extract lacks "A")
    ],
)
def test_codes_normalise_to_ingredients(
    vocab: DrugVocabulary, code: str, kind: str, expected: set[str]
) -> None:
    assert vocab.code_kind[code] == kind
    hits = vocab.ingredients_for_codes([Code(system=RXNORM, code=code)])
    assert {h.name for h in hits} == expected


def test_pack_display_resolves_to_component_ingredients(vocab: DrugVocabulary) -> None:
    display = (
        "{21 (ethinyl estradiol 0.03 MG / levonorgestrel 0.15 MG Oral Tablet) / "
        "7 (inert ingredients 1 MG Oral Tablet) } Pack [Levora 0.15/30 28 Day]"
    )
    hits = vocab.ingredients_for_codes([Code(system=RXNORM, code="999999999", display=display)])
    assert {"ethinyl estradiol", "levonorgestrel"} <= {h.name for h in hits}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Warfarin Sodium 10 MG", {"warfarin"}),
        ("24 HR metoprolol succinate 100 MG Extended Release Oral Tablet", {"metoprolol"}),
        ("Naproxen sodium 220 MG Oral Tablet", {"naproxen"}),
        (
            "Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet",
            {"acetaminophen", "hydrocodone"},
        ),
        ("Lotrel", {"amlodipine", "benazepril"}),  # brand name
        ("potassium chloride 20 MEQ", {"potassium chloride"}),
        ("take as directed", set()),
    ],
)
def test_text_matching(vocab: DrugVocabulary, text: str, expected: set[str]) -> None:
    assert {h.name for h in vocab.ingredients_for_text(text)} == expected


def test_record_flags_text_matches_and_resolves_codes(vocab: DrugVocabulary) -> None:
    coded = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "855332"}]},
    }
    text_only = {
        "resourceType": "MedicationRequest",
        "id": "m2",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": "Advil 200 mg"},
    }
    record = build_patient_record([coded, text_only], resolver=RxNormResolver(vocab))
    by_id = {m.source_id: m for m in record.medications}
    assert [i.name for i in by_id["m1"].ingredients] == ["warfarin"] and not by_id["m1"].matched_by_text
    assert [i.name for i in by_id["m2"].ingredients] == ["ibuprofen"] and by_id["m2"].matched_by_text


def test_shipped_vocabulary_rebuilds_identically_from_shared_files(shared_data: Path) -> None:
    rebuilt = render(build_vocabulary(shared_data / "rxnorm"))
    with gzip.open(VOCABULARY_FILE, "rt", encoding="utf-8") as fh:
        shipped = fh.read()
    assert rebuilt == shipped
