"""The sandbox EHR's CDS Hooks 2.0 client: discovery, hook calls, feedback.

* §Discovery: ``GET {cds_discovery_url}`` lists services; each lives at ``{discovery}/{id}``.
* §Calling a CDS Service: ``POST`` a JSON body with ``hook``, ``hookInstance``, ``fhirServer``,
  ``fhirAuthorization`` (when a token could be minted), ``context`` and ``prefetch``; every call is
  signed with a fresh ES384 JWT (§Trusting CDS Clients). Calls to all services of a hook run in
  parallel and are time-boxed; a failing service yields an error note, never an exception.
* §Feedback: ``POST {service}/feedback`` with ``{"feedback": [...]}``.

The app's URLs come from its registration manifest (``launch.json``), rebased onto ``app_base_url``
when the product runs elsewhere than the manifest says (tests on ephemeral ports).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ValidationError

from sandbox.cds_jwt import CdsClientSigner
from sandbox.cds_models import Card, CdsResponse, Discovery, ServiceDefinition, ServiceResult
from sandbox.settings import SandboxSettings

log = logging.getLogger(__name__)

PrefetchBuilder = Callable[[ServiceDefinition], dict[str, Any]]
MAX_RESPONSE_BYTES = 2_000_000


class AppRegistration(BaseModel):
    """The parts of ``launch.json`` the EHR shell and CDS client use."""

    client_id: str
    launch_url: str
    cds_discovery_url: str
    scopes: dict[str, str] = {}


def load_registration(settings: SandboxSettings) -> AppRegistration:
    data = json.loads(settings.launch_manifest.read_text(encoding="utf-8"))
    reg = AppRegistration.model_validate(data)
    if settings.app_base_url:
        origin = _origin(reg.launch_url)
        new = settings.app_base_url.rstrip("/")
        reg = reg.model_copy(
            update={
                "launch_url": rebase(reg.launch_url, origin, new),
                "cds_discovery_url": rebase(reg.cds_discovery_url, origin, new),
            }
        )
    if settings.cds_discovery_url:
        reg = reg.model_copy(update={"cds_discovery_url": settings.cds_discovery_url})
    return reg


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def rebase(url: str, old_origin: str, new_origin: str) -> str:
    return new_origin + url[len(old_origin) :] if url.startswith(old_origin) else url


class DiscoveryError(RuntimeError):
    """The discovery endpoint could not be read; the message is shown in the CDS panel."""


class HookOutcome(BaseModel):
    hook: str
    results: list[ServiceResult] = []
    message: str | None = None


class CdsClient:
    def __init__(
        self,
        discovery_url: str,
        signer: CdsClientSigner,
        timeout_s: float = 5.0,
        discovery_ttl_s: float = 30.0,
    ) -> None:
        self.discovery_url = discovery_url.rstrip("/")
        self.signer = signer
        self.timeout_s = timeout_s
        self.discovery_ttl_s = discovery_ttl_s
        self._cache: tuple[float, list[ServiceDefinition]] | None = None
        self._lock = threading.Lock()

    def service_url(self, service_id: str) -> str:
        return f"{self.discovery_url}/{service_id}"

    # --- discovery ----------------------------------------------------------------------------------
    def discover(self, refresh: bool = False) -> list[ServiceDefinition]:
        """Services from the discovery endpoint (cached briefly); raises ``DiscoveryError``."""
        with self._lock:
            if not refresh and self._cache and time.monotonic() - self._cache[0] < self.discovery_ttl_s:
                return self._cache[1]
        try:
            resp = requests.get(
                self.discovery_url, headers={"Accept": "application/json"}, timeout=self.timeout_s
            )
        except requests.RequestException as err:
            raise DiscoveryError(f"CDS discovery unreachable ({type(err).__name__})") from err
        if resp.status_code != 200:
            raise DiscoveryError(f"CDS discovery answered HTTP {resp.status_code}")
        try:
            services = Discovery.model_validate(resp.json()).services
        except (ValueError, ValidationError) as err:
            raise DiscoveryError("CDS discovery returned an invalid document") from err
        with self._lock:
            self._cache = (time.monotonic(), services)
        return services

    # --- hook calls ---------------------------------------------------------------------------------
    def call_hook(
        self,
        hook: str,
        context: Mapping[str, Any],
        fhir_server: str,
        prefetch_for: PrefetchBuilder,
        fhir_authorization: Mapping[str, Any] | None = None,
    ) -> HookOutcome:
        """Call every discovered service registered for ``hook``, in parallel, time-boxed."""
        try:
            services = [s for s in self.discover() if s.hook == hook]
        except DiscoveryError as err:
            return HookOutcome(hook=hook, message=str(err))
        if not services:
            return HookOutcome(hook=hook, message=f"No CDS services are registered for {hook}.")
        bodies = []
        for svc in services:
            body: dict[str, Any] = {
                "hook": hook,
                "hookInstance": str(uuid.uuid4()),
                "fhirServer": fhir_server,
                "context": dict(context),
                "prefetch": prefetch_for(svc),
            }
            if fhir_authorization:
                body["fhirAuthorization"] = dict(fhir_authorization)
            bodies.append((svc, body))
        pool = ThreadPoolExecutor(max_workers=min(8, len(bodies)), thread_name_prefix="cds-call")
        futures = [pool.submit(self._call_one, svc, body) for svc, body in bodies]
        done, _ = wait(futures, timeout=self.timeout_s + 1.0)
        pool.shutdown(wait=False, cancel_futures=True)
        results = []
        for (svc, _body), fut in zip(bodies, futures, strict=True):
            if fut in done and fut.exception() is None:
                results.append(fut.result())
            else:
                results.append(self._failed(svc, "no answer in time"))
        return HookOutcome(hook=hook, results=results)

    def _failed(self, svc: ServiceDefinition, why: str, elapsed_ms: float = 0.0) -> ServiceResult:
        return ServiceResult(
            service_id=svc.id,
            service_url=self.service_url(svc.id),
            title=svc.title or svc.id,
            error=why,
            elapsed_ms=elapsed_ms,
        )

    def _call_one(self, svc: ServiceDefinition, body: dict[str, Any]) -> ServiceResult:
        url = self.service_url(svc.id)
        started = time.perf_counter()
        headers = {
            "Authorization": f"Bearer {self.signer.sign(url)}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            resp = requests.post(url, data=json.dumps(body), headers=headers, timeout=self.timeout_s)
        except requests.Timeout:
            return self._failed(svc, f"timed out after {self.timeout_s:g} s", _ms(started))
        except requests.RequestException as err:
            return self._failed(svc, f"unreachable ({type(err).__name__})", _ms(started))
        elapsed = _ms(started)
        if resp.status_code != 200:
            return self._failed(svc, f"HTTP {resp.status_code}", elapsed)
        if len(resp.content) > MAX_RESPONSE_BYTES:
            return self._failed(svc, "response too large", elapsed)
        try:
            parsed = CdsResponse.model_validate(resp.json())
        except (ValueError, ValidationError):
            return self._failed(svc, "response is not a CDS Hooks response", elapsed)
        cards, invalid = [], 0
        for raw in parsed.cards:
            try:
                cards.append(Card.model_validate(raw))
            except ValidationError:
                invalid += 1  # one malformed card must not hide the others
        if invalid:
            log.warning("service %s returned %d invalid card(s)", svc.id, invalid)
        return ServiceResult(
            service_id=svc.id,
            service_url=url,
            title=svc.title or svc.id,
            cards=cards,
            invalid_cards=invalid,
            elapsed_ms=elapsed,
        )

    # --- feedback -----------------------------------------------------------------------------------
    def send_feedback(self, service_url: str, items: list[dict[str, Any]]) -> str | None:
        """POST feedback (§Feedback); returns an error note, or ``None`` when the service accepted it."""
        url = f"{service_url}/feedback"
        headers = {"Authorization": f"Bearer {self.signer.sign(url)}", "Content-Type": "application/json"}
        try:
            resp = requests.post(
                url, data=json.dumps({"feedback": items}), headers=headers, timeout=self.timeout_s
            )
        except requests.RequestException as err:
            return f"feedback not delivered ({type(err).__name__})"
        if resp.status_code >= 300:
            return f"feedback refused: HTTP {resp.status_code}"
        return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
