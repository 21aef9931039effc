"""Drug-interaction services at ``order-select`` and ``order-sign`` (CDS Hooks 2.0; hooks/order-select
1.0, hooks/order-sign 1.1).

Each draft medication is compared with the other drafts and the active medications; the decision is
the pure :func:`knowledge.drugs.interactions.find_interactions` (RxNorm-normalised ingredients, the
interaction KB with class expansion, the PDDI context rules as data). One card per clinically distinct
interaction; the card cites a passage from the current knowledge release only when the passage names
both drugs (or their classes), else the KB source itself.

``order-select`` checks the newly selected drafts (``context.selections``); ``order-sign`` checks
every draft. Both share a ``dedup_group`` so a card already shown at order-select for the same order
and patient data is not repeated at order-sign.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from cds_services.models import Card
from cds_services.registry import CdsService, ServiceInput, register
from cds_services.services.drug_interaction_cards import Citation, render_card
from cds_services.services.drug_interaction_record import interaction_record
from knowledge.drugs.context_rules import default_rulebook, rule_codes
from knowledge.drugs.interactions import InteractionFinding, find_interactions
from knowledge.drugs.kb import InteractionEntry, InteractionKB, load_kb
from knowledge.drugs.vocabulary import load_vocabulary

if TYPE_CHECKING:
    from evidence_cds.settings import Settings

_LOINC, _CONDITIONS = rule_codes()
# Only the labs and conditions the context rules read (a patient's full lab history can be thousands
# of Observations, and every prefetched resource is parsed and fingerprinted on each call).
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
    "conditions": "Condition?patient={{context.patientId}}&code=" + ",".join(_CONDITIONS),
    "labs": "Observation?patient={{context.patientId}}&code=" + ",".join(_LOINC),
    "statements": "MedicationStatement?patient={{context.patientId}}",
    "dispenses": "MedicationDispense?patient={{context.patientId}}",
    "administrations": "MedicationAdministration?patient={{context.patientId}}",
}
# The PDDI guide reads all four medication resources; many EHRs expose only MedicationRequest.
OPTIONAL = frozenset({"patient", "conditions", "statements", "dispenses", "administrations"})

log = logging.getLogger(__name__)
_cite_lock = threading.Lock()
_citations: dict[tuple[str, str], Citation | None] = {}


def findings_for(inp: ServiceInput, *, selected_only: bool) -> list[InteractionFinding]:
    """The decision for one hook call (exposed for the UI and the benchmarks)."""
    vocab = load_vocabulary()
    record = interaction_record(inp.prefetch, inp.draft_orders, vocab, patient_id=inp.patient_id)
    selected = None
    if selected_only:
        selections = getattr(inp.context, "selections", None) or []
        selected = [s.split("/", 1)[-1] for s in selections]
    return find_interactions(
        record, kb=load_kb(), rules=default_rulebook(), vocab=vocab, selected=selected, now=record.as_of
    )


def _handle(inp: ServiceInput, *, selected_only: bool) -> list[Card]:
    kb = load_kb()
    vocab = load_vocabulary()
    cards: list[Card] = []
    for finding in findings_for(inp, selected_only=selected_only):
        if finding.indicator is None:
            continue
        citation = cite(finding.entry, kb, inp.settings)
        if citation.release_id:
            inp.use_release(citation.release_id)
        cards.append(
            render_card(
                finding,
                kb,
                citation,
                patient_id=inp.patient_id or "",
                public_base_url=inp.settings.public_base_url,
                names=vocab.ingredient_names,
            )
        )
    return cards


def handle_select(inp: ServiceInput) -> list[Card]:
    return _handle(inp, selected_only=True)


def handle_sign(inp: ServiceInput) -> list[Card]:
    return _handle(inp, selected_only=False)


def cite(entry: InteractionEntry, kb: InteractionKB, settings: Settings) -> Citation:
    """A passage of the current release that names both sides of ``entry``, else the KB source.

    Cached per (release, entry): the query depends on the interaction, not on the patient, so the
    embedding search runs once per release and interaction, not once per hook call.
    """
    source = kb.sources[entry.source]
    fallback = Citation(label=source.label, url=source.url)
    from knowledge.librarian.config import current_retriever

    retriever = current_retriever(settings)
    if retriever is None:
        return fallback
    key = (retriever.release_id, entry.id)
    with _cite_lock:
        if key in _citations:
            return _citations[key] or fallback
    found: Citation | None = None
    query = f"{entry.topic or entry.label} {entry.risk} drug interaction"
    try:
        passages = retriever.search(query, k=5).passages
    except (OSError, RuntimeError, ValueError, KeyError) as err:  # index trouble: cite the KB, answer anyway
        log.warning("citation search failed for %s: %s", entry.id, type(err).__name__)
        return fallback
    for passage in passages:
        if supports(passage.text, entry):
            found = Citation(
                label=passage.citation(),
                url=passage.url,
                quote=_quote(passage.text),
                release_id=passage.release_id,
            )
            break
    with _cite_lock:
        _citations[key] = found
    return found or fallback


def supports(text: str, entry: InteractionEntry) -> bool:
    """True when ``text`` names a drug (or the class) of each side of the interaction."""
    lowered = text.lower()

    def named(label: str, members: list[str]) -> bool:
        terms = [label.lower().rstrip("s"), *(m.lower() for m in members)]
        return any(t and len(t) > 3 and t in lowered for t in terms)

    return named(entry.object.label, [m.name for m in entry.object.members]) and named(
        entry.precipitant.label, [m.name for m in entry.precipitant.members]
    )


def _quote(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def warm_up(settings: Settings) -> None:
    """Load the vocabulary, KB and rules before the first call (≈0.5 s, once per worker), and look up
    the citations of the curated entries (ONC high-priority, PDDI pairs) so the first hook call does
    not pay for loading the embedding model."""
    load_vocabulary()
    kb = load_kb()
    default_rulebook()
    for entry in kb.entries:
        if entry.mechanism:  # the entries the team curated text for
            cite(entry, kb, settings)


SELECT = register(
    CdsService(
        id="drug-interactions-select",
        hook="order-select",
        title="Drug interactions (order selection)",
        description="Checks a newly selected medication against the other drafts and the active medications; "
        "context-aware (PDDI CDS guide), one card per interaction, with cited evidence.",
        prefetch=PREFETCH,
        optional_prefetch=OPTIONAL,
        handler=handle_select,
        time_budget_ms=300,
        dedup_group="drug-interactions",
        warm_up=warm_up,
    )
)

SIGN = register(
    CdsService(
        id="drug-interactions",
        hook="order-sign",
        title="Drug interactions (order signing)",
        description="Checks every draft medication against the other drafts and the active medications "
        "before signing; context-aware (PDDI CDS guide), one card per interaction, with cited evidence.",
        prefetch=PREFETCH,
        optional_prefetch=OPTIONAL,
        handler=handle_sign,
        time_budget_ms=300,
        dedup_group="drug-interactions",
        warm_up=warm_up,
    )
)
