"""Service definitions and the registry that discovery and the endpoint are generated from.

Contract for a service module (``cds_services/services/<name>.py``)::

    from cds_services.registry import CdsService, ServiceInput, register
    from cds_services.models import Card

    def handle(inp: ServiceInput) -> list[Card]:
        record = inp.record                    # clinical.record.PatientRecord (built lazily)
        ...
        inp.use_release(release_id)            # when knowledge was used: lands in the audit row
        return [Card(...)]

    register(CdsService(id="my-service", hook="order-select", title="…", description="…",
                        prefetch={"patient": "Patient/{{context.patientId}}"}, handler=handle))

and the module is listed in :data:`cds_services.services.SERVICE_MODULES` (or in the
``cds_service_modules`` setting). Handlers are pure functions of :class:`ServiceInput`: no Flask
globals, no HTTP; they raise nothing for "no advice" (return ``[]``). Discovery (CDS Hooks 2.0
§Discovery, https://cds-hooks.hl7.org/2.0/#discovery) is built from :meth:`CdsService.discovery_entry`.

Optional parts of a definition: ``slow_steps`` (extra card producers that are dropped, with a note in
the audit, when they miss ``time_budget_ms``), ``dedup_group`` (services sharing a group — typically an
order-select and an order-sign service — do not repeat a card at order-sign that order-select already
showed for the same order and patient data), ``warm_up`` (called once per worker before the first
request: load models, open indexes).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cds_services.hook_contexts import HOOK_PREFETCH_TOKENS, HookContext
from cds_services.models import Card, HookRequest

if TYPE_CHECKING:
    from fhir.resources.R4B.resource import Resource

    from clinical.record import IngredientResolver, PatientRecord
    from evidence_cds.settings import Settings

Handler = Callable[["ServiceInput"], list[Card]]
_SERVICE_ID = re.compile(r"^[a-z0-9][a-z0-9\-_.]{0,63}$")
_TOKEN = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


class RegistryError(ValueError):
    """A service definition that breaks the contract (bad id, unknown prefetch token, duplicate id)."""


@dataclass(frozen=True)
class SlowStep:
    """An optional card producer run concurrently with the handler, dropped if it misses the budget."""

    name: str
    run: Handler


@dataclass(frozen=True)
class CdsService:
    """One CDS service: what discovery advertises plus the handler that produces its cards."""

    id: str
    hook: str
    title: str
    description: str
    handler: Handler
    prefetch: Mapping[str, str] = field(default_factory=dict)
    # Prefetch keys the service can do without: unobtainable → ``None`` instead of 412.
    optional_prefetch: frozenset[str] = frozenset()
    usage_requirements: str | None = None
    time_budget_ms: int = 300
    slow_steps: tuple[SlowStep, ...] = ()
    dedup_group: str | None = None
    warm_up: Callable[[Settings], None] | None = None
    registered_by: str = ""  # module that called :func:`register` (set by it)

    def __post_init__(self) -> None:
        if not _SERVICE_ID.match(self.id):
            raise RegistryError(f"service id {self.id!r} must match {_SERVICE_ID.pattern}")
        allowed = HOOK_PREFETCH_TOKENS.get(self.hook)
        for key, template in self.prefetch.items():
            for token in _TOKEN.findall(template):
                if allowed is None or token not in allowed:
                    raise RegistryError(f"{self.id}: prefetch {key!r} uses unsupported token {{{{{token}}}}}")
        unknown = set(self.optional_prefetch) - set(self.prefetch)
        if unknown:
            raise RegistryError(f"{self.id}: optional_prefetch names unknown keys {sorted(unknown)}")
        if self.time_budget_ms <= 0:
            raise RegistryError(f"{self.id}: time_budget_ms must be positive")

    @property
    def module(self) -> str:
        """The service module it belongs to: the registering module, else the handler's module."""
        return self.registered_by or str(getattr(self.handler, "__module__", ""))

    def discovery_entry(self) -> dict[str, Any]:
        """§Discovery response entry: hook, title, description, id, prefetch, usageRequirements."""
        entry: dict[str, Any] = {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
        }
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry


class ServiceInput:
    """What a handler receives: the parsed request, resolved prefetch (R4B), draft orders, the record.

    ``prefetch`` maps every key the service declared to an R4B resource (a Bundle for searches) or
    ``None`` (optional key unobtainable, or "no data" per §Prefetch). ``invalid_resources`` lists
    resources that failed R4 validation (reported, skipped). ``record`` builds the
    ``clinical.record.PatientRecord`` on first use. Prefetch models may be shared with other calls
    (the worker's parsed-resource cache): treat them as read-only.
    """

    def __init__(
        self,
        *,
        service: CdsService,
        request: HookRequest,
        prefetch: Mapping[str, Resource | None],
        draft_orders: list[Resource],
        settings: Settings,
        invalid_resources: Iterable[str] = (),
        deadline: float | None = None,
    ) -> None:
        self.service = service
        self.request = request
        self.context: HookContext = request.typed_context()
        self.prefetch: dict[str, Resource | None] = dict(prefetch)
        self.draft_orders = draft_orders
        self.settings = settings
        self.invalid_resources: list[str] = list(invalid_resources)
        self.deadline = deadline if deadline is not None else time.monotonic() + service.time_budget_ms / 1000
        self.knowledge_release: str | None = None
        self.notes: list[str] = []

    @property
    def patient_id(self) -> str | None:
        return self.context.patientId

    @cached_property
    def record(self) -> PatientRecord:
        """The patient record built from prefetch and draft orders (no ingredient resolver)."""
        return self.build_record()

    def build_record(self, resolver: IngredientResolver | None = None) -> PatientRecord:
        """Build a ``PatientRecord``, with RxNorm ingredients when a resolver is given."""
        from clinical.record import build_patient_record

        record = build_patient_record(
            {k: v for k, v in self.prefetch.items() if v is not None},
            draft_orders=self.draft_orders,
            resolver=resolver,
        )
        if not record.patient_id and self.patient_id:
            record.patient_id = self.patient_id
        return record

    def time_left_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def use_release(self, release_id: str) -> None:
        """Record the knowledge release the cards rest on (written to the audit row)."""
        self.knowledge_release = release_id

    def note(self, text: str) -> None:
        """A short, PHI-free note for the audit row (e.g. "no INR in prefetch")."""
        self.notes.append(text[:200])


class ServiceRegistry:
    """The services one app offers, in registration order."""

    def __init__(self, services: Iterable[CdsService] = ()) -> None:
        self._services: dict[str, CdsService] = {}
        for s in services:
            self.add(s)

    def add(self, service: CdsService) -> None:
        existing = self._services.get(service.id)
        if existing is not None and existing.module != service.module:
            raise RegistryError(
                f"service id {service.id!r} registered by {existing.module} and {service.module}"
            )
        self._services[service.id] = service

    def get(self, service_id: str) -> CdsService | None:
        return self._services.get(service_id)

    def all(self) -> list[CdsService]:
        return list(self._services.values())

    def __len__(self) -> int:
        return len(self._services)

    def discovery(self) -> dict[str, Any]:
        """§Discovery body: ``{"services": [...]}``."""
        return {"services": [s.discovery_entry() for s in self._services.values()]}


# Process-wide catalog filled by service modules at import; each app selects from it by module.
CATALOG = ServiceRegistry()


def register(service: CdsService, module: str | None = None) -> CdsService:
    """Add a service definition to the catalog (called at the bottom of a service module).

    The calling module is recorded, so a service whose handler lives in a helper module is still
    selected when its registering module is listed in ``SERVICE_MODULES``.
    """
    if module is None:
        caller = sys._getframe(1)
        module = str(caller.f_globals.get("__name__", ""))
    service = replace(service, registered_by=module)
    CATALOG.add(service)
    return service
