"""The decision services, one module each; :data:`SERVICE_MODULES` lists the ones the product ships.

A new service: write ``cds_services/services/<name>.py`` (definition + handler, see
:mod:`cds_services.registry`) and append its module path here. The ``cds_service_modules`` setting
replaces this list (tests, deployments that offer a subset); ``cds_disabled_services`` switches
individual service ids off. Importing a module registers its services in the process-wide catalog;
:func:`load_services` then picks the services that came from the configured modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from cds_services.registry import CATALOG, ServiceRegistry

SERVICE_MODULES: list[str] = [
    "cds_services.services.record_summary",
    "cds_services.services.drug_interactions",
    "cds_services.services.differentials",
    "cds_services.services.trial_matching",
]


def load_services(modules: Iterable[str], disabled: Iterable[str] = ()) -> ServiceRegistry:
    """Import ``modules`` (registering their services) and return a registry of their services."""
    wanted = list(dict.fromkeys(modules))
    for name in wanted:
        importlib.import_module(name)
    off = set(disabled)
    return ServiceRegistry(s for s in CATALOG.all() if s.module in wanted and s.id not in off)
