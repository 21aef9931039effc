"""Per-app state of the CDS Hooks core, built once in ``init_app`` from the settings.

Holds the service registry, the JWT verifier (trusted clients, JWKS cache, replay cache), the
executor for prefetch fetches and slow steps, the cross-hook card memory and the parsed-resource
cache. Route code reaches it
through :func:`cds_state`; nothing here touches Flask request globals.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask, current_app

from cds_services.card_memory import CardMemory
from cds_services.fhir_server_policy import FhirServerPolicy, manifest_issuers
from cds_services.jwks_cache import JwksCache
from cds_services.jwt_trust import JwtVerifier, trusted_clients
from cds_services.registry import CdsService, ServiceRegistry
from cds_services.resource_cache import ParsedResourceCache
from cds_services.services import SERVICE_MODULES, load_services
from cds_services.shared_cache import make_cache
from evidence_cds.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class CdsState:
    settings: Settings
    registry: ServiceRegistry
    verifier: JwtVerifier | None  # None only when cds_verify_jwt is off (development)
    executor: ThreadPoolExecutor
    card_memory: CardMemory
    resource_cache: ParsedResourceCache | None
    fhir_servers: FhirServerPolicy

    def service_url(self, service: CdsService) -> str:
        """The exact public URL of a service: the ``aud`` its callers must use."""
        return f"{self.settings.public_base_url.rstrip('/')}/cds-services/{service.id}"


def build_state(settings: Settings) -> CdsState:
    registry = load_services(
        settings.cds_service_modules if settings.cds_service_modules is not None else SERVICE_MODULES,
        settings.cds_disabled_services,
    )
    verifier: JwtVerifier | None = None
    if settings.cds_verify_jwt:
        clients = trusted_clients(
            settings.cds_trusted_clients,
            settings.ehr_origins,
            settings.cds_client_jwks_path,
            settings.cds_jwt_algorithms,
        )
        verifier = JwtVerifier(
            clients,
            JwksCache(
                settings.cds_jwks_ttl_s, settings.cds_http_timeout_s, settings.cds_jwks_refetch_min_interval_s
            ),
            make_cache(settings.redis_url, "jti"),
            leeway_s=settings.cds_jwt_leeway_s,
            max_lifetime_s=settings.cds_jwt_max_lifetime_s,
        )
    fhir_servers = FhirServerPolicy(
        [*settings.cds_allowed_fhir_servers, *manifest_issuers(settings.launch_manifest)],
        {c.iss: c.fhir_servers for c in verifier.clients.values()} if verifier else None,
    )
    if verifier is None:
        log.warning(
            "!!! CDS Hooks JWT verification is DISABLED (cds_verify_jwt=False): any caller is trusted !!!"
        )
    return CdsState(
        settings=settings,
        registry=registry,
        verifier=verifier,
        executor=ThreadPoolExecutor(max_workers=settings.cds_prefetch_max_workers, thread_name_prefix="cds"),
        card_memory=CardMemory(make_cache(settings.redis_url, "cards"), settings.cds_card_memory_ttl_s),
        resource_cache=(
            ParsedResourceCache(settings.cds_resource_cache_size, settings.cds_resource_cache_ttl_s)
            if settings.cds_resource_cache_size > 0
            else None
        ),
        fhir_servers=fhir_servers,
    )


def cds_state(app: Flask | None = None) -> CdsState:
    state: CdsState = (app or current_app).extensions["cds_services"]
    return state


def warm_up(app: Flask) -> list[str]:
    """Run every registered service's ``warm_up`` once (gunicorn ``post_worker_init``); returns ids."""
    state = cds_state(app)
    done = []
    for service in state.registry.all():
        if service.warm_up is not None:
            service.warm_up(state.settings)
            done.append(service.id)
    return done
