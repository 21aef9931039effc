"""Diagnoses a note names: a vocabulary of knowledge-base diagnosis names for the clinical NLP pipeline.

A note often names diagnoses: "biopsy consistent with malignant melanoma", "Impression: suspected
pneumonia", "no evidence of pulmonary embolism". Each knowledge-base diagnosis becomes a concept
``dx:<disease id>`` whose terms are its name and synonyms. The notes go through the medspaCy pipeline a
second time with this vocabulary (:func:`named_diagnosis_findings`), so each mention gets its ConText
(negated, possible, family, historical) and section, and the findings pass stays exactly as it is (a
disease name such as "secondary amenorrhea" never hides the finding "amenorrhea"). The ranking weighs
the mentions (:mod:`cds_services.services.differential_ranking`).

Terms are kept only where a mention is unlikely to be something else:

* a term that is also a finding term ("fever", "anemia") stays a finding;
* terms shorter than :data:`MIN_TERM_CHARS`, longer than :data:`MAX_TERM_WORDS` words, or made only of
  generic words ("disease", "acute syndrome") are dropped (abbreviations such as "PE" or "MS" are
  ambiguous in notes);
* a term naming two diagnoses goes to the one with findings in the knowledge base, and is dropped when
  that does not decide.
"""

from __future__ import annotations

import re
from functools import lru_cache

from clinical.nlp import Finding, default_vocabulary, extract_findings
from clinical.nlp.findings import text_to_findings
from clinical.nlp.vocabulary import Concept, Vocabulary
from clinical.record import PatientRecord
from knowledge.diseases import Disease, DiseaseKB
from knowledge.diseases.kb import normalize_name

DX_PREFIX = "dx:"
DIAGNOSIS_KIND = "diagnosis"
MIN_TERM_CHARS = 5
MAX_TERM_WORDS = 6
GENERIC_WORDS = frozenset(
    {
        "disease",
        "diseases",
        "disorder",
        "disorders",
        "syndrome",
        "syndromes",
        "condition",
        "conditions",
        "acute",
        "chronic",
        "infection",
        "infections",
        "infectious",
        "cancer",
        "cancers",
        "carcinoma",
        "tumor",
        "tumour",
        "neoplasm",
        "neoplasms",
        "lesion",
        "lesions",
        "primary",
        "secondary",
        "benign",
        "malignant",
        "type",
        "of",
        "the",
        "and",
        "with",
        "due",
        "to",
        "in",
        "by",
        "on",
        "left",
        "right",
        "congenital",
        "acquired",
        "familial",
        "hereditary",
        "inherited",
        "idiopathic",
        "other",
        "unspecified",
    }
)


def diagnosis_concept_id(disease_id: str) -> str:
    return DX_PREFIX + disease_id


def disease_id_of(concept_id: str) -> str | None:
    """The knowledge-base disease id behind a ``dx:`` concept, else ``None``."""
    return concept_id[len(DX_PREFIX) :] if concept_id.startswith(DX_PREFIX) else None


def _usable(term: str) -> bool:
    words = term.split()
    return (
        len(term) >= MIN_TERM_CHARS
        and len(words) <= MAX_TERM_WORDS
        and not all(w in GENERIC_WORDS or w.isdigit() for w in words)
    )


@lru_cache(maxsize=4)
def diagnosis_vocabulary(kb: DiseaseKB) -> Vocabulary:
    """One ``dx:`` concept per diagnosis with at least one usable term."""
    base = default_vocabulary()
    finding_terms = {normalize_name(t) for c in base for t in (c.label, *c.terms)}
    owners: dict[str, list[Disease]] = {}
    for d in kb.diseases:
        for name in {normalize_name(n) for n in (d.name, *d.synonyms)}:
            if _usable(name) and name not in finding_terms:
                owners.setdefault(name, []).append(d)
    terms: dict[str, list[str]] = {}
    for name, diseases in owners.items():
        ranked = [d for d in diseases if d.findings] or diseases
        if len(ranked) == 1:
            terms.setdefault(ranked[0].id, []).append(name)
    concepts: list[Concept] = []
    for d in kb.diseases:
        if d.id in terms:
            concepts.append(
                Concept(
                    id=diagnosis_concept_id(d.id),
                    label=d.name,
                    kind=DIAGNOSIS_KIND,
                    terms=sorted(terms[d.id]),
                )
            )
    return Vocabulary(concepts)


def named_diagnosis_findings(text: str, kb: DiseaseKB, source_id: str | None = None) -> list[Finding]:
    """The diagnoses ``text`` names, as ``dx:`` findings with assertion, section and span; the label
    says the diagnosis is the note's word ("Malignant melanoma (named in the note)"). Hypothetical
    mentions (screening, prevention, return precautions) are left out."""
    return [
        f.model_copy(
            update={
                "label": f"{f.label} (named in the note)",
                "conclusion": _is_conclusion(text, f.start or 0),
            }
        )
        for f in text_to_findings(
            # "screening for", "vaccinate against", "return if": a plan, not a possibility to weigh
            [m for m in extract_findings(text, source_id, diagnosis_vocabulary(kb)) if not m.hypothetical]
        )
    ]


# phrases that state a study's or clinician's conclusion just before the diagnosis they name
_CONCLUSION = re.compile(
    r"\b(?:consistent with|compatible with|suggestive of|diagnostic of|indicative of|in keeping with|"
    r"characteristic of|typical of|confirm(?:s|ed|ing)?|concerning for|impression of)\b[^.;\n]{0,40}$",
    re.IGNORECASE,
)


def _is_conclusion(text: str, start: int) -> bool:
    """Whether the words just before ``start`` (same sentence) state a conclusion."""
    return bool(_CONCLUSION.search(text[max(0, start - 80) : start]))


def record_named_diagnoses(record: PatientRecord, kb: DiseaseKB) -> list[Finding]:
    """The diagnoses the record's notes name (problem-list entries are known diagnoses, matched by
    code and name in :func:`~cds_services.services.differentials.known_diagnoses`)."""
    return [
        f for note in record.notes_to_read() for f in named_diagnosis_findings(note.text, kb, note.source_id)
    ]
