"""The CapabilityStatement (FHIR R4 §capabilitystatement) generated from the search-parameter table.

It advertises SMART on FHIR (``rest.security.service`` SMART-on-FHIR and the ``oauth-uris`` extension,
SMART App Launch 2.2 §Conformance) so clients can discover the authorization endpoints from metadata.
"""

from __future__ import annotations

from typing import Any

from sandbox.fhir_params import INCLUDES, PARAMS
from sandbox.settings import SandboxSettings

_PARAM_TYPES = {"token": "token", "reference": "reference", "date": "date", "string": "string"}


def capability_statement(settings: SandboxSettings) -> dict[str, Any]:
    base = settings.base_url.rstrip("/")
    resources = []
    for rtype, params in PARAMS.items():
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "_id", "type": "token"}]
            + [
                {"name": name, "type": _PARAM_TYPES[p.kind], "documentation": p.documentation or name}
                for name, p in params.items()
            ],
        }
        includes = [inc for inc in INCLUDES if inc.startswith(f"{rtype}:")]
        if includes:
            entry["searchInclude"] = includes
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-30",
        "kind": "instance",
        "software": {"name": "evidence-cds sandbox EHR", "version": "0.1.0"},
        "implementation": {"description": "Development EHR (read-only)", "url": settings.fhir_base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": True,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ],
                            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [
                                {"url": "authorize", "valueUri": f"{base}/auth/authorize"},
                                {"url": "token", "valueUri": f"{base}/auth/token"},
                                {"url": "introspect", "valueUri": f"{base}/auth/introspect"},
                            ],
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }
