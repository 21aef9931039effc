"""Prefetch built by the EHR from its own data: template rendering and a small query evaluator.

CDS Hooks 2.0 §Prefetch Template: a service's discovery entry declares ``prefetch`` as FHIR read or
search URLs with tokens (``{{context.patientId}}``, ``{{context.userId}}``, ``{{context.encounterId}}``,
``{{userPractitionerId}}`` …). The client renders them against the hook context and resolves them
itself. Per the spec:

* a read (``Patient/{id}``) that finds nothing gives ``null`` for that key;
* a search gives a ``searchset`` Bundle (possibly empty);
* a template the client cannot render or evaluate is left out, so the service falls back to the
  FHIR server with ``fhirAuthorization``.

Only the patient in context is ever searched: a query naming another patient (or none, for a type
in the patient compartment) is left out rather than answered, so a prefetch never leaks data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.store import PatientStore, Resource

TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
# Types that are shared reference data rather than part of one patient's record.
SHARED_TYPES = frozenset({"Medication", "Practitioner", "PractitionerRole", "Organization", "Location"})
DATE_PREFIXES = ("ge", "le", "gt", "lt", "eq")


class UnsupportedQuery(ValueError):
    """The template names something this small evaluator does not answer (the key is left out)."""


@dataclass(frozen=True)
class PrefetchContext:
    """What the hook's context lets a template name."""

    patient_id: str
    user_id: str  # e.g. "Practitioner/demo-practitioner"
    encounter_id: str | None

    def tokens(self) -> dict[str, str]:
        values = {"context.patientId": self.patient_id, "context.userId": self.user_id}
        if self.encounter_id:
            values["context.encounterId"] = self.encounter_id
        kind, _, ident = self.user_id.partition("/")
        if ident:
            values[f"user{kind}Id"] = ident  # userPractitionerId, userPatientId, …
        return values


def render_template(template: str, ctx: PrefetchContext) -> str:
    """Substitute every token; an unknown token makes the whole template unrenderable."""
    values = ctx.tokens()

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise UnsupportedQuery(f"token {name!r} has no value in this context")
        return values[name]

    return TOKEN.sub(sub, template)


def build_prefetch(
    templates: Mapping[str, str], ctx: PrefetchContext, store: PatientStore, fhir_base: str
) -> dict[str, Resource | None]:
    """Resolve every template the EHR can answer; unanswerable keys are omitted (not errors)."""
    out: dict[str, Resource | None] = {}
    for key, template in templates.items():
        try:
            out[key] = evaluate(render_template(template, ctx), ctx, store, fhir_base)
        except UnsupportedQuery:
            continue
    return out


def evaluate(query: str, ctx: PrefetchContext, store: PatientStore, fhir_base: str) -> Resource | None:
    """Answer one rendered relative FHIR URL (``Type/id`` or ``Type?params``) from the store."""
    parts = urlsplit(query.strip().lstrip("/"))
    path = parts.path
    if "/" in path:
        rtype, _, rid = path.partition("/")
        if parts.query or "/" in rid or not rid:
            raise UnsupportedQuery(f"unsupported read {query!r}")
        return _read(store, ctx, rtype, rid)
    return _search(store, ctx, path, parse_qsl(parts.query, keep_blank_values=True), fhir_base)


def _read(store: PatientStore, ctx: PrefetchContext, rtype: str, rid: str) -> Resource | None:
    res = store.get(rtype, rid)
    if res is None:
        return None
    if rtype in SHARED_TYPES or store.in_compartment(ctx.patient_id, res):
        return res
    raise UnsupportedQuery("read outside the patient in context")


def _search(
    store: PatientStore,
    ctx: PrefetchContext,
    rtype: str,
    params: list[tuple[str, str]],
    fhir_base: str,
) -> Resource:
    if not rtype.isalpha():
        raise UnsupportedQuery(f"bad resource type {rtype!r}")
    filters: list[Callable[[Resource], bool]] = []
    patient: str | None = None
    count: int | None = None
    sort: str | None = None
    includes: list[str] = []
    for name, value in params:
        if name in ("patient", "subject"):
            patient = value.removeprefix("Patient/")
        elif name == "_count":
            count = _positive_int(value)
        elif name == "_sort":
            sort = value
        elif name == "_include":
            includes.append(value)
        elif name in FILTERS:
            filters.append(FILTERS[name](value))
        else:
            raise UnsupportedQuery(f"unsupported search parameter {name!r}")
    if rtype in SHARED_TYPES:
        raise UnsupportedQuery("searches over shared reference data are not prefetched")
    if patient != ctx.patient_id:
        raise UnsupportedQuery("a prefetch search must name the patient in context")
    matches = [r for r in store.for_patient(patient, rtype) if all(f(r) for f in filters)]
    matches.sort(key=lambda r: str(r.get("id")))
    if sort:
        matches = _sorted(matches, sort)
    if count is not None:
        matches = matches[:count]
    included = _included(store, matches, includes)
    return searchset(matches, included, fhir_base)


def searchset(matches: list[Resource], included: list[Resource], fhir_base: str) -> Resource:
    def entry(res: Resource, mode: str) -> dict[str, Any]:
        return {
            "fullUrl": f"{fhir_base}/{res['resourceType']}/{res['id']}",
            "resource": res,
            "search": {"mode": mode},
        }

    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "entry": [entry(r, "match") for r in matches] + [entry(r, "include") for r in included],
    }


# --- search parameters ------------------------------------------------------------------------------
def _codings(node: Any) -> list[dict[str, Any]]:
    """All Codings under a CodeableConcept or a list of them."""
    concepts = node if isinstance(node, list) else [node]
    return [c for cc in concepts if isinstance(cc, dict) for c in cc.get("coding") or []]


def _token_filter(field_of: Callable[[Resource], Any]) -> Callable[[str], Callable[[Resource], bool]]:
    """FHIR token search: ``code`` or ``system|code``, comma-separated values are ORed."""

    def make(value: str) -> Callable[[Resource], bool]:
        wanted = [v.split("|", 1) if "|" in v else [None, v] for v in value.split(",")]

        def match(res: Resource) -> bool:
            for coding in _codings(field_of(res)):
                for system, code in wanted:
                    if coding.get("code") == code and (system is None or coding.get("system") == system):
                        return True
            return False

        return match

    return make


def _plain_filter(field: str) -> Callable[[str], Callable[[Resource], bool]]:
    def make(value: str) -> Callable[[Resource], bool]:
        allowed = set(value.split(","))
        return lambda res: res.get(field) in allowed

    return make


def _date_of(res: Resource) -> str:
    for key in ("effectiveDateTime", "issued", "authoredOn", "recordedDate", "onsetDateTime", "date"):
        if isinstance(res.get(key), str):
            return str(res[key])
    period = res.get("effectivePeriod") or res.get("period") or {}
    return str(period.get("start") or "")


def _date_filter(value: str) -> Callable[[Resource], bool]:
    prefix, bound = (value[:2], value[2:]) if value[:2] in DATE_PREFIXES else ("eq", value)
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", bound[:10]):
        raise UnsupportedQuery(f"unsupported date {value!r}")

    def match(res: Resource) -> bool:
        # ISO 8601 strings of one precision compare correctly as text.
        when = _date_of(res)[: len(bound)]
        if not when:
            return False
        return {
            "ge": when >= bound,
            "le": when <= bound,
            "gt": when > bound,
            "lt": when < bound,
            "eq": when == bound,
        }[prefix]

    return match


def _medication_code(res: Resource) -> Any:
    return res.get("medicationCodeableConcept") or res.get("code")


FILTERS: dict[str, Callable[[str], Callable[[Resource], bool]]] = {
    "_id": _plain_filter("id"),
    "status": _plain_filter("status"),
    "intent": _plain_filter("intent"),
    "category": _token_filter(lambda r: r.get("category")),
    "code": _token_filter(_medication_code),
    "clinical-status": _token_filter(lambda r: r.get("clinicalStatus")),
    "verification-status": _token_filter(lambda r: r.get("verificationStatus")),
    "date": _date_filter,
}


def _positive_int(value: str) -> int:
    if not value.isdigit():
        raise UnsupportedQuery(f"bad _count {value!r}")
    return int(value)


def _sorted(matches: list[Resource], sort: str) -> list[Resource]:
    key = sort.lstrip("-")
    if key not in ("date", "_lastUpdated", "authoredon"):
        raise UnsupportedQuery(f"unsupported _sort {sort!r}")
    return sorted(matches, key=_date_of, reverse=sort.startswith("-"))


def _included(store: PatientStore, matches: list[Resource], includes: list[str]) -> list[Resource]:
    out: dict[tuple[str, str], Resource] = {}
    for inc in includes:
        if inc != "MedicationRequest:medication":
            raise UnsupportedQuery(f"unsupported _include {inc!r}")
        for res in matches:
            ref = (res.get("medicationReference") or {}).get("reference") or ""
            rtype, _, rid = ref.partition("/")
            target = store.get(rtype, rid) if rtype == "Medication" else None
            if target is not None:
                out[(rtype, rid)] = target
    return list(out.values())
