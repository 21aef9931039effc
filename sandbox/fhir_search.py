"""FHIR R4 search (§search): parse a query into filters, match resources, page the result set.

Supported: the per-type parameters in :mod:`sandbox.fhir_params`; ``_id``; token values ``code``,
``system|code``, ``system|``, ``|code`` with ``:not``; string ``:exact`` / ``:contains``; date prefixes
``eq ne gt lt ge le sa eb``; comma = OR, repeated parameter = AND; ``_count``, ``_offset`` (the paging
cursor of ``next`` links: the result set of a read-only store is stable, so paging needs no state),
``_sort`` on ``_id`` or a date parameter, ``_summary=count``, ``_include=MedicationRequest:medication``.
Anything else is refused with 400 (strict handling, §search.html#errors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.fhir_outcome import FhirError
from sandbox.fhir_params import INCLUDES, PARAMS, ParamDef, Resource

Lookup = Callable[[str, str], Resource | None]
Matcher = Callable[[Resource, Lookup], bool]
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}


@dataclass
class SearchRequest:
    resource_type: str
    matchers: list[Matcher] = field(default_factory=list)
    patient_ids: set[str] | None = None  # named by patient / subject (None: not named)
    count: int = 50
    offset: int = 0
    includes: list[str] = field(default_factory=list)
    sort: tuple[str, bool] | None = None  # (param, descending)
    summary_count: bool = False
    link_params: list[tuple[str, str]] = field(default_factory=list)  # to rebuild self / next links


def parse_search(
    rtype: str, params: list[tuple[str, str]], default_count: int, max_count: int
) -> SearchRequest:
    """Turn query parameters into a :class:`SearchRequest`; :class:`FhirError` 400 when unsupported."""
    defs = PARAMS[rtype]
    req = SearchRequest(rtype, count=default_count)
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if name == "_count":
            req.count = min(_non_negative_int(raw_name, value), max_count)
            continue
        if name == "_offset":
            req.offset = _non_negative_int(raw_name, value)
            continue
        req.link_params.append((raw_name, value))
        if name == "_include":
            if value not in INCLUDES or value.split(":")[0] != rtype:
                raise FhirError(400, f"Unsupported _include {value!r}; supported: {', '.join(INCLUDES)}")
            req.includes.append(value)
        elif name == "_sort":
            req.sort = _parse_sort(defs, value)
        elif name == "_summary":
            if value not in ("count", "false"):
                raise FhirError(400, f"Unsupported _summary={value!r} (count | false)")
            req.summary_count = value == "count"
        elif name == "_format":
            if value not in _JSON_FORMATS:
                raise FhirError(406, f"This server speaks JSON only (_format={value!r})", "not-supported")
        elif name == "_id":
            req.matchers.append(_id_matcher(set(value.split(","))))
        elif name in defs:
            pdef = defs[name]
            req.matchers.append(_matcher(raw_name, pdef, modifier, value))
            if pdef.kind == "reference" and name in ("patient", "subject"):
                named = {_ref_id(v, "Patient") for v in value.split(",")}
                req.patient_ids = named if req.patient_ids is None else req.patient_ids & named
        else:
            supported = ", ".join(sorted([*defs, "_id", "_count", "_sort", "_summary", "_include"]))
            raise FhirError(
                400,
                f"Unknown or unsupported search parameter {raw_name!r} for {rtype}; supported: {supported}",
            )
    return req


def matches(req: SearchRequest, resource: Resource, lookup: Lookup) -> bool:
    return all(m(resource, lookup) for m in req.matchers)


def sort_results(req: SearchRequest, results: list[Resource], lookup: Lookup) -> list[Resource]:
    if req.sort is None or req.sort[0] == "_id":
        ordered = sorted(results, key=lambda r: str(r.get("id")))
        return ordered[::-1] if req.sort and req.sort[1] else ordered
    pdef = PARAMS[req.resource_type][req.sort[0]]

    def key(r: Resource) -> tuple[datetime, str]:
        spans = [s for v in pdef.extract(r, lookup) if (s := _span(v)) is not None]
        start = min((s[0] for s in spans), default=datetime.min.replace(tzinfo=UTC))
        return (start, str(r.get("id")))

    return sorted(results, key=key, reverse=req.sort[1])


def _id_matcher(ids: set[str]) -> Matcher:
    def match(r: Resource, lookup: Lookup) -> bool:
        return r.get("id") in ids

    return match


# --- parameter kinds ---------------------------------------------------------------------------------
def _matcher(raw_name: str, pdef: ParamDef, modifier: str, value: str) -> Matcher:
    alternatives = value.split(",")
    if pdef.kind == "token":
        if modifier not in ("", "not"):
            raise FhirError(400, f"Unsupported modifier on token parameter {raw_name!r}")
        tests = [_token_test(v) for v in alternatives]
        negate = modifier == "not"

        def token_match(r: Resource, lookup: Lookup) -> bool:
            pairs = [p for node in pdef.extract(r, lookup) for p in _codes(node)]
            hit = any(t(pairs) for t in tests)
            return not hit if negate else hit

        return token_match
    if pdef.kind == "reference":
        if modifier and modifier != (pdef.target or "Patient"):
            raise FhirError(400, f"Unsupported modifier on reference parameter {raw_name!r}")
        target = pdef.target or "Patient"
        wanted = {f"{target}/{_ref_id(v, target)}" for v in alternatives}

        def ref_match(r: Resource, lookup: Lookup) -> bool:
            return any(isinstance(n, dict) and n.get("reference") in wanted for n in pdef.extract(r, lookup))

        return ref_match
    if pdef.kind == "date":
        if modifier:
            raise FhirError(400, f"Modifiers are not supported on date parameter {raw_name!r}")
        tests_d = [_date_test(raw_name, v) for v in alternatives]

        def date_match(r: Resource, lookup: Lookup) -> bool:
            spans = [s for node in pdef.extract(r, lookup) if (s := _span(node)) is not None]
            return any(t(s) for t in tests_d for s in spans)

        return date_match
    if modifier not in ("", "exact", "contains"):
        raise FhirError(400, f"Unsupported modifier on string parameter {raw_name!r}")

    def string_match(r: Resource, lookup: Lookup) -> bool:
        values = [str(v) for v in pdef.extract(r, lookup)]
        for alt in alternatives:
            for v in values:
                if modifier == "exact" and v == alt:
                    return True
                if modifier == "contains" and alt.casefold() in v.casefold():
                    return True
                if not modifier and v.casefold().startswith(alt.casefold()):
                    return True
        return False

    return string_match


def _codes(node: Any) -> list[tuple[str | None, str | None]]:
    """(system, code) pairs of a CodeableConcept, Coding, Identifier or plain code string."""
    if isinstance(node, str):
        return [(None, node)]
    if not isinstance(node, dict):
        return []
    if "coding" in node:
        return [(c.get("system"), c.get("code")) for c in node.get("coding") or []]
    if "code" in node or ("system" in node and "value" not in node):
        return [(node.get("system"), node.get("code"))]
    if "value" in node:  # Identifier
        return [(node.get("system"), node.get("value"))]
    return []


def _token_test(value: str) -> Callable[[list[tuple[str | None, str | None]]], bool]:
    if "|" not in value:
        return lambda pairs: any(code == value for _s, code in pairs)
    system, code = value.split("|", 1)
    if not system:  # |code: a code with no system
        return lambda pairs: any(s is None and c == code for s, c in pairs)
    if not code:  # system|: any code from that system
        return lambda pairs: any(s == system for s, _c in pairs)
    return lambda pairs: any(s == system and c == code for s, c in pairs)


def _ref_id(value: str, target: str) -> str:
    """``Patient/x``, ``x`` or ``http://…/fhir/Patient/x`` → ``x``."""
    marker = f"{target}/"
    if marker in value:
        return value.rsplit(marker, 1)[1].split("/")[0]
    if "/" in value:
        raise FhirError(400, f"Reference {value!r} does not point at a {target}")
    return value


def _parse_time(value: str) -> tuple[datetime, datetime]:
    """A FHIR date/dateTime/instant → the [start, end) interval its precision covers, in UTC."""
    try:
        if len(value) == 4:
            start = datetime(int(value), 1, 1, tzinfo=UTC)
            return start, start.replace(year=start.year + 1)
        if len(value) == 7:
            start = datetime(int(value[:4]), int(value[5:7]), 1, tzinfo=UTC)
            nxt = (
                start.replace(year=start.year + 1, month=1)
                if start.month == 12
                else start.replace(month=start.month + 1)
            )
            return start, nxt
        if len(value) == 10:
            start = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        return moment, moment + timedelta(seconds=1)
    except ValueError as err:
        raise ValueError(f"not a FHIR date: {value!r}") from err


def _span(node: Any) -> tuple[datetime, datetime] | None:
    try:
        if isinstance(node, str):
            return _parse_time(node)
        if isinstance(node, dict) and ("start" in node or "end" in node):  # Period
            start = _parse_time(node["start"])[0] if node.get("start") else datetime.min.replace(tzinfo=UTC)
            end = _parse_time(node["end"])[1] if node.get("end") else _FOREVER
            return start, end
    except ValueError:
        return None  # malformed data in a loaded bundle never matches, and never fails the search
    return None


def _date_test(raw_name: str, value: str) -> Callable[[tuple[datetime, datetime]], bool]:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    literal = value[2:] if value[:2] in _PREFIXES else value
    try:
        lo, hi = _parse_time(literal)
    except ValueError as err:
        raise FhirError(400, f"Invalid date in {raw_name}={value!r}") from err
    tests: dict[str, Callable[[tuple[datetime, datetime]], bool]] = {
        "eq": lambda s: s[0] >= lo and s[1] <= hi,
        "ne": lambda s: not (s[0] >= lo and s[1] <= hi),
        "gt": lambda s: s[1] > hi,
        "lt": lambda s: s[0] < lo,
        "ge": lambda s: s[1] > lo,
        "le": lambda s: s[0] < hi,
        "sa": lambda s: s[0] >= hi,
        "eb": lambda s: s[1] <= lo,
    }
    return tests[prefix]


def _parse_sort(defs: dict[str, ParamDef], value: str) -> tuple[str, bool]:
    desc = value.startswith("-")
    name = value.lstrip("-")
    if name == "_id" or (name in defs and defs[name].kind == "date"):
        return name, desc
    raise FhirError(400, f"Unsupported _sort={value!r}: sort by _id or a date parameter")


def _non_negative_int(name: str, value: str) -> int:
    if not value.isdigit():
        raise FhirError(400, f"{name} must be a non-negative integer, got {value!r}")
    return int(value)
