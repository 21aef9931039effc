"""In-memory FHIR R4 resource store over a folder of patient bundles.

Reads ``*.json`` and ``*.json.gz`` Bundles (transaction, collection, batch or searchset) as they are.
``urn:uuid:`` references are rewritten to relative ``Type/id`` references, as a FHIR server does when
it processes a transaction. Each resource is indexed by type and id and assigned to the patient
compartments it belongs to (FHIR R4 §CompartmentDefinition patient, simplified to the reference
fields the sandbox serves), so the API can enforce a token's patient context.

Resources are kept as JSON dicts (the wire format); the FHIR API validates bundles it builds.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Resource = dict[str, Any]

# Reference fields that put a resource into a patient's compartment.
PATIENT_REFERENCE_FIELDS = ("subject", "patient", "beneficiary", "individual")


class BundleLoadError(ValueError):
    """A file in the patients folder is not a FHIR Bundle the store can load."""


@dataclass
class PatientStore:
    """Thread-safe read-mostly store: ``by_type[type][id] -> resource``."""

    by_type: dict[str, dict[str, Resource]] = field(default_factory=lambda: defaultdict(dict))
    compartment: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # --- loading ----------------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: Path) -> PatientStore:
        store = cls()
        files = sorted(p for p in folder.iterdir() if p.name.endswith((".json", ".json.gz")))
        today = datetime.now(UTC).date()
        for path in files:
            store.add_bundle(shift_relative_dates(read_bundle(path), today), refs_resolved=True)
        log.info("sandbox store: %d bundles, %d resources", len(files), store.count())
        return store

    def add_bundle(self, bundle: Resource, *, refs_resolved: bool = False) -> None:
        """Add every resource of ``bundle``; ``refs_resolved`` when :func:`read_bundle` already
        rewrote its ``urn:`` references (skips a second walk over every resource)."""
        if bundle.get("resourceType") != "Bundle":
            raise BundleLoadError("not a Bundle")
        entries = bundle.get("entry") or []
        urn_map = {} if refs_resolved else _urn_map(entries)
        for entry in entries:
            res = entry.get("resource")
            if not res or not res.get("resourceType") or not res.get("id"):
                continue
            self.add(res if refs_resolved else _rewrite_refs(res, urn_map))

    def add(self, resource: Resource) -> None:
        rtype, rid = resource["resourceType"], resource["id"]
        with self._lock:
            self.by_type[rtype][rid] = resource
            for patient_id in patient_ids_of(resource):
                self.compartment[patient_id].add((rtype, rid))

    # --- reading ----------------------------------------------------------------------------------
    def get(self, rtype: str, rid: str) -> Resource | None:
        return self.by_type.get(rtype, {}).get(rid)

    def all_of(self, rtype: str) -> Iterator[Resource]:
        yield from list(self.by_type.get(rtype, {}).values())

    def for_patient(self, patient_id: str, rtype: str) -> list[Resource]:
        """Resources of ``rtype`` in the patient's compartment (the Patient itself for ``Patient``)."""
        if rtype == "Patient":
            p = self.get("Patient", patient_id)
            return [p] if p else []
        keys = self.compartment.get(patient_id, set())
        return [self.by_type[t][i] for (t, i) in keys if t == rtype]

    def in_compartment(self, patient_id: str, resource: Resource) -> bool:
        """Whether ``resource`` belongs to ``patient_id``'s compartment.

        Resources that reference no patient (Medication, Practitioner, Organization) are shared
        reference data, readable under any patient context.
        """
        if resource["resourceType"] == "Patient":
            return bool(resource["id"] == patient_id)
        owners = patient_ids_of(resource)
        return not owners or patient_id in owners

    def patients(self) -> list[Resource]:
        return sorted(self.all_of("Patient"), key=patient_sort_key)

    def count(self) -> int:
        return sum(len(v) for v in self.by_type.values())


RELATIVE_DATES_TAG = "relative-dates"
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T.*)?$")


def shift_relative_dates(bundle: Resource, today: date) -> Resource:
    """Move every date of a bundle tagged ``relative-dates`` so that ``Bundle.timestamp`` is ``today``.

    The demo patients are authored on a fixed day; clinical logic reads "recent" labs (an INR within
    days, an HbA1c within 90 days), so without this the demo would decay as the calendar moves on.
    Birth dates move too, so ages stay as authored. Untagged bundles (Synthea) are left exactly as
    they are.
    """
    tags = (bundle.get("meta") or {}).get("tag") or []
    stamp = _DATE.match(str(bundle.get("timestamp") or ""))
    if not stamp or not any(t.get("code") == RELATIVE_DATES_TAG for t in tags):
        return bundle
    delta = today - date.fromisoformat(stamp.group(1))
    if not delta.days:
        return bundle
    shifted: Resource = _shift(bundle, delta)
    return shifted


def _shift(node: Any, delta: timedelta) -> Any:
    if isinstance(node, dict):
        return {k: _shift(v, delta) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift(v, delta) for v in node]
    if isinstance(node, str) and (m := _DATE.match(node)):
        try:
            moved = date.fromisoformat(m.group(1)) + delta
        except ValueError:
            return node
        return moved.isoformat() + (m.group(2) or "")
    return node


def read_bundle(path: Path) -> Resource:
    """Parse a bundle file, rewriting its ``urn:`` references to ``Type/id`` in place.

    The parser collects the reference nodes as it builds them, so the rewrite touches only those
    (loading 150 Synthea bundles is dominated by this step when it walks every node).
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    urn_refs: list[dict[str, Any]] = []

    def collect(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:"):
            urn_refs.append(node)
        return node

    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            data: Resource = json.load(fh, object_hook=collect)
    except (OSError, json.JSONDecodeError) as err:
        raise BundleLoadError(f"{path.name}: {err}") from err
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise BundleLoadError(f"{path.name}: not a Bundle")
    urn_map = _urn_map(data.get("entry") or [])
    for node in urn_refs:
        node["reference"] = urn_map.get(node["reference"], node["reference"])
    return data


def _urn_map(entries: list[dict[str, Any]]) -> dict[str, str]:
    urn_map: dict[str, str] = {}
    for entry in entries:
        res = entry.get("resource") or {}
        full_url = entry.get("fullUrl") or ""
        if res.get("resourceType") and res.get("id") and full_url.startswith("urn:"):
            urn_map[full_url] = f"{res['resourceType']}/{res['id']}"
    return urn_map


def patient_ids_of(resource: Resource) -> set[str]:
    ids: set[str] = set()
    for key in PATIENT_REFERENCE_FIELDS:
        ref = resource.get(key)
        for r in ref if isinstance(ref, list) else [ref]:
            if isinstance(r, dict):
                value = r.get("reference") or ""
                if value.startswith("Patient/"):
                    ids.add(value.split("/", 1)[1])
    return ids


def patient_sort_key(p: Resource) -> tuple[str, str]:
    name = (p.get("name") or [{}])[0]
    return (name.get("family") or "", " ".join(name.get("given") or []))


def _rewrite_refs(node: Any, urn_map: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in urn_map:
                out[key] = urn_map[value]
            else:
                out[key] = _rewrite_refs(value, urn_map)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, urn_map) for v in node]
    return node


def iter_bundle_files(folder: Path) -> Iterable[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith((".json", ".json.gz")))
