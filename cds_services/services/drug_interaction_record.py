"""The patient record as the drug-interaction service needs it: RxNorm ingredients on every medication.

* :class:`RxNormResolver` adapts the shipped vocabulary (``knowledge.drugs.vocabulary``) to
  ``clinical.record.IngredientResolver``.
* :func:`interaction_record` builds the ``PatientRecord`` from the hook's prefetch and draft orders and
  adds the medications that only MedicationStatement / MedicationDispense / MedicationAdministration
  tell of: the PDDI guide looks back 100 days over all four medication resources, while
  ``clinical.record`` reads MedicationRequest only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from clinical.codes import Code, codes_from_concept, concept_text
from clinical.record import Ingredient, Medication, PatientRecord, build_patient_record
from clinical.resources import flatten_resources, medication_concept, to_datetime
from knowledge.drugs.vocabulary import DrugVocabulary

LOOKBACK = timedelta(days=100)  # PDDI guide: rolling 100-day look-back for medication resources
OTHER_MEDICATION_TYPES = ("MedicationStatement", "MedicationDispense", "MedicationAdministration")
_STATUS = {  # the other resources' statuses in MedicationRequest terms
    "active": "active",
    "in-progress": "active",
    "intended": "active",
    "completed": "completed",
    "on-hold": "on-hold",
    "stopped": "stopped",
    "entered-in-error": "entered-in-error",
    "not-taken": "stopped",
    "not-done": "stopped",
    "cancelled": "stopped",
    "declined": "stopped",
    "preparation": "active",
}


class RxNormResolver:
    """``clinical.record.IngredientResolver`` over the shipped RxNorm vocabulary."""

    def __init__(self, vocab: DrugVocabulary) -> None:
        self.vocab = vocab

    def ingredients_for_codes(self, codes: list[Code]) -> list[Ingredient]:
        return [Ingredient(rxcui=h.rxcui, name=h.name) for h in self.vocab.ingredients_for_codes(codes)]

    def ingredients_for_text(self, text: str) -> list[Ingredient]:
        return [Ingredient(rxcui=h.rxcui, name=h.name) for h in self.vocab.ingredients_for_text(text)]


def interaction_record(
    prefetch: Mapping[str, Any],
    draft_orders: Sequence[Any],
    vocab: DrugVocabulary,
    *,
    patient_id: str | None = None,
    now: datetime | None = None,
) -> PatientRecord:
    """Build the record with ingredients, then add the non-request medication resources."""
    present = {k: v for k, v in prefetch.items() if v is not None}
    resolver = RxNormResolver(vocab)
    record = build_patient_record(present, draft_orders=draft_orders, resolver=resolver, now=now)
    if not record.patient_id and patient_id:
        record.patient_id = patient_id
    record.medications.extend(other_medications(present.values(), resolver, record.as_of))
    return record


def other_medications(resources: Iterable[Any], resolver: RxNormResolver, now: datetime) -> list[Medication]:
    """Medications from MedicationStatement / Dispense / Administration (R4B models or dicts).

    A completed dispense or administration means the drug is in the patient's hands: it counts as
    active when it happened within the 100-day look-back, or carries no date (the prefetch query
    already scoped it).
    """
    from clinical.resources import parse_resource

    warnings: list[str] = []
    parsed = [parse_resource(r, warnings) for r in flatten_resources(list(resources))]
    items = [r for r in parsed if r is not None]
    meds_by_id = {r.id: r for r in items if r.__resource_type__ == "Medication" and r.id}
    out: list[Medication] = []
    for r in items:
        kind = r.__resource_type__
        if kind not in OTHER_MEDICATION_TYPES:
            continue
        concept = medication_concept(r, meds_by_id)
        codes, text = codes_from_concept(concept), concept_text(concept)
        when = _when(r)
        status = _STATUS.get(str(r.status), "active")
        if (
            kind != "MedicationStatement"
            and status == "completed"
            and (when is None or when >= now - LOOKBACK)
        ):
            status = "active"
        med = Medication(
            source_id=f"{kind}/{r.id}" if r.id else None,
            codes=codes,
            text=text,
            status=status,
            authored_on=when,
        )
        med.ingredients = resolver.ingredients_for_codes(codes) if codes else []
        if not med.ingredients and text:
            med.ingredients = resolver.ingredients_for_text(text)
            med.matched_by_text = bool(med.ingredients)
        out.append(med)
    return out


def _when(r: Any) -> datetime | None:
    for attr in ("effectiveDateTime", "whenHandedOver", "dateAsserted", "whenPrepared"):
        value = getattr(r, attr, None)
        if value is not None:
            return to_datetime(value)
    period = getattr(r, "effectivePeriod", None)
    if period is not None:
        return to_datetime(period.end or period.start)
    return None
