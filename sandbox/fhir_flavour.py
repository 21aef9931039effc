"""Vendor quirks applied to outgoing FHIR resources, chosen by the access token's flavour.

``epic``: MedicationRequest always points at a separate Medication resource through
``medicationReference`` (Epic's R4 API never inlines ``medicationCodeableConcept``). Demo and Synthea
bundles inline the concept, so the server derives one Medication per distinct concept (id
``rxnorm-<code>`` for an RxNorm coding) and rewrites the request on the fly. Derived Medications are
readable and searchable under every flavour, like any shared reference data.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from typing import Any

from sandbox.store import PatientStore, Resource

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def derived_medication_id(concept: dict[str, Any]) -> str:
    for coding in concept.get("coding") or []:
        if coding.get("system") == RXNORM and coding.get("code"):
            return f"rxnorm-{coding['code']}"
    digest = hashlib.sha256(json.dumps(concept, sort_keys=True).encode()).hexdigest()[:20]
    return f"med-{digest}"


class DerivedMedications:
    """Medication resources derived from the store's inline medication concepts (built on first use)."""

    def __init__(self, store: PatientStore) -> None:
        self._store = store
        self._items: dict[str, Resource] | None = None
        self._lock = threading.Lock()

    def _index(self) -> dict[str, Resource]:
        with self._lock:
            if self._items is None:
                items: dict[str, Resource] = {}
                for mr in self._store.all_of("MedicationRequest"):
                    concept = mr.get("medicationCodeableConcept")
                    if concept:
                        mid = derived_medication_id(concept)
                        items.setdefault(mid, {"resourceType": "Medication", "id": mid, "code": concept})
                self._items = items
            return self._items

    def get(self, mid: str) -> Resource | None:
        return self._index().get(mid)

    def all(self) -> list[Resource]:
        return list(self._index().values())


def apply_flavour(resource: Resource, flavour: str) -> Resource:
    """The resource as the flavour's EHR would serve it (a copy when anything changes)."""
    if flavour != "epic" or resource.get("resourceType") != "MedicationRequest":
        return resource
    concept = resource.get("medicationCodeableConcept")
    if not concept:
        return resource
    out = copy.deepcopy(resource)
    del out["medicationCodeableConcept"]
    out["medicationReference"] = {
        "reference": f"Medication/{derived_medication_id(concept)}",
        "display": concept.get("text") or next((c.get("display") for c in concept.get("coding") or []), None),
    }
    if out["medicationReference"]["display"] is None:
        del out["medicationReference"]["display"]
    return out
