"""Parsing FHIR R4 JSON into ``fhir.resources.R4B`` models, tolerantly and without losing reports.

Always the R4B classes: the package's default (R5) classes silently drop R4-only fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError


class InvalidResource(ValueError):
    """A FHIR resource that does not validate against its R4 definition."""


def parse_strict(data: Mapping[str, Any]) -> Resource:
    """Parse one resource dict with its R4B class; raise :class:`InvalidResource` with a short reason."""
    rtype = data.get("resourceType")
    if not isinstance(rtype, str):
        raise InvalidResource("missing resourceType")
    try:
        cls = get_fhir_model_class(rtype)
    except (KeyError, ValueError) as err:
        raise InvalidResource(f"unknown resourceType {rtype!r}") from err
    try:
        model = cast(Resource, cls.model_validate(data))
    except ValidationError as err:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidResource(f"{rtype} invalid at {where or 'root'}: {first.get('msg')}") from err
    return model


def parse_resource(item: Any, warnings: list[str]) -> Any | None:
    """Parse a dict (or pass through an R4B model); on failure append a warning and return ``None``."""
    if item is None:
        return None
    if isinstance(item, Resource):
        return item
    if not isinstance(item, Mapping):
        warnings.append(f"skipped a non-resource value ({type(item).__name__})")
        return None
    try:
        return parse_strict(item)
    except InvalidResource as err:
        rid = item.get("id")
        warnings.append(f"{err}{f' (id {rid})' if rid else ''}")
        return None


def flatten_resources(items: Iterable[Any]) -> list[Any]:
    """Expand Bundles (dict or model) into their entry resources; keep other items as they are."""
    out: list[Any] = []
    for item in items:
        if item is None:
            continue
        rtype = (
            item.get("resourceType")
            if isinstance(item, Mapping)
            else getattr(item, "__resource_type__", None)
        )
        if rtype == "Bundle":
            entries = item.get("entry") if isinstance(item, Mapping) else item.entry
            for e in entries or []:
                res = e.get("resource") if isinstance(e, Mapping) else e.resource
                if res is not None:
                    out.append(res)
        else:
            out.append(item)
    return out


def medication_concept(request: Any, medications: Mapping[str, Any]) -> Any | None:
    """The medication CodeableConcept of a MedicationRequest: inline, contained ``#id``, or referenced.

    Epic serves ``medicationReference`` to a separate Medication resource; others inline the concept.
    """
    if request.medicationCodeableConcept is not None:
        return request.medicationCodeableConcept
    ref = request.medicationReference
    if ref is None or not ref.reference:
        return None
    target = ref.reference
    if target.startswith("#"):
        for c in request.contained or []:
            if getattr(c, "id", None) == target[1:]:
                return getattr(c, "code", None)
        return None
    med = medications.get(target.rsplit("/", 1)[-1])
    if med is not None:
        return med.code
    if ref.display:
        from fhir.resources.R4B.codeableconcept import CodeableConcept

        return CodeableConcept(text=ref.display)
    return None


def to_datetime(value: Any) -> datetime | None:
    """FHIR date/dateTime/instant (model value or string) → aware datetime (dates at 00:00 UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value)
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=UTC)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
