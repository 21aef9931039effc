"""Validate outgoing FHIR JSON with ``fhir.resources.R4B`` (never the R5 default, which drops R4 fields).

Used by the API when ``fhir_validate_responses`` is on (tests) and by tests directly. A failure is a
bug in the sandbox or in a loaded bundle, so it surfaces as 500 (OperationOutcome) with the reason logged.
"""

from __future__ import annotations

import importlib
from typing import Any

from fhir.resources.R4B.resource import Resource as R4BResource


class FhirValidationError(ValueError):
    """An outgoing resource is not valid FHIR R4."""


def model_class(resource_type: str) -> type[R4BResource]:
    try:
        module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
        cls: type[R4BResource] = getattr(module, resource_type)
    except (ImportError, AttributeError) as err:
        raise FhirValidationError(f"unknown FHIR R4 resource type {resource_type!r}") from err
    return cls


def validate_resource(body: dict[str, Any]) -> R4BResource:
    """Parse ``body`` (a resource or Bundle) as R4B; raise :class:`FhirValidationError` when invalid."""
    try:
        return model_class(str(body.get("resourceType"))).model_validate(body)
    except FhirValidationError:
        raise
    except ValueError as err:  # pydantic.ValidationError is a ValueError
        raise FhirValidationError(f"invalid {body.get('resourceType')}: {err}") from err
