"""The Evidence panel: our own services' cards for this patient (search: :mod:`smart_app.citations`).

Cards come from the very functions a CDS Hooks call runs (``cds_services.execution.run_service`` over
the app's service registry), fed with the resources the app already read for the record view as
prefetch — so a card in the app and a card in the EHR come from one decision, not two.

* patient-view services run with the launch's context;
* order-select services run as a *medication review*: the active MedicationRequests are the draft
  orders (there is no order being written inside the app), so interactions among current medications
  show up; a card's SMART link that opened the app (``appContext`` with ``drugs``) adds those drugs as
  drafts, so the clicked card is reproduced and opened.

A card's citations are read from its ``extension`` (:func:`smart_app.citations.citations_in`), with
the card's ``source`` as the fallback citation.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from markupsafe import Markup

from smart_app.citations import Citation, citations_in, from_label, markdown_html, release_in

log = logging.getLogger("smart_app.evidence")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass
class EvidenceCard:
    key: str  # stable for a card: service id + position + summary (card uuids change per call)
    service_id: str
    summary: str
    indicator: str
    detail: str = ""
    source_label: str = ""
    source_url: str | None = None
    citations: list[Citation] = field(default_factory=list)
    release: str = ""

    @property
    def detail_html(self) -> Markup:
        return markdown_html(self.detail)


@dataclass
class EvidenceResult:
    cards: list[EvidenceCard] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # service ids that failed (shown, not hidden)


def _bundle(resources: Iterable[Any]) -> Any:
    from fhir.resources.R4B.bundle import Bundle, BundleEntry

    return Bundle(type="searchset", entry=[BundleEntry(resource=r) for r in resources])


def _prefetch_for(template: str, by_type: Mapping[str, list[Any]], patient: Any) -> Any:
    """Answer a prefetch template from resources already read: ``Patient/{{…}}`` → the patient;
    ``Type?…`` → a searchset Bundle of this patient's resources of that type."""
    rtype = template.split("?", 1)[0].split("/", 1)[0]
    if rtype == "Patient" and "?" not in template:
        return patient
    return _bundle(by_type.get(rtype, []))


def _user_reference(fhir_user: str | None) -> str:
    if fhir_user:
        parts = fhir_user.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] in {"Practitioner", "PractitionerRole", "Patient", "RelatedPerson"}:
            return f"{parts[-2]}/{parts[-1]}"
    return "Practitioner/unknown"


def context_drafts(patient_id: str, rxcuis: list[str], active: list[Any]) -> list[Any]:
    """Draft MedicationRequests for the drugs a drug-interaction card's ``appContext`` names that the
    patient does not already take — so the app reproduces the card the clinician clicked (the order
    being written in the EHR is not in the FHIR record)."""
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    from knowledge.drugs.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    taken = {
        c.code
        for r in active
        for c in ((r.medicationCodeableConcept.coding or []) if r.medicationCodeableConcept else [])
    }
    drafts = []
    for rxcui in rxcuis:
        if not rxcui.isdigit() or rxcui in taken:
            continue
        name = vocabulary.name_of(rxcui) or f"RxNorm {rxcui}"
        drafts.append(
            MedicationRequest(
                id=f"app-context-{rxcui}",
                status="draft",
                intent="order",
                subject={"reference": f"Patient/{patient_id}"},
                medicationCodeableConcept={
                    "coding": [{"system": RXNORM, "code": rxcui, "display": name}],
                    "text": name,
                },
            )
        )
    return drafts


def cards_for_patient(
    app: Flask,
    resources: list[Any],
    *,
    patient_id: str,
    encounter_id: str | None,
    fhir_user: str | None,
    context_rxcuis: list[str] | None = None,
) -> EvidenceResult:
    """Run every patient-view and order-select service of this app in-process for the patient.

    Order-select services see the active medications as draft orders (a medication review), plus
    drafts for the drugs of the card that opened the app (``context_rxcuis``)."""
    from cds_services.execution import HandlerFailed, run_service
    from cds_services.models import HookRequest
    from cds_services.registry import ServiceInput
    from cds_services.state import cds_state

    state = cds_state(app)
    by_type: dict[str, list[Any]] = {}
    for r in resources:
        by_type.setdefault(r.__resource_type__, []).append(r)
    patient = next(iter(by_type.get("Patient", [])), None)
    active = [
        r for r in by_type.get("MedicationRequest", []) if (r.status or "active") in {"active", "on-hold"}
    ]
    extra_drafts = context_drafts(patient_id, context_rxcuis, active) if context_rxcuis else []
    out = EvidenceResult()
    seen: set[tuple[str, str]] = set()
    for service in state.registry.all():
        if service.hook not in {"patient-view", "order-select"}:
            continue
        context: dict[str, Any] = {"userId": _user_reference(fhir_user), "patientId": patient_id}
        if encounter_id:
            context["encounterId"] = encounter_id.rsplit("/", 1)[-1]
        drafts: list[Any] = []
        if service.hook == "order-select":
            drafts = [*extra_drafts, *active]
            context["selections"] = [f"MedicationRequest/{r.id}" for r in drafts if r.id]
            context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
            if not context["selections"]:
                continue
        try:
            request = HookRequest(hook=service.hook, hookInstance=str(uuid.uuid4()), context=context)
            prefetch = {k: _prefetch_for(t, by_type, patient) for k, t in service.prefetch.items()}
            inp = ServiceInput(
                service=service,
                request=request,
                prefetch=prefetch,
                draft_orders=drafts,
                settings=state.settings,
            )
            cards, _dropped = run_service(service, inp, state.executor)
        except (HandlerFailed, ValueError) as err:
            log.warning("service %s failed in the evidence panel: %s", service.id, type(err).__name__)
            out.failures.append(service.id)
            continue
        release = inp.knowledge_release or ""
        for i, card in enumerate(cards):
            shown = _evidence_card(service.id, i, card, release)
            if (service.id, shown.summary) not in seen:  # the review may repeat a pair both ways
                seen.add((service.id, shown.summary))
                out.cards.append(shown)
    return out


def _evidence_card(service_id: str, index: int, card: Any, release: str) -> EvidenceCard:
    data = card.to_json_dict()
    source = data.get("source") or {}
    extension = data.get("extension") or {}
    card_release = release or release_in(extension)
    citations = list(citations_in(extension, card_release))
    card_release = next((c.release for c in citations if c.release), card_release)
    if not citations and source.get("label"):
        parts = from_label(str(source["label"]))
        citations = [
            Citation(
                title=parts.get("title", ""),
                publisher=parts.get("publisher", ""),
                year=parts.get("year", ""),
                section=parts.get("section", ""),
                url=source.get("url"),
                release=card_release,
            )
        ]
    summary = str(data.get("summary", ""))
    return EvidenceCard(
        key=f"{service_id}-{index}-{abs(hash(summary)) % 10**8}",
        service_id=service_id,
        summary=summary,
        indicator=str(data.get("indicator", "info")),
        detail=str(data.get("detail") or ""),
        source_label=str(source.get("label", "")),
        source_url=source.get("url"),
        citations=citations,
        release=card_release,
    )


# appContext "view" (set by our services' SMART links) → the service whose cards to open
VIEW_SERVICES = {
    "drug-interaction": "drug-interactions",
    "differentials": "differentials",
    "trials": "trial-matching",
    "record-summary": "record-summary",
}


def parse_app_context(value: str | None) -> dict[str, str]:
    """``appContext`` from a CDS card's SMART link (SMART 2.2 §appContext): a JSON object — ``view``
    (``drug-interaction``, ``differentials``, ``trials``) or ``service``, optional ``query`` — or plain
    text (taken as a guideline query). Returns ``focus`` (a service id prefix) and ``query``; unknown
    shapes are ignored, never fatal."""
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {"query": value[:200]}
    if not isinstance(data, dict):
        return {}
    out: dict[str, str] = {}
    focus = data.get("service") or VIEW_SERVICES.get(str(data.get("view", "")))
    if isinstance(focus, str) and focus:
        out["focus"] = focus[:64]
    if isinstance(data.get("query"), str):
        out["query"] = data["query"][:200]
    drugs = data.get("drugs")
    if isinstance(drugs, list):
        out["drugs"] = ",".join(str(d) for d in drugs[:10] if str(d).isdigit())
    return out
