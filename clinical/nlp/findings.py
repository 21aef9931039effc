"""Findings: what the record and the notes say about the patient, each traced to where it came from.

* :func:`extract_findings` — free text → :class:`TextFinding` s (vocabulary match + ConText: negated,
  uncertain, family, historical), each with its character span and the id of its source resource.
* :func:`findings_from_record` — a :class:`~clinical.record.PatientRecord` → :class:`Finding` s: active
  and past problems, abnormal labs and vitals (interpretation code, else the resource's reference range,
  else the LOINC table in ``data/lab_findings.tsv``), medications, age and sex, and (by default) the
  findings of its notes and encounter reason.

Clinical-safety rule enforced here, not left to callers: a negated, family-history or hypothetical
mention is never ``present``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel

from clinical.nlp.labs import abnormal_lab_findings
from clinical.nlp.pipeline import run
from clinical.nlp.text_labs import lab_findings_from_text
from clinical.nlp.text_vitals import vital_findings_from_text
from clinical.nlp.vocabulary import Vocabulary, default_vocabulary
from clinical.record import Observation, PatientRecord

Assertion = Literal["present", "absent", "possible", "family", "historical"]
SourceKind = Literal["problem", "observation", "medication", "demographic", "note"]


class TextFinding(BaseModel):
    """A concept mentioned in free text, with its ConText attributes and character span."""

    concept_id: str
    label: str
    text: str
    start: int
    end: int
    negated: bool = False
    uncertain: bool = False
    family: bool = False
    historical: bool = False
    hypothetical: bool = False
    section: str | None = None
    source_id: str | None = None

    @property
    def assertion(self) -> Assertion:
        """One status for decision logic; family and negation win over everything else."""
        if self.family:
            return "family"
        if self.negated:
            return "absent"
        if self.uncertain or self.hypothetical:
            return "possible"
        if self.historical:
            return "historical"
        return "present"

    @property
    def present(self) -> bool:
        return self.assertion in ("present", "historical")


class Finding(BaseModel):
    """A finding about this patient from any source, with the trail back to it."""

    concept_id: str
    label: str
    assertion: Assertion = "present"
    source: SourceKind
    source_id: str | None = None
    text: str = ""  # the evidence as shown to a clinician ("Hemoglobin 9.8 g/dL (L)", the note span)
    start: int | None = None
    end: int | None = None
    value: float | None = None
    section: str | None = None  # note section (e.g. "chief_complaint") for text findings
    conclusion: bool = False  # stated as a study's or clinician's conclusion ("consistent with ...")

    @property
    def present(self) -> bool:
        return self.assertion in ("present", "historical")


def extract_findings(
    text: str, source_id: str | None = None, vocabulary: Vocabulary | None = None
) -> list[TextFinding]:
    """Findings mentioned in ``text`` (spans index into ``text``), in order of appearance.

    Vital signs and lab results written as numbers ("Temperature: 38.9°C", "HR 118", "Na: 122 mEq/L")
    or qualitatively ("Creatinine: elevated") become findings too (:mod:`clinical.nlp.text_labs`).
    """
    if not text or not text.strip():
        return []
    vocab = vocabulary or default_vocabulary()
    if len(text) <= SHORT_TEXT:
        # problem and medication names repeat across charts and calls: cache their (pure) analysis
        return [f.model_copy(update={"source_id": source_id}) for f in _short_findings(text, vocab)]
    return _analyse(text, source_id, vocab)


SHORT_TEXT = 160


@lru_cache(maxsize=4096)
def _short_findings(text: str, vocab: Vocabulary) -> tuple[TextFinding, ...]:
    return tuple(_analyse(text, None, vocab))


def _analyse(text: str, source_id: str | None, vocab: Vocabulary) -> list[TextFinding]:
    doc = run(vocab, text)
    out: list[TextFinding] = []
    for ent in doc.ents:
        out.append(
            TextFinding(
                concept_id=ent.label_,
                label=vocab.label(ent.label_),
                text=text[ent.start_char : ent.end_char],
                start=ent.start_char,
                end=ent.end_char,
                negated=bool(ent._.is_negated),
                uncertain=bool(ent._.is_uncertain),
                family=bool(ent._.is_family),
                historical=bool(ent._.is_historical),
                hypothetical=bool(ent._.is_hypothetical),
                section=ent._.section_category,
                source_id=source_id,
            )
        )
    for concept_id, start, end in [*vital_findings_from_text(text), *lab_findings_from_text(text)]:
        if concept_id in vocab:
            out.append(
                TextFinding(
                    concept_id=concept_id,
                    label=vocab.label(concept_id),
                    text=text[start:end],
                    start=start,
                    end=end,
                    source_id=source_id,
                )
            )
    out.sort(key=lambda f: f.start)
    return out


def text_to_findings(found: list[TextFinding], *, source: SourceKind = "note") -> list[Finding]:
    """Convert :class:`TextFinding` s to :class:`Finding` s (keeping span and source id)."""
    return [
        Finding(
            concept_id=f.concept_id,
            label=f.label,
            assertion=f.assertion,
            source=source,
            source_id=f.source_id,
            text=f.text,
            start=f.start,
            end=f.end,
            section=f.section,
        )
        for f in found
    ]


def findings_from_record(
    record: PatientRecord, vocabulary: Vocabulary | None = None, *, include_notes: bool = True
) -> list[Finding]:
    """Structured findings of ``record`` (+ its notes' text findings unless ``include_notes=False``)."""
    vocab = vocabulary or default_vocabulary()
    out: list[Finding] = []
    age = record.age_years()
    if age is not None:
        out.append(
            Finding(
                concept_id="age",
                label=f"age {age}",
                source="demographic",
                source_id=record.patient_id,
                text=f"{age} years",
                value=float(age),
            )
        )
    if record.sex:
        out.append(
            Finding(
                concept_id=f"sex_{record.sex}",
                label=record.sex,
                source="demographic",
                source_id=record.patient_id,
                text=record.sex,
            )
        )
    for p in record.problems:
        if p.verification_status in {"refuted", "entered-in-error"}:
            continue
        assertion: Assertion = "present" if p.is_active else "historical"
        for tf in extract_findings(p.text or _display(p.codes), p.source_id, vocab):
            if tf.present:
                out.append(
                    Finding(
                        concept_id=tf.concept_id,
                        label=tf.label,
                        assertion=assertion,
                        source="problem",
                        source_id=p.source_id,
                        text=p.text or tf.text,
                    )
                )
    for obs, lab_assertion in _latest_results(record):
        for concept_id, evidence in abnormal_lab_findings(obs):
            if concept_id in vocab:
                out.append(
                    Finding(
                        concept_id=concept_id,
                        label=vocab.label(concept_id),
                        assertion=lab_assertion,
                        source="observation",
                        source_id=obs.source_id,
                        text=evidence,
                        value=obs.value,
                    )
                )
    for med in record.active_medications:
        for tf in extract_findings(med.text or _display(med.codes), med.source_id, vocab):
            if tf.present:
                out.append(
                    Finding(
                        concept_id=tf.concept_id,
                        label=tf.label,
                        source="medication",
                        source_id=med.source_id,
                        text=med.text,
                    )
                )
    if include_notes:
        for note in record.notes_to_read():
            out.extend(text_to_findings(extract_findings(note.text, note.source_id, vocab)))
    return out


RECENT_RESULT_DAYS = 90


def _latest_results(record: PatientRecord) -> list[tuple[Observation, Assertion]]:
    """The newest result per test, "present" when taken within :data:`RECENT_RESULT_DAYS` of the record's
    date, else "historical": a low glucose from years ago is not today's finding, and an older abnormal
    value superseded by a newer result of the same test is no finding at all. Undated results count as
    current (a hook's prefetch may omit dates)."""
    newest: dict[str, Observation] = {}
    for obs in record.observations:
        key = next((f"{c.system}|{c.code}" for c in obs.codes if c.code), obs.text)
        seen = newest.get(key)
        if seen is None or (obs.effective and (seen.effective is None or obs.effective > seen.effective)):
            newest[key] = obs
    horizon = record.as_of - timedelta(days=RECENT_RESULT_DAYS)
    return [
        (obs, "present" if obs.effective is None or obs.effective >= horizon else "historical")
        for obs in newest.values()
    ]


def _display(codes: Sequence[object]) -> str:
    return next((str(getattr(c, "display", "")) for c in codes if getattr(c, "display", None)), "")
