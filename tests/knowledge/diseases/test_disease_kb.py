"""Disease knowledge base: shape and provenance of the shipped data, the importer on small source
files, reproducibility from the DO snapshot when present, and name matching for evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinical.nlp import default_vocabulary
from clinical.nlp.vocabulary import DEFAULT_VOCABULARY_PATH
from knowledge.diseases import DiseaseKB, load_default_kb
from knowledge.diseases.importer import ImportProblem, build_kb, parse_supplement
from knowledge.diseases.kb import DEFAULT_KB_PATH

DO_SNAPSHOT = Path("/work/.mirror/DiseaseOntology+HumanDiseaseOntology/repo")


def test_every_diagnosis_has_names_findings_and_a_licensed_source() -> None:
    kb = load_default_kb()
    vocab = default_vocabulary()
    assert len(kb) > 300
    assert len({d.id for d in kb.diseases}) == len(kb)
    for d in kb.diseases:
        assert d.name, d.id
        assert d.sources and all(s.license for s in d.sources), d.id
        # a diagnosis without findings is a DO name-only entry: listed only when a note names it
        assert d.findings or (d.doid and d.sources[0].detail == f"{d.doid}: names, codes"), d.id
        unknown = {f.concept_id for f in d.findings} - {c.id for c in vocab.concepts}
        assert not unknown, (d.name, unknown)
    cant_miss = {d.name for d in kb.diseases if d.cant_miss}
    assert {"Pulmonary embolism", "Aortic dissection", "Meningitis", "Ectopic pregnancy"} <= cant_miss


def test_supplement_entries_carry_codes_from_the_disease_ontology() -> None:
    kb = load_default_kb()
    pe = kb.lookup("pulmonary embolism")[0]
    assert pe.doid and pe.doid.startswith("DOID:")
    assert any(c.startswith("I26") for c in pe.icd10)
    assert pe.tests and pe.urgency == "cant_miss"


def _write_do(root: Path) -> None:
    (root / "DOreports" / "requested").mkdir(parents=True)
    (root / "src" / "translations").mkdir(parents=True)
    (root / "src" / "deprecated" / "reports").mkdir(parents=True)
    (root / "DOreports" / "HumanDO.tsv").write_text(
        'id\tlabel\tsubClassOf\n"DOID:1"\t"pulmonary embolism"\t"x"\n"DOID:2"\t"widget fever"\t"x"\n'
        '"DOID:3"\t"quiet disease"\t"x"\n'.replace('"', "")
    )
    (root / "DOreports" / "allXREFinDO.tsv").write_text(
        "id\tlabel\txref\nDOID:1\tpulmonary embolism\tICD10CM:I26\n"
    )
    (root / "DOreports" / "requested" / "disease-symptom.tsv").write_text(
        "disease_id\tdisease_label\tsymptom_id\tsymptom_label\n"
        "DOID:2\twidget fever\tSYMP:1\tfever\nDOID:2\twidget fever\tSYMP:2\theadache\n"
        "DOID:3\tquiet disease\tSYMP:3\tfever\n"
    )
    header = "source_id\tpredicate\tsource_text\n"
    (root / "src" / "translations" / "doid-es-translated.tsv").write_text(
        header + "DOID:2\toboInOwl:hasExactSynonym\twidgetosis\n"
    )
    (root / "src" / "translations" / "doid-es-untranslated.tsv").write_text(header)
    (root / "src" / "deprecated" / "reports" / "doid-basicReport.csv").write_text("cls,def,xrefs\n")


def test_importer_links_supplement_to_do_and_ranks_do_diseases_with_two_findings(tmp_path: Path) -> None:
    _write_do(tmp_path)
    doc = build_kb(tmp_path, DEFAULT_VOCABULARY_PATH)
    by_name = {d["name"]: d for d in doc["diseases"]}
    assert by_name["Pulmonary embolism"]["doid"] == "DOID:1" and by_name["Pulmonary embolism"]["icd10"] == [
        "I26"
    ]
    widget = by_name["Widget fever"]
    assert {f["concept_id"] for f in widget["findings"]} == {"fever", "headache"}
    assert widget["synonyms"] == ["widget fever", "widgetosis"]
    # a single finding is too little to rank on: the disease enters by name only
    assert "findings" not in by_name["Quiet disease"] and by_name["Quiet disease"]["doid"] == "DOID:3"


def test_supplement_typo_in_a_concept_id_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "supplement.tsv"
    bad.write_text("Thing\t-\tR\t3\t-\t-\tfevr\tcough\t-\t-\tX-ray\n")
    with pytest.raises(ImportProblem, match="fevr"):
        parse_supplement(bad, {c.id for c in default_vocabulary().concepts})


@pytest.mark.skipif(not DO_SNAPSHOT.exists(), reason="DO snapshot not fetched on this machine")
def test_shipped_kb_is_reproducible_from_the_do_snapshot() -> None:
    doc = build_kb(DO_SNAPSHOT, DEFAULT_VOCABULARY_PATH)
    shipped = json.loads(DEFAULT_KB_PATH.read_text())
    assert doc["diseases"] == shipped["diseases"]


@pytest.mark.parametrize(
    ("gold", "name", "expected"),
    [
        ("COVID 19", "COVID-19", True),
        ("Cerebral Stroke", "Stroke", True),
        ("Hirschsprung’s disease", "Hirschsprung disease", True),
        ("Benign Paroxysmal Positional Vertigo (BPPV)", "Benign paroxysmal positional vertigo", True),
        ("Chronic Kidney Disease", "Diabetic nephropathy", False),
        ("Lung cancer", "Breast cancer", False),
    ],
)
def test_gold_names_match_through_names_and_synonyms(gold: str, name: str, expected: bool) -> None:
    kb: DiseaseKB = load_default_kb()
    disease = next(d for d in kb.diseases if d.name == name)
    assert kb.matches(disease, gold) is expected
