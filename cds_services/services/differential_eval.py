"""``evidence-cds ddx eval``: the service's pipeline (text → findings → ranking) over JSON-lines cases.

Each line: ``{"id": ..., "text": ..., "age": 54?, "sex": "female"?, "diagnosis": "gold"}``. A case is
correct at *k* when one of the top *k* ranked diagnoses names the gold diagnosis through the knowledge
base's names and synonyms (:meth:`knowledge.diseases.DiseaseKB.matches`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from cds_services.services.differential_ranking import rank_diagnoses
from cds_services.services.differential_vocabulary import named_diagnosis_findings
from clinical.nlp import Finding, extract_findings
from clinical.nlp.findings import text_to_findings
from knowledge.diseases import DiseaseKB

TOP_K = (1, 3, 10)


class EvalCase(BaseModel):
    id: str
    text: str = Field(min_length=1)
    age: float | None = None
    sex: str | None = None
    diagnosis: str = Field(min_length=1)


class CaseResult(BaseModel):
    id: str
    diagnosis: str
    rank: int | None  # 1-based rank of the first matching prediction, None if not in the top 10
    in_kb: bool  # whether any knowledge-base disease names the gold diagnosis
    rankable: bool  # whether one with findings does (a name-only entry is listed only when the text names it)
    predictions: list[str]
    findings_present: list[str]
    findings_absent: list[str]


class EvalReport(BaseModel):
    file: str
    n: int
    kb_version: str
    top: dict[str, float]  # "top1" → accuracy
    in_kb: float
    rankable: float  # share of cases whose gold diagnosis has findings in the knowledge base
    top_rankable: dict[str, float]  # accuracy over those cases: the ranking's quality apart from coverage
    cases: list[CaseResult]


class CaseFileError(ValueError):
    """A line of the cases file is not a valid case."""


def read_cases(path: Path) -> list[EvalCase]:
    cases = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(EvalCase.model_validate_json(line))
        except ValidationError as err:
            raise CaseFileError(f"{path.name}:{lineno}: {err.errors()[0]['msg']}") from err
    return cases


def case_findings(case: EvalCase, kb: DiseaseKB | None = None) -> list[Finding]:
    """The same findings the service derives: demographics, the text's findings and, given ``kb``, the
    diagnoses the text names (without it: the ablation that ranks on findings alone)."""
    out: list[Finding] = []
    if case.age is not None:
        out.append(Finding(concept_id="age", label=f"age {case.age:g}", source="demographic", value=case.age))
    if case.sex in ("female", "male"):
        out.append(Finding(concept_id=f"sex_{case.sex}", label=case.sex, source="demographic"))
    out.extend(text_to_findings(extract_findings(case.text, source_id=case.id)))
    if kb is not None:
        out.extend(named_diagnosis_findings(case.text, kb, case.id))
    return out


def evaluate(
    cases: Iterable[EvalCase], kb: DiseaseKB, *, file: str = "", named_diagnoses: bool = True
) -> EvalReport:
    """Run the service's pipeline on every case. ``named_diagnoses=False`` is the ablation that ranks
    on findings alone (the text's mentions of diagnoses are not read)."""
    results: list[CaseResult] = []
    for case in cases:
        findings = case_findings(case, kb if named_diagnoses else None)
        ranked = rank_diagnoses(findings, kb, limit=max(TOP_K))
        rank = next((i for i, r in enumerate(ranked, 1) if kb.matches(r.disease, case.diagnosis)), None)
        results.append(
            CaseResult(
                id=case.id,
                diagnosis=case.diagnosis,
                rank=rank,
                in_kb=bool(golds := [d for d in kb.diseases if kb.matches(d, case.diagnosis)]),
                rankable=any(d.findings for d in golds),
                predictions=[r.disease.name for r in ranked],
                findings_present=sorted(
                    {f.concept_id for f in findings if f.present and f.source != "demographic"}
                ),
                findings_absent=sorted({f.concept_id for f in findings if f.assertion == "absent"}),
            )
        )
    n = len(results)
    top = _accuracy(results)
    rankable = [r for r in results if r.rankable]
    return EvalReport(
        file=file,
        n=n,
        kb_version=kb.version,
        top=top,
        in_kb=sum(r.in_kb for r in results) / n if n else 0.0,
        rankable=len(rankable) / n if n else 0.0,
        top_rankable=_accuracy(rankable),
        cases=results,
    )


def _accuracy(results: list[CaseResult]) -> dict[str, float]:
    n = len(results)
    return {
        f"top{k}": (sum(1 for r in results if r.rank is not None and r.rank <= k) / n if n else 0.0)
        for k in TOP_K
    }


def write_report(report: EvalReport, path: Path) -> None:
    path.write_text(json.dumps(report.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8")
