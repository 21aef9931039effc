"""Discovering an EHR's authorization endpoints (SMART App Launch 2.2 §Conformance / Discovery).

First ``GET {iss}/.well-known/smart-configuration``; older servers that lack it publish the endpoints in
``CapabilityStatement.rest.security.extension`` (``http://fhir-registry.smarthealthit.org/
StructureDefinition/oauth-uris``), so we fall back to ``GET {iss}/metadata``. Results are cached per
issuer for a few minutes; a failure is never cached.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, ValidationError

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
CACHE_TTL_S = 300.0


class DiscoveryError(Exception):
    """Neither ``.well-known/smart-configuration`` nor the CapabilityStatement named the endpoints."""


class SmartConfiguration(BaseModel):
    """The fields of ``.well-known/smart-configuration`` we use (unknown ones are kept)."""

    model_config = ConfigDict(extra="allow")

    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    jwks_uri: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    token_endpoint_auth_methods_supported: list[str] = []
    scopes_supported: list[str] = []
    code_challenge_methods_supported: list[str] = []
    capabilities: list[str] = []
    source: str = "well-known"


_cache: dict[str, tuple[float, SmartConfiguration]] = {}
_lock = threading.Lock()


def discover(iss: str, timeout_s: float = 5.0, *, use_cache: bool = True) -> SmartConfiguration:
    """The authorization endpoints of the FHIR server ``iss``; :class:`DiscoveryError` when none."""
    key = iss.rstrip("/")
    now = time.monotonic()
    if use_cache:
        with _lock:
            hit = _cache.get(key)
        if hit and now - hit[0] < CACHE_TTL_S:
            return hit[1]
    config = _from_well_known(key, timeout_s) or _from_capability_statement(key, timeout_s)
    if config is None:
        raise DiscoveryError(f"no SMART configuration published by {key}")
    if config.code_challenge_methods_supported and "S256" not in config.code_challenge_methods_supported:
        # SMART 2.2 requires S256; a server that advertises only "plain" is refused, not downgraded.
        raise DiscoveryError(f"{key} does not support PKCE S256")
    with _lock:
        _cache[key] = (now, config)
    return config


def _get_json(url: str, timeout_s: float, accept: str) -> dict[str, Any] | None:
    try:
        resp = requests.get(url, headers={"Accept": accept}, timeout=(timeout_s, timeout_s))
    except requests.RequestException:
        return None
    if resp.status_code != 200:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _from_well_known(iss: str, timeout_s: float) -> SmartConfiguration | None:
    body = _get_json(f"{iss}/.well-known/smart-configuration", timeout_s, "application/json")
    if body is None:
        return None
    try:
        return SmartConfiguration.model_validate(body)
    except ValidationError:
        return None


def _from_capability_statement(iss: str, timeout_s: float) -> SmartConfiguration | None:
    body = _get_json(f"{iss}/metadata", timeout_s, "application/fhir+json")
    if body is None or body.get("resourceType") != "CapabilityStatement":
        return None
    uris: dict[str, str] = {}
    for rest in body.get("rest") or []:
        security = rest.get("security") or {} if isinstance(rest, dict) else {}
        for ext in security.get("extension") or []:
            if not isinstance(ext, dict) or ext.get("url") != OAUTH_URIS:
                continue
            for sub in ext.get("extension") or []:
                if isinstance(sub, dict) and isinstance(sub.get("valueUri"), str):
                    uris[str(sub.get("url"))] = sub["valueUri"]
    if "authorize" not in uris or "token" not in uris:
        return None
    return SmartConfiguration(
        authorization_endpoint=uris["authorize"],
        token_endpoint=uris["token"],
        revocation_endpoint=uris.get("revoke"),
        introspection_endpoint=uris.get("introspect"),
        source="capability-statement",
    )


def clear_cache() -> None:
    with _lock:
        _cache.clear()
