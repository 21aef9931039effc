"""The EHR's per-chart workspace: draft orders, the cards on screen, and the order catalogue.

A chart opened in the EHR shell gets a ``ChartSession`` (server-side, keyed by an unguessable id that
the chart page carries in its URLs, so it does not depend on cookies shared between loopback ports).
Draft orders are FHIR R4 ``MedicationRequest`` resources with ``status: draft`` and ``intent: order``
(CDS Hooks 2.0 order-select / order-sign ``draftOrders``); card suggestions apply their actions to
them (§Action: create, update, delete).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.cds_models import Action, Card, ServiceResult
from sandbox.store import Resource

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# Common medications as real RxNorm SCD codes (RxNorm 2025-10 prescribable set, and for ingredients
# starting with "A", codes that also appear in the HL7 PDDI-CDS value sets and Synthea data).
MEDICATION_CATALOG: tuple[tuple[str, str], ...] = (
    ("313782", "acetaminophen 325 MG Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("833528", "amiodarone hydrochloride 200 MG Oral Tablet"),
    ("243670", "aspirin 81 MG Oral Tablet"),
    ("259255", "atorvastatin 80 MG Oral Tablet"),
    ("205323", "celecoxib 200 MG Oral Capsule"),
    ("309309", "ciprofloxacin 500 MG Oral Tablet"),
    ("197517", "clarithromycin 500 MG Oral Tablet"),
    ("309362", "clopidogrel 75 MG Oral Tablet"),
    ("241834", "cyclosporine, modified 100 MG Oral Capsule"),
    ("197604", "digoxin 0.125 MG Oral Tablet"),
    ("197700", "fluconazole 200 MG Oral Tablet"),
    ("313988", "furosemide 40 MG Oral Tablet"),
    ("310965", "ibuprofen 200 MG Oral Tablet"),
    ("197806", "ibuprofen 600 MG Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("861007", "metformin hydrochloride 500 MG Oral Tablet"),
    ("198014", "naproxen 500 MG Oral Tablet"),
    ("198051", "omeprazole 20 MG Delayed Release Oral Capsule"),
    ("314200", "pantoprazole 40 MG Delayed Release Oral Tablet"),
    ("312941", "sertraline 50 MG Oral Tablet"),
    ("198211", "simvastatin 40 MG Oral Tablet"),
    ("313096", "spironolactone 25 MG Oral Tablet"),
    ("198335", "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet"),
    ("835603", "tramadol hydrochloride 50 MG Oral Tablet"),
    ("897683", "verapamil hydrochloride 80 MG Oral Tablet"),
    ("855332", "warfarin sodium 5 MG Oral Tablet"),
)
CATALOG_BY_CODE = dict(MEDICATION_CATALOG)


class UnknownMedication(KeyError):
    """The order-entry box was given a code that is not in the catalogue."""


@dataclass
class ShownCard:
    """A card on screen, with the service it came from (for feedback and suggestions)."""

    key: str
    service_id: str
    service_url: str
    card: Card


@dataclass
class ChartSession:
    id: str
    patient_id: str
    encounter_id: str | None
    user_id: str  # "Practitioner/<id>"
    flavour: str
    created_at: float = field(default_factory=time.time)
    draft_orders: list[Resource] = field(default_factory=list)
    signed_orders: list[Resource] = field(default_factory=list)
    last_hook: str | None = None
    results: list[ServiceResult] = field(default_factory=list)
    panel_message: str | None = None
    cards: dict[str, ShownCard] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # --- draft orders -------------------------------------------------------------------------------
    def add_medication_order(self, rxnorm_code: str) -> Resource:
        if rxnorm_code not in CATALOG_BY_CODE:
            raise UnknownMedication(rxnorm_code)
        order = medication_request(self, rxnorm_code, CATALOG_BY_CODE[rxnorm_code])
        with self.lock:
            self.draft_orders.append(order)
        return order

    def remove_order(self, reference: str) -> bool:
        """Remove the draft named by ``Type/id`` (or a bare id); whether one was removed."""
        rtype, _, rid = reference.rpartition("/")
        with self.lock:
            before = len(self.draft_orders)
            self.draft_orders = [
                o
                for o in self.draft_orders
                if not (o.get("id") == rid and (not rtype or o.get("resourceType") == rtype))
            ]
            return len(self.draft_orders) < before

    def apply_action(self, action: Action) -> None:
        """Apply one suggestion action to the draft orders (CDS Hooks 2.0 §Action)."""
        with self.lock:
            if action.type == "delete":
                for ref in action.resourceId:
                    self.remove_order(ref)
            elif action.resource is not None:
                resource = dict(action.resource)
                resource.setdefault("id", f"draft-{uuid.uuid4().hex[:12]}")
                if action.type == "create":
                    resource.setdefault("status", "draft")
                ref = f"{resource.get('resourceType')}/{resource['id']}"
                if action.type == "update":
                    # An update of an unknown draft adds it, as FHIR update-as-create does.
                    self.remove_order(ref)
                self.draft_orders.append(resource)

    def draft_bundle(self) -> Resource:
        """``context.draftOrders``: a Bundle of the drafts (order-select, order-sign)."""
        with self.lock:
            return {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": o} for o in self.draft_orders],
            }

    def sign_all(self) -> list[Resource]:
        with self.lock:
            signed = [dict(o, status="active") for o in self.draft_orders]
            self.signed_orders.extend(signed)
            self.draft_orders = []
            return signed

    # --- cards on screen ----------------------------------------------------------------------------
    def show_results(self, hook: str, results: list[ServiceResult], message: str | None) -> None:
        with self.lock:
            self.last_hook, self.results, self.panel_message = hook, results, message
            self.cards = {}
            for result in results:
                for card in result.cards:
                    key = card.uuid or uuid.uuid4().hex
                    self.cards[key] = ShownCard(key, result.service_id, result.service_url, card)

    def take_card(self, key: str) -> ShownCard | None:
        """Remove a card from the screen (after it was acted on) and return it."""
        with self.lock:
            shown = self.cards.pop(key, None)
            if shown is not None:
                for result in self.results:
                    result.cards = [c for c in result.cards if c is not shown.card]
            return shown


def medication_request(session: ChartSession, code: str, display: str) -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "id": f"draft-{uuid.uuid4().hex[:12]}",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{session.patient_id}"},
        **({"encounter": {"reference": f"Encounter/{session.encounter_id}"}} if session.encounter_id else {}),
        "requester": {"reference": session.user_id},
        "authoredOn": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dosageInstruction": [{"text": "as directed"}],
    }


class ChartSessions:
    """Thread-safe, expiring, bounded registry of open charts."""

    def __init__(self, ttl_s: float = 8 * 3600, max_sessions: int = 2000) -> None:
        self._ttl, self._max = ttl_s, max_sessions
        self._items: dict[str, ChartSession] = {}
        self._lock = threading.Lock()

    def open(self, patient_id: str, encounter_id: str | None, user_id: str, flavour: str) -> ChartSession:
        session = ChartSession(uuid.uuid4().hex, patient_id, encounter_id, user_id, flavour)
        with self._lock:
            self._expire()
            if len(self._items) >= self._max:
                oldest = min(self._items.values(), key=lambda s: s.created_at)
                del self._items[oldest.id]
            self._items[session.id] = session
        return session

    def get(self, session_id: str) -> ChartSession | None:
        with self._lock:
            self._expire()
            return self._items.get(session_id)

    def _expire(self) -> None:
        now = time.time()
        for sid in [s.id for s in self._items.values() if now - s.created_at > self._ttl]:
            del self._items[sid]


def order_label(order: Resource) -> str:
    concept: Any = order.get("medicationCodeableConcept") or order.get("code") or {}
    codings = concept.get("coding") or [{}]
    return str(concept.get("text") or codings[0].get("display") or order.get("resourceType", "order"))
