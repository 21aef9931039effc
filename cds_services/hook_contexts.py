"""Per-hook ``context`` models (https://cds-hooks.hl7.org/hooks/): patient-view, order-select, order-sign.

``draftOrders`` stays a JSON object here (only its Bundle shape is checked); the resources inside are
parsed with ``fhir.resources.R4B`` by :mod:`cds_services.prefetch`, so one malformed order is reported
rather than failing the whole request. Unknown context members are kept (hooks evolve by addition).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class HookContext(BaseModel):
    """Fields common to the patient-facing hooks; also the fallback model for other hooks."""

    model_config = ConfigDict(extra="allow")

    userId: str | None = None
    patientId: str | None = None
    encounterId: str | None = None

    @field_validator("userId")
    @classmethod
    def _user_reference(cls, value: str | None) -> str | None:
        # Hook definitions: "Must be in the format [ResourceType]/[id]".
        if value is not None and not _REFERENCE.match(value):
            raise ValueError("userId must be a FHIR reference such as Practitioner/123")
        return value

    @field_validator("patientId", "encounterId")
    @classmethod
    def _fhir_id(cls, value: str | None) -> str | None:
        if value is not None and not _FHIR_ID.match(value):
            raise ValueError("must be a FHIR id ([A-Za-z0-9-.]{1,64})")
        return value


def _check_bundle(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("resourceType") != "Bundle":
        raise ValueError("draftOrders must be a FHIR Bundle")
    entries = value.get("entry", [])
    if not isinstance(entries, list):
        raise ValueError("draftOrders.entry must be a list")
    return value


class PatientViewContext(HookContext):
    """patient-view 1.0: ``userId`` and ``patientId`` REQUIRED, ``encounterId`` OPTIONAL."""

    userId: str
    patientId: str


class OrderSelectContext(HookContext):
    """order-select 1.0: ``selections`` (ids of newly selected orders, e.g. ``MedicationRequest/1``)
    and ``draftOrders`` (Bundle of all draft orders) REQUIRED."""

    userId: str
    patientId: str
    selections: list[str] = Field(min_length=1)
    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_bundle(value)

    @field_validator("selections")
    @classmethod
    def _selection_references(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _REFERENCE.match(item):
                raise ValueError("selections must be FHIR references such as MedicationRequest/1")
        return value


class OrderSignContext(HookContext):
    """order-sign 1.1: ``draftOrders`` (Bundle of the orders being signed) REQUIRED."""

    userId: str
    patientId: str
    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_bundle(value)


# The hooks whose context this server validates; other hooks get the permissive HookContext.
CONTEXT_MODELS: dict[str, type[HookContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}

# §Prefetch Template: tokens usable for each hook (context fields plus the user-derived tokens).
USER_TOKENS = ("userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId")
HOOK_PREFETCH_TOKENS: dict[str, frozenset[str]] = {
    hook: frozenset({"context.userId", "context.patientId", "context.encounterId", *USER_TOKENS})
    for hook in CONTEXT_MODELS
}
