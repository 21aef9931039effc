"""Context rules: the PDDI guide's own example scenarios (STU3 XML → R4 JSON), variants, and that a
new rule is a data change."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cds_services.services.drug_interaction_record import interaction_record
from knowledge.drugs.context_rules import RuleBook, load_rulebook
from knowledge.drugs.interactions import InteractionFinding, find_interactions
from knowledge.drugs.kb import InteractionKB
from knowledge.drugs.kb_import import DATA_DIR, build_kb
from knowledge.drugs.vocabulary import DrugVocabulary
from tests.knowledge.drugs.pddi_examples import SCENARIOS, Scenario, load_example, scenario_resources

TODAY = date(2018, 8, 10)  # the examples' fixed dates (observations 2018-08-04) sit in their windows
NOW = datetime(2018, 8, 10, 12, tzinfo=UTC)


def _run(
    prefetch: list[dict[str, Any]],
    order: dict[str, Any],
    vocab: DrugVocabulary,
    kb: InteractionKB,
    rulebook: RuleBook,
) -> list[InteractionFinding]:
    record = interaction_record(
        {
            "all": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in prefetch],
            }
        },
        [order],
        vocab,
        now=NOW,
    )
    return [f for f in find_interactions(record, kb=kb, rules=rulebook, vocab=vocab, now=NOW) if f.rule_id]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_pddi_guide_scenarios(
    scenario: Scenario, pddi_examples: Path, vocab: DrugVocabulary, kb: InteractionKB, rulebook: RuleBook
) -> None:
    order, prefetch = scenario_resources(pddi_examples, scenario, TODAY)
    findings = _run(prefetch, order, vocab, kb, rulebook)
    assert len(findings) == 1, [f.entry.id for f in findings]
    finding = findings[0]
    assert finding.indicator == scenario.indicator
    rule = rulebook.rule(finding.rule_id)
    assert rule is not None
    shown = {f.name: f.text for f in finding.facts}
    for fact in scenario.facts:
        assert fact in shown, (fact, shown)
    # The texts the decision tables require, e.g. the PPI card's summary.
    if "on_ppi" in scenario.facts and scenario.indicator == "critical":
        assert shown["on_ppi"] == "Patient is not taking a proton pump inhibitor or misoprostol."


def test_digoxin_continuation_with_normal_monitoring_is_info(
    pddi_examples: Path, vocab: DrugVocabulary, kb: InteractionKB, rulebook: RuleBook
) -> None:
    """PDDI base card: continuation + digoxin < 0.9 ng/mL in 30 days + normal electrolytes and renal
    function + no diuretic → info. The same patient with hypokalaemia → warning."""
    order, prefetch = scenario_resources(pddi_examples, SCENARIOS[-1], TODAY)
    labs = {
        name: load_example(pddi_examples / f"observation-digoxin-cyclosporine-{name}.xml", TODAY)
        for name in ("digoxin", "potassium", "magnesium", "calcium")
    }
    labs["digoxin"]["valueQuantity"]["value"] = 0.7
    labs["potassium"]["valueQuantity"]["value"] = 4.2
    creat = {
        "resourceType": "Observation",
        "id": "creat",
        "status": "final",
        "issued": "2018-08-01T08:00:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
        "valueQuantity": {"value": 0.9, "unit": "mg/dL"},
    }
    base = [r for r in prefetch if r["resourceType"] != "Observation"]
    calm = _run([*base, *labs.values(), creat], order, vocab, kb, rulebook)
    assert [f.indicator for f in calm] == ["info"]
    labs["potassium"]["valueQuantity"]["value"] = 3.1
    low_k = _run([*base, *labs.values(), creat], order, vocab, kb, rulebook)
    assert [f.indicator for f in low_k] == ["warning"]
    assert any("potassium" in (f.text or "").lower() for f in low_k[0].facts)


def test_a_newer_abnormal_level_wins_over_an_older_normal_one(
    pddi_examples: Path, vocab: DrugVocabulary, kb: InteractionKB, rulebook: RuleBook
) -> None:
    order, prefetch = scenario_resources(pddi_examples, SCENARIOS[6], TODAY)  # new cyclosporine
    old = load_example(pddi_examples / "observation-digoxin-cyclosporine-digoxin.xml", TODAY)
    old["valueQuantity"]["value"], old["id"] = 0.7, "old"
    old["issued"] = (NOW - timedelta(days=20)).isoformat()
    findings = _run([*prefetch, old], order, vocab, kb, rulebook)  # the 2.3 ng/mL one is newer
    assert [f.indicator for f in findings] == ["critical"]
    prefetch = [r for r in prefetch if r.get("id") != "observation-digoxin-cyclosporine-digoxin"]
    findings = _run([*prefetch, old], order, vocab, kb, rulebook)
    assert [f.indicator for f in findings] == ["warning"]  # normal level: critical → warning


def test_new_rule_is_a_data_change(
    tmp_path: Path, shared_data: Path, vocab: DrugVocabulary, med: Callable[..., object], kb: InteractionKB
) -> None:
    """A rule for another pair (digoxin + verapamil, on no shipped list) needs only JSON and a test."""
    for name in ("interaction_text.json", "drug_classes.json"):
        (tmp_path / name).write_text((DATA_DIR / name).read_text())
    classes = json.loads((tmp_path / "drug_classes.json").read_text())
    classes["verapamil"] = {"label": "verapamil", "members": ["verapamil"]}
    (tmp_path / "drug_classes.json").write_text(json.dumps(classes))
    rules = json.loads((DATA_DIR / "context_rules.json").read_text())
    rules["rules"].append(
        {
            "id": "digoxin-verapamil",
            "entry": "team-digoxin-verapamil",
            "label": "Digoxin / verapamil",
            "source": "hl7-pddi-cds",
            "object_class": "digoxin",
            "precipitant_class": "verapamil",
            "facts": {"older": {"kind": "age", "op": ">=", "value": 75, "explain": {"true": "Age {value}."}}},
            "decision": [
                {"when": {"older": True}, "indicator": "warning"},
                {"when": {}, "indicator": "info"},
            ],
        }
    )
    (tmp_path / "context_rules.json").write_text(json.dumps(rules))
    new_kb = build_kb(shared_data / "ddi", shared_data / "rxnorm", vocab, data_dir=tmp_path)
    book = load_rulebook(vocab, tmp_path / "context_rules.json", tmp_path / "drug_classes.json")
    from clinical.record import PatientRecord

    dig, vera = vocab.rxcui_for_name("digoxin"), vocab.rxcui_for_name("verapamil")
    assert dig and vera and not kb.lookup(dig, vera)
    for birth, expected in ((date(1940, 1, 1), "warning"), (date(1990, 1, 1), "info")):
        rec = PatientRecord(
            patient_id="p",
            birth_date=birth,
            draft_medications=[med(vera, draft=True)],
            medications=[med(dig)],
            as_of=NOW,
        )
        found = {f.entry.id: f for f in find_interactions(rec, kb=new_kb, rules=book, vocab=vocab, now=NOW)}
        assert found["team-digoxin-verapamil"].indicator == expected
    assert not kb.entry("team-digoxin-verapamil")  # the shipped KB is untouched
