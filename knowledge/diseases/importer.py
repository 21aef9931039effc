"""Regenerate ``data/diseases.json`` from the fetched sources (run by ``evidence-cds ddx import``).

Inputs (never committed; fetched snapshots live outside the repository):

* the Human Disease Ontology git snapshot (CC0): ``DOreports/HumanDO.tsv`` (ids, labels),
  ``DOreports/allXREFinDO.tsv`` (ICD-10-CM, SNOMED CT xrefs), ``DOreports/requested/disease-symptom.tsv``
  (disease → SYMP symptom), ``src/translations/doid-es-*.tsv`` (English synonyms and definitions, from
  the source column), ``src/deprecated/reports/doid-basicReport.csv`` (older definitions);
* the team's supplement ``data/supplement.tsv`` (typical presentations in our own words, CC0);
* the findings vocabulary TSV of ``clinical.nlp`` (path passed in: a data contract, not an import).

Supplement entries are linked to DO by exact normalized name/synonym and take DO's codes and synonyms;
other DO diseases enter with the findings their symptom annotations and definitions name (≥ 2 concepts),
or by name only (no findings: listed only when a note names them).
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from knowledge.diseases.kb import DATA_DIR, normalize_name
from knowledge.diseases.models import Disease, DiseaseFinding, KbSource

SUPPLEMENT_PATH = DATA_DIR / "supplement.tsv"
DO_URL = "https://github.com/DiseaseOntology/HumanDiseaseOntology"
DO_SOURCE = KbSource(name="Human Disease Ontology", license="CC0-1.0", url=DO_URL)
TEAM_SOURCE = KbSource(
    name="evidence-cds disease supplement",
    license="CC0-1.0",
    detail="typical presentations in the team's own words (knowledge/diseases/data/supplement.tsv)",
)
_URGENCY = {"C": "cant_miss", "U": "urgent", "R": "routine"}
_SEX = {"F": "female", "M": "male"}
MIN_DO_FINDINGS = 2  # DO symptom/definition concepts a disease needs to be ranked on findings


class ImportProblem(ValueError):
    """The supplement or a source file does not have the expected shape."""


@dataclass
class DoTerm:
    doid: str
    label: str
    synonyms: set[str] = field(default_factory=set)
    definition: str = ""
    icd10: set[str] = field(default_factory=set)
    snomed: set[str] = field(default_factory=set)
    symptoms: set[str] = field(default_factory=set)


def read_vocabulary_terms(path: Path) -> dict[str, list[str]]:
    """``concept_id → [label, terms...]`` from the clinical findings vocabulary TSV."""
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cid, _kind, label, terms = line.split("\t")
        out[cid] = [label, *[t for t in terms.split(";") if t]]
    return out


class PhraseMapper:
    """Maps free phrases (DO symptom labels, definition text) to vocabulary concepts, longest term first."""

    def __init__(self, vocabulary: dict[str, list[str]]) -> None:
        pairs = sorted(
            ((t.lower(), cid) for cid, terms in vocabulary.items() for t in terms if len(t) > 2),
            key=lambda p: -len(p[0]),
        )
        self._concept = {t: cid for t, cid in reversed(pairs)}
        self._pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t, _ in pairs) + r")s?\b")

    def concepts(self, text: str) -> list[str]:
        return [self._concept[m.group(1)] for m in self._pattern.finditer(text.lower())]


def _git_show(repo: Path, path: str) -> str:
    result = subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"HEAD:{path}"], capture_output=True, check=False
    )
    if result.returncode != 0:
        raise ImportProblem(f"{path} not found in {repo}")
    return result.stdout.decode("utf-8", errors="replace")


def _reader(source: Path, path: str) -> str:
    """Read ``path`` from a DO checkout directory or from a bare git snapshot."""
    if (source / path).is_file():
        return (source / path).read_text(encoding="utf-8", errors="replace")
    return _git_show(source, path)


def load_do(source: Path) -> dict[str, DoTerm]:
    """Parse the DO report files of a checkout or git snapshot into :class:`DoTerm` s."""
    terms: dict[str, DoTerm] = {}
    for row in csv.DictReader(io.StringIO(_reader(source, "DOreports/HumanDO.tsv")), delimiter="\t"):
        terms[row["id"]] = DoTerm(doid=row["id"], label=row["label"])
    for row in csv.DictReader(io.StringIO(_reader(source, "DOreports/allXREFinDO.tsv")), delimiter="\t"):
        t = terms.get(row["id"])
        xref = row.get("xref") or ""
        if t is None:
            continue
        if xref.startswith("ICD10CM:"):
            t.icd10.add(xref.split(":", 1)[1])
        elif xref.startswith("SNOMEDCT"):
            t.snomed.add(xref.split(":", 1)[1])
    for name in ("src/translations/doid-es-translated.tsv", "src/translations/doid-es-untranslated.tsv"):
        for row in csv.DictReader(io.StringIO(_reader(source, name)), delimiter="\t"):
            t = terms.get(row.get("source_id") or "")
            if t is None:
                continue
            pred, text = row.get("predicate") or "", (row.get("source_text") or "").strip()
            if pred == "oboInOwl:hasExactSynonym" and text:
                t.synonyms.add(text.split(" [", 1)[0])
            elif pred == "IAO:0000115" and text and not t.definition:
                t.definition = text
    report = _reader(source, "src/deprecated/reports/doid-basicReport.csv")
    for row in csv.DictReader(io.StringIO(report)):
        t = terms.get(row.get("cls") or "")
        if t is not None and not t.definition and row.get("def"):
            t.definition = row["def"]
    symptoms = _reader(source, "DOreports/requested/disease-symptom.tsv")
    for row in csv.DictReader(io.StringIO(symptoms), delimiter="\t"):
        t = terms.get(row["disease_id"])
        if t is not None:
            t.symptoms.add(row["symptom_label"])
    return terms


def parse_supplement(path: Path, known_concepts: set[str]) -> list[Disease]:
    """Supplement rows → :class:`Disease` s; unknown concept ids are an error (typos must not vanish)."""
    out: list[Disease] = []
    unknown: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 11:
            raise ImportProblem(f"{path.name}:{lineno}: expected 11 columns, got {len(cols)}")
        name, syn, urg, prev, sex, age, key, typical, against, risk, tests = cols
        findings: list[DiseaseFinding] = []
        for role, column in (("key", key), ("typical", typical), ("against", against), ("risk", risk)):
            for cid in _split(column):
                if cid not in known_concepts:
                    unknown.add(cid)
                    continue
                findings.append(DiseaseFinding(concept_id=cid, role=role))
        lo, _, hi = age.partition("-")
        out.append(
            Disease(
                id="evidence-cds:" + normalize_name(name).replace(" ", "-"),
                name=name,
                synonyms=_split(syn),
                urgency=_URGENCY[urg],
                prevalence=int(prev),
                sex=_SEX.get(sex),
                sex_predominant=_SEX.get(sex.upper()) if sex.islower() else None,
                age_min=int(lo) if lo else None,
                age_max=int(hi) if hi else None,
                findings=_dedupe(findings),
                tests=_split(tests),
                sources=[TEAM_SOURCE],
            )
        )
    if unknown:
        raise ImportProblem(f"supplement uses concepts missing from the vocabulary: {sorted(unknown)}")
    return out


def _name_forms(name: str) -> list[str]:
    """The name and its singular ("hemorrhoids" → "hemorrhoid") for linking to DO labels."""
    return [name, name[:-1]] if name.endswith("s") and not name.endswith("ss") and len(name) > 4 else [name]


def _split(column: str) -> list[str]:
    return [x.strip() for x in column.split(";") if x.strip() and x.strip() != "-"]


def _dedupe(findings: Iterable[DiseaseFinding]) -> list[DiseaseFinding]:
    seen: set[str] = set()
    out = []
    for f in findings:
        if f.concept_id not in seen:
            seen.add(f.concept_id)
            out.append(f)
    return out


def build_kb(do_source: Path, vocabulary_path: Path, supplement_path: Path = SUPPLEMENT_PATH) -> dict:
    """The full ``diseases.json`` document."""
    vocab = read_vocabulary_terms(vocabulary_path)
    mapper = PhraseMapper(vocab)
    do_terms = load_do(do_source)
    by_name: dict[str, DoTerm] = {}
    for t in do_terms.values():
        for n in (t.label, *t.synonyms):
            by_name.setdefault(normalize_name(n), t)
    diseases = parse_supplement(supplement_path, set(vocab))
    linked: set[str] = set()
    for d in diseases:
        candidates = [n for x in (d.name, *d.synonyms) for n in _name_forms(normalize_name(x))]
        term = next((by_name[n] for n in candidates if n in by_name), None)
        if term is None:
            continue
        linked.add(term.doid)
        d.doid, d.icd10, d.snomed = term.doid, sorted(term.icd10), sorted(term.snomed)
        d.synonyms = sorted({*d.synonyms, term.label, *term.synonyms} - {d.name})
        d.definition = term.definition or None
        d.sources.append(DO_SOURCE.model_copy(update={"detail": f"{term.doid}: names, codes, definition"}))
    for t in do_terms.values():
        if t.doid in linked:
            continue
        phrases = sorted(t.symptoms)
        if t.definition:
            # the definition's genus ("A viral infectious disease that ...") names no finding; its
            # differentia ("characterized by ...", "has_symptom ...") does
            phrases.append(t.definition.split(" that ", 1)[-1])
        concepts = list(dict.fromkeys(c for p in phrases for c in mapper.concepts(p)))
        if len(concepts) < MIN_DO_FINDINGS:
            # too few findings to rank on: the disease enters by name only, so a note that names it
            # ("biopsy consistent with ...") can put it on the differential and the UI can look it up
            concepts = []
        diseases.append(
            Disease(
                id=t.doid,
                doid=t.doid,
                name=t.label[:1].upper() + t.label[1:],  # DO labels are lower case; cards show names
                synonyms=sorted({t.label, *t.synonyms}),
                icd10=sorted(t.icd10),
                snomed=sorted(t.snomed),
                prevalence=1,
                findings=[DiseaseFinding(concept_id=c, role="typical") for c in concepts],
                definition=t.definition or None,
                sources=[
                    DO_SOURCE.model_copy(
                        update={
                            "detail": f"{t.doid}: names, codes, symptoms"
                            if concepts
                            else f"{t.doid}: names, codes"
                        }
                    )
                ],
            )
        )
    return {
        "version": datetime.now(UTC).strftime("%Y.%m.%d"),
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": [
            {"name": DO_SOURCE.name, "license": DO_SOURCE.license, "url": DO_URL},
            {"name": TEAM_SOURCE.name, "license": TEAM_SOURCE.license},
        ],
        "diseases": [d.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for d in diseases],
    }


def write_kb(document: dict, out: Path) -> None:
    out.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
