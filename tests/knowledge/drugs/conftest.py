"""Drug-knowledge fixtures: the shipped vocabulary, KB and rules (loaded once), record builders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from clinical.codes import RXNORM, Code
from clinical.record import Medication, PatientRecord
from knowledge.drugs.context_rules import RuleBook, default_rulebook
from knowledge.drugs.interactions import InteractionFinding, find_interactions
from knowledge.drugs.kb import InteractionKB, load_kb
from knowledge.drugs.vocabulary import DrugVocabulary, load_vocabulary

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def vocab() -> DrugVocabulary:
    return load_vocabulary()


@pytest.fixture(scope="session")
def kb() -> InteractionKB:
    return load_kb()


@pytest.fixture(scope="session")
def rulebook() -> RuleBook:
    return default_rulebook()


@pytest.fixture(scope="session")
def pddi_examples(shared_data: Path) -> Path:
    return shared_data / "pddi-cds" / "input" / "examples"


@pytest.fixture(scope="session")
def med(vocab: DrugVocabulary) -> Callable[..., Medication]:
    """A Medication for one ingredient RxCUI (draft or active), resolved like a coded order."""

    def make(rxcui: str, *, draft: bool = False, source_id: str | None = None, **extra: Any) -> Medication:
        code = Code(system=RXNORM, code=rxcui, display=vocab.name_of(rxcui))
        hits = vocab.ingredients_for_codes([code])
        from clinical.record import Ingredient

        return Medication(
            source_id=source_id or f"{'d' if draft else 'a'}-{rxcui}",
            codes=[code],
            text=vocab.name_of(rxcui),
            ingredients=[Ingredient(rxcui=h.rxcui, name=h.name) for h in hits],
            status="draft" if draft else "active",
            is_draft=draft,
            authored_on=NOW,
            **extra,
        )

    return make


@pytest.fixture(scope="session")
def decide(
    kb: InteractionKB, rulebook: RuleBook, vocab: DrugVocabulary
) -> Callable[..., list[InteractionFinding]]:
    """Run the pure decision function on a record made of drafts and active medications."""

    def run(drafts: list[Medication], active: list[Medication], **record: Any) -> list[InteractionFinding]:
        rec = PatientRecord(
            patient_id="p1",
            birth_date=record.pop("birth_date", date(1970, 1, 1)),
            medications=active,
            draft_medications=drafts,
            as_of=NOW,
            **record,
        )
        return find_interactions(rec, kb=kb, rules=rulebook, vocab=vocab, now=NOW)

    return run
