"""Prefetch resolution: every key a service declared, from the request or else from ``fhirServer``.

CDS Hooks 2.0 §Providing FHIR Resources to a CDS Service (https://cds-hooks.hl7.org/2.0/#prefetch):
templates are FHIR read/search URLs relative to ``fhirServer`` with ``{{context.*}}`` and
``{{userPractitionerId}}``-style tokens. A key the request carries is used as given; a key that is
missing or ``null`` is fetched from ``fhirServer`` with the ``fhirAuthorization`` bearer token (all
such keys in parallel, within ``cds_prefetch_timeout_s`` in total). A required key that neither
source can supply raises :class:`PrefetchUnavailable` (the edge answers 412, §HTTP Response).

Every resource is parsed with ``fhir.resources.R4B`` (through the worker's content-addressed
:mod:`~cds_services.resource_cache` when given); an invalid resource (or Bundle entry) is skipped
and reported in :attr:`ResolvedPrefetch.invalid`, never crashed on. ``draftOrders`` entries
are parsed the same way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from cds_services.hook_contexts import HookContext
from cds_services.models import HookRequest
from cds_services.registry import CdsService
from cds_services.resource_cache import ParsedResourceCache
from clinical.resources import InvalidResource, parse_strict

_TOKEN = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
_MAX_INVALID_REPORTS = 50


class PrefetchUnavailable(Exception):
    """Required prefetch keys could be neither read from the request nor fetched (→ 412)."""

    def __init__(self, keys: list[str], reason: str) -> None:
        super().__init__(f"prefetch unavailable for {', '.join(keys)}: {reason}")
        self.keys = keys
        self.reason = reason


@dataclass
class ResolvedPrefetch:
    resources: dict[str, Resource | None] = field(default_factory=dict)
    draft_orders: list[Resource] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # keys that came from fhirServer
    cache: ParsedResourceCache | None = None


def render_template(template: str, context: HookContext) -> str | None:
    """Fill the tokens of ``template``; ``None`` when a token has no value in this context."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        token = match.group(1)
        found: Any = None
        if token.startswith("context."):
            found = getattr(context, token.removeprefix("context."), None)
        elif token in _USER_TOKENS and context.userId:
            rtype, _, rid = context.userId.partition("/")
            found = rid if rtype == _USER_TOKENS[token] else None
        if not isinstance(found, str) or not found:
            missing = True
            return ""
        return quote(found, safe="")

    rendered = _TOKEN.sub(value, template)
    return None if missing else rendered


def resolve_prefetch(
    service: CdsService,
    request: HookRequest,
    executor: Executor,
    *,
    timeout_s: float,
    http_timeout_s: float,
    cache: ParsedResourceCache | None = None,
    max_bytes: int = 10_000_000,
) -> ResolvedPrefetch:
    """Resolve and validate the service's prefetch; parse the hook's draft orders."""
    out = ResolvedPrefetch(cache=cache)
    context = request.typed_context()
    given = request.prefetch or {}
    to_fetch: dict[str, str] = {}
    unobtainable: list[str] = []
    for key, template in service.prefetch.items():
        raw = given.get(key)
        if raw is not None:
            out.resources[key] = _parse_value(key, raw, out)
            continue
        query = render_template(template, context)
        if query is None or not request.fhirServer:
            out.resources[key] = None
            if key not in service.optional_prefetch:
                unobtainable.append(key)
            continue
        to_fetch[key] = query
    if unobtainable:
        raise PrefetchUnavailable(unobtainable, "not in the request and no fhirServer to fetch it from")
    if to_fetch:
        _fetch_all(service, request, to_fetch, out, executor, timeout_s, http_timeout_s, max_bytes)
    draft = getattr(context, "draftOrders", None) or (context.model_extra or {}).get("draftOrders")
    if isinstance(draft, Mapping):
        out.draft_orders = _parse_entries("draftOrders", draft, out)
    return out


def _fetch_all(
    service: CdsService,
    request: HookRequest,
    queries: dict[str, str],
    out: ResolvedPrefetch,
    executor: Executor,
    timeout_s: float,
    http_timeout_s: float,
    max_bytes: int,
) -> None:
    assert request.fhirServer is not None
    headers = {"Accept": "application/fhir+json"}
    if request.fhirAuthorization is not None:
        headers["Authorization"] = f"Bearer {request.fhirAuthorization.access_token}"
    per_call = min(http_timeout_s, timeout_s)
    deadline = time.monotonic() + timeout_s
    futures: dict[str, Future[Any]] = {
        key: executor.submit(
            _get, f"{request.fhirServer}/{q.lstrip('/')}", headers, per_call, max_bytes, deadline
        )
        for key, q in queries.items()
    }
    wait(list(futures.values()), timeout=max(0.0, deadline - time.monotonic()))
    failed: list[str] = []
    reasons: set[str] = set()
    for key, fut in futures.items():
        if not fut.done():
            fut.cancel()
            reasons.add("timed out")
            result: Any = _Failure("timed out")
        else:
            result = fut.result()
        if isinstance(result, _Failure):
            out.resources[key] = None
            if key not in service.optional_prefetch:
                failed.append(key)
                reasons.add(result.reason)
            continue
        out.fetched.append(key)
        out.resources[key] = _parse_value(key, result, out) if result is not None else None
    if failed:
        raise PrefetchUnavailable(failed, "fhirServer " + "; ".join(sorted(reasons)))


@dataclass(frozen=True)
class _Failure:
    reason: str


def _get(url: str, headers: dict[str, str], timeout: float, max_bytes: int, deadline: float) -> Any:
    """One FHIR GET: the JSON body, ``None`` for 404 (no such resource), or a :class:`_Failure`.

    Redirects are never followed (they could lead the bearer token, or us, to another host); the
    body is read up to ``max_bytes`` and only until ``deadline`` (a server that trickles bytes
    would otherwise hold a worker thread far beyond the per-read ``timeout``).
    """
    try:
        with requests.get(url, headers=headers, timeout=timeout, allow_redirects=False, stream=True) as resp:
            if resp.status_code == 404:
                return None
            if resp.is_redirect:
                return _Failure("redirect refused")
            if resp.status_code != 200:
                return _Failure(f"HTTP {resp.status_code}")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                return _Failure("response too large")
            body = bytearray()
            for chunk in resp.iter_content(65536):
                body += chunk
                if len(body) > max_bytes:
                    return _Failure("response too large")
                if time.monotonic() > deadline:
                    return _Failure("timed out")
    except requests.RequestException as err:
        return _Failure(type(err).__name__)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _Failure("response is not JSON")


def _parse_value(key: str, raw: Any, out: ResolvedPrefetch) -> Resource | None:
    invalid = out.invalid
    if not isinstance(raw, Mapping):
        _report(invalid, f"{key}: not a FHIR resource")
        return None
    if raw.get("resourceType") == "Bundle":
        entries = _parse_entries(key, raw, out)
        shell = {k: v for k, v in raw.items() if k not in ("entry", "link")}
        shell.setdefault("type", "searchset")
        wrapped = [{"resource": r} for r in entries]
        try:
            return Bundle.model_validate({**shell, "entry": wrapped})
        except ValueError:  # a bad Bundle shell (type, total…): keep the entries, drop the shell fields
            _report(invalid, f"{key}: Bundle fields invalid, entries kept")
            return Bundle.model_validate({"resourceType": "Bundle", "type": "searchset", "entry": wrapped})
    try:
        return _parse_one(raw, out.cache)
    except InvalidResource as err:
        _report(invalid, f"{key}: {err}")
        return None


def _parse_one(raw: Mapping[str, Any], cache: ParsedResourceCache | None = None) -> Resource:
    if cache is not None:
        return cache.parse(raw, _parse_one)
    try:
        return parse_strict(raw)
    except InvalidResource:
        raise
    except (ValueError, TypeError) as err:  # e.g. an unknown resourceType raises a bare ValueError
        raise InvalidResource(f"{str(raw.get('resourceType'))[:40]} is not a valid R4 resource") from err


def _parse_entries(key: str, bundle: Mapping[str, Any], out: ResolvedPrefetch) -> list[Resource]:
    invalid = out.invalid
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return []
    parsed: list[Resource] = []
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(res, Mapping):
            _report(invalid, f"{key}.entry[{i}]: no resource")
            continue
        try:
            parsed.append(_parse_one(res, out.cache))
        except InvalidResource as err:
            _report(invalid, f"{key}.entry[{i}]: {err}")
    return parsed


def _report(invalid: list[str], text: str) -> None:
    if len(invalid) < _MAX_INVALID_REPORTS:
        invalid.append(text[:300])
