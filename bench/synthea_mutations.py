"""Odd-but-legal (and a few illegal) FHIR shapes applied to a real patient's prefetch, for the sweep.

Each mutation takes the prefetch the EHR built (key → resource or searchset Bundle) and the draft
order, and returns changed deep copies: what real EHRs send that Synthea happens not to (codes
missing, ``medicationReference`` instead of a code, unusual units and value types, partial dates,
a deceased patient, a very long record, notes in odd encodings). A service must answer every one
with 200 and valid cards (or, for a body that breaks the CDS Hooks contract, a clear 4xx), never 5xx.
"""

from __future__ import annotations

import base64
import copy
import zlib
from collections.abc import Callable, Iterator
from typing import Any

Resource = dict[str, Any]
Mutation = Callable[[dict[str, Any], Resource | None], tuple[dict[str, Any], Resource | None]]


def _h(r: Resource) -> int:
    """A stable per-resource number (``hash`` of a str changes between runs)."""
    return zlib.crc32(str(r.get("id", "")).encode())


def resources(prefetch: dict[str, Any]) -> Iterator[Resource]:
    """Every resource in a prefetch (searchset entries flattened)."""
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            yield from (
                e["resource"] for e in value.get("entry") or [] if isinstance(e.get("resource"), dict)
            )
        elif isinstance(value, dict):
            yield value


def _each(kind: str, fn: Callable[[Resource], None]) -> Mutation:
    def mutate(prefetch: dict[str, Any], draft: Resource | None) -> tuple[dict[str, Any], Resource | None]:
        pf, dr = copy.deepcopy(prefetch), copy.deepcopy(draft)
        for r in [*resources(pf), *([dr] if dr else [])]:
            if r.get("resourceType") == kind or kind == "*":
                fn(r)
        return pf, dr

    return mutate


def _strip_codings(r: Resource) -> None:
    for key in ("code", "medicationCodeableConcept", "valueCodeableConcept", "clinicalStatus"):
        if isinstance(r.get(key), dict):
            r[key].pop("coding", None)
            r[key].setdefault("text", "unknown")


def _drop_code(r: Resource) -> None:
    for key in ("code", "medicationCodeableConcept"):
        r.pop(key, None)


def _contained_medication(r: Resource) -> None:
    concept = r.pop("medicationCodeableConcept", None)
    if concept is not None:
        r["contained"] = [{"resourceType": "Medication", "id": "m1", "code": concept}]
        r["medicationReference"] = {"reference": "#m1"}


def _external_medication(r: Resource) -> None:
    concept = r.pop("medicationCodeableConcept", None)
    if concept is not None:
        r["medicationReference"] = {"reference": "Medication/not-in-this-ehr", "display": concept.get("text")}


def _odd_quantity(r: Resource) -> None:
    vq = r.get("valueQuantity")
    if not isinstance(vq, dict):
        return
    n = _h(r) % 5
    if n == 0:
        vq.pop("unit", None)
        vq.pop("code", None)
    elif n == 1:
        vq["comparator"] = "<"
    elif n == 2:
        vq.pop("value", None)
    elif n == 3:
        vq.update(unit="10*9/L", code="10*9/L", value=1e12)
    else:
        vq.update(value=-0.0, unit="µmol/L")


def _components_only(r: Resource) -> None:
    vq = r.pop("valueQuantity", None)
    if vq is not None:
        r["component"] = [{"code": r.get("code", {"text": "x"}), "valueQuantity": vq}]


def _partial_dates(r: Resource) -> None:
    for key in ("effectiveDateTime", "authoredOn", "onsetDateTime", "recordedDate", "birthDate"):
        if isinstance(r.get(key), str) and len(r[key]) >= 4:
            r[key] = r[key][:4] if _h(r) % 2 else r[key][:7]
    if isinstance(r.get("effectiveDateTime"), str) and _h(r) % 3 == 0:
        r["effectivePeriod"] = {"start": r.pop("effectiveDateTime")}


def _no_demographics(r: Resource) -> None:
    for key in ("birthDate", "gender", "name"):
        r.pop(key, None)


def _deceased(r: Resource) -> None:
    r.pop("deceasedDateTime", None)  # deceased[x] is a choice: one of the two only
    r["deceasedBoolean"] = True


def _long_record(prefetch: dict[str, Any], draft: Resource | None) -> tuple[dict[str, Any], Resource | None]:
    pf = copy.deepcopy(prefetch)
    for value in pf.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            entries = value.get("entry") or []
            if entries and entries[0].get("resource", {}).get("resourceType") == "Observation":
                value["entry"] = [
                    {"resource": {**e["resource"], "id": f"{e['resource'].get('id')}-{k}"}}
                    for k in range(max(1, 8000 // max(len(entries), 1)))
                    for e in entries
                ]
    return pf, draft


def _odd_notes(prefetch: dict[str, Any], draft: Resource | None) -> tuple[dict[str, Any], Resource | None]:
    pf = copy.deepcopy(prefetch)
    patient = next((r for r in resources(pf) if r.get("resourceType") == "Patient"), None)
    ref = {"reference": f"Patient/{patient['id']}"} if patient else {"reference": "Patient/x"}

    def doc(i: int, content_type: str, data: str) -> Resource:
        return {
            "resourceType": "DocumentReference",
            "id": f"odd-note-{i}",
            "status": "current",
            "subject": ref,
            "content": [{"attachment": {"contentType": content_type, "data": data}}],
        }

    long_text = ("Patient denies chest pain. Reports cough and fever for 3 days. " * 4000).encode()
    docs = [
        doc(1, "text/plain; charset=utf-8", base64.b64encode("No fever. Héadache ✓.".encode()).decode()),
        doc(2, "text/plain", base64.b64encode(long_text).decode()),
        doc(3, "text/plain", base64.b64encode(b"\xff\xfe\x00bad bytes").decode()),
        doc(4, "text/html", base64.b64encode(b"<p>cough</p>").decode()),
        doc(5, "text/plain", ""),
    ]
    for key, value in pf.items():
        if key in {"notes", "documents"} and isinstance(value, dict):
            value["entry"] = [{"resource": d} for d in docs]
    return pf, draft


def _nulls(prefetch: dict[str, Any], draft: Resource | None) -> tuple[dict[str, Any], Resource | None]:
    """§Prefetch: a key the EHR has no data for may be ``null``; searches may come back empty."""
    out: dict[str, Any] = {}
    for key, value in prefetch.items():
        is_bundle = isinstance(value, dict) and value.get("resourceType") == "Bundle"
        out[key] = {"resourceType": "Bundle", "type": "searchset", "entry": []} if is_bundle else None
    return out, draft


MUTATIONS: dict[str, Mutation] = {
    "codes stripped (text only)": _each("*", _strip_codings),
    "code elements missing": _each("*", _drop_code),
    "medicationReference #contained": _each("MedicationRequest", _contained_medication),
    "medicationReference external": _each("MedicationRequest", _external_medication),
    "unusual units/values": _each("Observation", _odd_quantity),
    "component-only observations": _each("Observation", _components_only),
    "partial dates": _each("*", _partial_dates),
    "no birthDate/gender/name": _each("Patient", _no_demographics),
    "deceased (boolean)": _each("Patient", _deceased),
    "very long record (~8k obs)": _long_record,
    "odd notes": _odd_notes,
    "null/empty prefetch": _nulls,
}
