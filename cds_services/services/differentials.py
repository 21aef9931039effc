"""Service ``differentials`` (patient-view): a short, ranked differential with its reasons and sources.

When the chart opens, the record's findings — problems, abnormal labs and vitals, medications, age and
sex, and the notes' text (negation, family history and uncertainty respected) — are ranked against the
disease knowledge base (:mod:`cds_services.services.differential_ranking`). One info card lists the top
possibilities ("consider …"), each with the patient's findings for and against it, the tests that
would tell them apart and at least one source (a guideline passage of the current knowledge release
that names it, else the knowledge-base entry's sources). Conditions that must not be missed are
surfaced and marked when plausible even below the top of the list. Diagnoses already on the active
problem list are not proposed again. No card when the record holds too little to reason about.

CDS Hooks 2.0 §Card Attributes (summary < 140 characters), §Link (``smart`` + ``appContext``);
patient-view hook 1.0. Nothing here states a diagnosis as fact.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cds_services.models import Card, Coding, Indicator, Link, LinkType, Source
from cds_services.registry import CdsService, ServiceInput, register
from cds_services.services.differential_evidence import Citation, kb_citations, passage_for
from cds_services.services.differential_ranking import KNOWN_SECTIONS, RankedDiagnosis, rank_diagnoses
from cds_services.services.differential_vocabulary import (
    diagnosis_vocabulary,
    disease_id_of,
    record_named_diagnoses,
)
from clinical.codes import ICD10, ICD10_CM, SNOMED
from clinical.nlp import Finding, default_vocabulary, findings_from_record
from clinical.nlp.pipeline import pipeline_ready, prepare_in_background
from clinical.record import PatientRecord
from knowledge.diseases import Disease, DiseaseKB, load_default_kb
from knowledge.diseases.kb import normalize_name

if TYPE_CHECKING:
    from evidence_cds.settings import Settings

SUMMARY_LIMIT = 139
MIN_INFORMATIVE_FINDINGS = 2  # distinct present symptoms/signs/results not explained by known problems
CANT_MISS_RATIO = 0.5  # a can't-miss diagnosis is surfaced when its score is ≥ this share of the top's
_TOPIC = Coding(
    code="differentials", system="https://evidence-cds.org/topics", display="Differential diagnosis"
)


class Differential:
    """The ranked differential of one record, ready to render (card, app view, evaluation)."""

    def __init__(
        self, findings: list[Finding], ranked: list[RankedDiagnosis], surfaced: list[RankedDiagnosis]
    ):
        self.findings = findings
        self.ranked = ranked
        self.surfaced = surfaced  # can't-miss diagnoses added below the top list

    @property
    def shown(self) -> list[RankedDiagnosis]:
        return [*self.ranked, *self.surfaced]


def build_differential(record: PatientRecord, kb: DiseaseKB, *, max_listed: int = 5) -> Differential | None:
    """The differential for ``record``, or ``None`` when the record holds too little to reason about."""
    vocabulary = default_vocabulary()
    findings = [*findings_from_record(record, vocabulary), *record_named_diagnoses(record, kb)]
    known = known_diagnoses(record, kb)
    # only the known diagnoses' key findings count as explained: fatigue or anemia in CKD may still
    # have another cause worth considering
    explained = frozenset(c for d in known for c in d.concepts("key"))
    informative = {
        f.concept_id
        for f in findings
        if f.present
        and f.source != "demographic"
        and f.concept_id not in explained
        and (
            f.section not in KNOWN_SECTIONS
            if disease_id_of(f.concept_id)
            else getattr(vocabulary.get(f.concept_id), "kind", "history") != "history"
        )
    }
    if len(informative) < MIN_INFORMATIVE_FINDINGS:
        return None  # nothing unexplained to reason about: a chart of known, treated problems
    known_ids = {d.id for d in known}
    ranked = [
        r
        for r in rank_diagnoses(findings, kb, limit=40, explained=explained)
        if r.disease.id not in known_ids
    ]
    if not ranked:
        return None
    top = ranked[:max_listed]
    floor = ranked[0].score * CANT_MISS_RATIO
    surfaced = [r for r in ranked[max_listed:20] if r.cant_miss and r.score >= floor][:2]
    return Differential(findings, top, surfaced)


def known_diagnoses(record: PatientRecord, kb: DiseaseKB) -> list[Disease]:
    """Knowledge-base diagnoses already on the active problem list (by SNOMED / ICD-10 code or name)."""
    names, snomed, icd = _indexes(kb)
    out: dict[str, Disease] = {}
    for p in record.active_problems:
        for c in p.codes:
            if not c.code:
                continue
            if c.system == SNOMED:
                out.update((d.id, d) for d in snomed.get(c.code, []))
            elif c.system in (ICD10, ICD10_CM):
                # a problem coded N18.3 is known to be a case of an entry coded N18
                for k in range(3, len(c.code) + 1):
                    out.update((d.id, d) for d in icd.get(c.code[:k], []))
        words = normalize_name(p.text).split() if p.text else []
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + 8) + 1):
                out.update((d.id, d) for d in names.get(" ".join(words[i:j]), []))
    return list(out.values())


_Index = dict[str, list[Disease]]


@lru_cache(maxsize=2)
def _indexes(kb: DiseaseKB) -> tuple[_Index, _Index, _Index]:
    names: _Index = {}
    snomed: _Index = {}
    icd: _Index = {}
    for d in kb.diseases:
        for n in {normalize_name(x) for x in (d.name, *d.synonyms)}:
            if len(n) >= 4:
                names.setdefault(n, []).append(d)
        for code in d.snomed:
            snomed.setdefault(code, []).append(d)
        for code in d.icd10:
            icd.setdefault(code, []).append(d)
    return names, snomed, icd


def citations_for(diagnosis: RankedDiagnosis, retriever: object | None) -> list[Citation]:
    passage = passage_for(diagnosis.disease, retriever)
    return ([passage] if passage else []) + kb_citations(diagnosis.disease)


def _trail(f: Finding) -> str:
    """``label "span" [source id]``; an absent finding reads "no …" (the span is the negated mention)."""
    where = f"{f.source} {f.source_id}" if f.source_id else f.source
    quoted = f' "{f.text}"' if f.text and f.source == "note" else (f" ({f.text})" if f.text else "")
    prefix = "no " if f.assertion == "absent" else "possible " if f.assertion == "possible" else ""
    return f"{prefix}{f.label}{quoted} [{where}]"


def _summary(diff: Differential) -> str:
    head = "Differential to consider: "
    names: list[str] = []
    for r in diff.shown:
        name = r.disease.name + (" (can't miss)" if r.cant_miss else "")
        if len(head + "; ".join([*names, name])) > SUMMARY_LIMIT - 2:
            break
        names.append(name)
    return head + "; ".join(names)


def _detail(diff: Differential, cites: dict[str, list[Citation]]) -> str:
    lines = [
        "Possibilities that may fit this patient's findings — not diagnoses; clinical judgement decides.",
        "",
    ]
    for i, r in enumerate(diff.shown, 1):
        flag = " — **can't miss**" if r.cant_miss else ""
        lines.append(f"{i}. **Consider {r.disease.name}**{flag}")
        lines.append("   - For: " + ("; ".join(_trail(e.finding) for e in r.supporting[:6]) or "—"))
        lines.append(
            "   - Against: " + ("; ".join(_trail(e.finding) for e in r.opposing[:4]) or "none recorded")
        )
        if r.disease.tests:
            lines.append("   - Would help tell apart: " + "; ".join(r.disease.tests[:3]))
        src = cites[r.disease.id][0]
        lines.append(f"   - Source: {src.label}" + (f" <{src.url}>" if src.url else ""))
    return "\n".join(lines)


def diagnosis_payload(r: RankedDiagnosis, cites: list[Citation]) -> dict[str, Any]:
    """JSON for the app's differential view (card ``extension``)."""

    def ev(e: Any) -> dict[str, Any]:
        f = e.finding
        return {
            "concept": f.concept_id,
            "label": f.label,
            "assertion": f.assertion,
            "source": f.source,
            "source_id": f.source_id,
            "text": f.text,
            "start": f.start,
            "end": f.end,
            "role": e.role,
            "weight": round(e.weight, 3),
        }

    return {
        "id": r.disease.id,
        "name": r.disease.name,
        "score": round(r.score, 3),
        "cant_miss": r.cant_miss,
        "icd10": r.disease.icd10,
        "snomed": r.disease.snomed,
        "supporting": [ev(e) for e in r.supporting],
        "opposing": [ev(e) for e in r.opposing],
        "tests": r.disease.tests,
        "citations": [c.model_dump(exclude_none=True) for c in cites],
    }


def _retriever(settings: Settings) -> object | None:
    from knowledge.librarian.config import current_retriever

    return current_retriever(settings)


def handle(inp: ServiceInput) -> list[Card]:
    settings = inp.settings
    if inp.record.deceased:  # a differential to work up is meaningless after death
        inp.note("patient is deceased: no differential")
        return []
    kb = load_default_kb()
    vocabularies = (default_vocabulary(), diagnosis_vocabulary(kb))
    if not all(pipeline_ready(v) for v in vocabularies):
        # Without gunicorn's warm-up (flask run, tests) the first call would pay seconds of spaCy
        # import and pipeline build; answer "no card" now and have it ready for the next chart.
        for v in vocabularies:
            prepare_in_background(v)
        inp.note("clinical NLP still loading: no differential this time")
        return []
    diff = build_differential(inp.record, kb, max_listed=settings.ddx_card_max_listed)
    if diff is None:
        inp.note("too little in the record for a differential")
        return []
    retriever = _retriever(settings) if settings.ddx_cite_passages else None
    if retriever is not None:
        inp.use_release(str(getattr(retriever, "release_id", "")))
    cites = {r.disease.id: citations_for(r, retriever) for r in diff.shown}
    detail = _detail(diff, cites)
    if settings.ddx_generator_url:
        from cds_services.services.differential_generator import model_from_settings, rephrase

        model = model_from_settings(
            settings.ddx_generator_url, settings.ddx_generator_model, settings.ddx_generator_timeout_s
        )
        every_cite = list({c.label: c for r in diff.shown for c in cites[r.disease.id]}.values())
        result = rephrase(detail, [r.disease for r in diff.shown], every_cite, kb, model)
        detail = result.text
        if result.reason:
            inp.note(result.reason)
    base = settings.public_base_url.rstrip("/")
    app_context = {"view": "differentials", "diagnoses": [r.disease.id for r in diff.shown], "kb": kb.version}
    card = Card(
        summary=_summary(diff),
        detail=detail,
        indicator=Indicator.info,
        source=Source(label="evidence-cds differential (disease KB " + kb.version + ")", topic=_TOPIC),
        links=[
            Link(
                label="Open the full differential",
                url=f"{base}/app/launch",
                type=LinkType.smart,
                appContext=json.dumps(app_context),
            )
        ],
        extension={
            "evidence-cds-differentials": {
                "kb_version": kb.version,
                "diagnoses": [diagnosis_payload(r, cites[r.disease.id]) for r in diff.shown],
            }
        },
    )
    return [card]


def warm_up(settings: Settings) -> None:
    """Load the disease KB and build the NLP pipeline once per worker (≈3 s on first use)."""
    from clinical.nlp import extract_findings

    extract_findings("No fever. Cough.")
    extract_findings("No pneumonia.", vocabulary=diagnosis_vocabulary(load_default_kb()))
    if settings.ddx_cite_passages:
        _retriever(settings)


SERVICE = register(
    CdsService(
        id="differentials",
        hook="patient-view",
        title="Differential diagnosis to consider",
        description="A short ranked differential from the record and the notes: the patient's findings for "
        "and against each possibility, what would tell them apart, and the cited source.",
        prefetch={
            "patient": "Patient/{{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}",
            "observations": "Observation?patient={{context.patientId}}",
            "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
            "notes": "DocumentReference?patient={{context.patientId}}",
            "encounters": "Encounter?patient={{context.patientId}}",
        },
        optional_prefetch=frozenset({"notes", "encounters", "medications"}),
        handler=handle,
        time_budget_ms=1500,
        warm_up=warm_up,
    )
)
