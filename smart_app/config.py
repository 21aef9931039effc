"""Who we are to each EHR: client id, client authentication, scopes, allowed issuers, EHR origins.

Read from the registration manifest (``launch.json``: the same file the EHR administrator registers us
from) and extended by settings (``smart_*``). Per-issuer profiles (``smart_ehr_profiles``) choose SMART
v1 scopes, another client id or a confidential client for one EHR without touching the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from evidence_cds.settings import Settings

AUTH_METHODS = ("none", "client_secret_basic", "private_key_jwt")


class SmartConfigError(ValueError):
    """The manifest or a ``smart_*`` setting is unusable (raised at start-up or first launch)."""


@dataclass(frozen=True)
class Manifest:
    client_id: str
    redirect_uris: tuple[str, ...]
    scopes: dict[str, str]
    allowed_issuers: tuple[str, ...]
    ehr_origins: tuple[str, ...]


@dataclass(frozen=True)
class ClientProfile:
    """How we present ourselves to one issuer."""

    iss: str
    client_id: str
    scope_version: str
    scopes: str
    auth_method: str
    client_secret: str | None

    def scope_for(self, standalone: bool) -> str:
        """EHR launch asks for ``launch``; standalone asks the user to pick a patient (``launch/patient``)."""
        items = self.scopes.split()
        if standalone:
            items = [s for s in items if s != "launch"]
            if "launch/patient" not in items:
                items.insert(0, "launch/patient")
        elif "launch" not in items:
            items.insert(0, "launch")
        return " ".join(items)


@lru_cache(maxsize=8)
def _read_manifest(path: str, mtime: float) -> Manifest:
    try:
        raw: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return Manifest(
            client_id=str(raw["client_id"]),
            redirect_uris=tuple(str(u) for u in raw.get("redirect_uris", [])),
            scopes={str(k): str(v) for k, v in (raw.get("scopes") or {}).items()},
            allowed_issuers=tuple(_norm(u) for u in raw.get("allowed_issuers", [])),
            ehr_origins=tuple(str(o).rstrip("/") for o in raw.get("ehr_origins", [])),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SmartConfigError(f"cannot read launch manifest {path}: {err}") from err


def manifest(settings: Settings) -> Manifest:
    path = settings.launch_manifest
    try:
        mtime = path.stat().st_mtime
    except OSError as err:
        raise SmartConfigError(f"launch manifest {path} not found") from err
    return _read_manifest(str(path), mtime)


def _norm(url: str) -> str:
    return str(url).strip().rstrip("/")


def allowed_issuers(settings: Settings) -> list[str]:
    return list(
        dict.fromkeys([*manifest(settings).allowed_issuers, *map(_norm, settings.smart_allowed_issuers)])
    )


def is_allowed_issuer(settings: Settings, iss: str) -> bool:
    """Exact match after trailing-slash normalisation (no prefix matching: a prefix is a hole)."""
    return _norm(iss) in allowed_issuers(settings)


def ehr_origins(settings: Settings) -> list[str]:
    """Origins allowed to frame the app (CSP ``frame-ancestors``)."""
    return list(
        dict.fromkeys([*(o.rstrip("/") for o in settings.ehr_origins), *manifest(settings).ehr_origins])
    )


def redirect_uri(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + "/app/callback"


def client_profile(settings: Settings, iss: str, scope_version: str | None = None) -> ClientProfile:
    """The client profile for ``iss``: settings defaults overlaid by ``smart_ehr_profiles[iss]``;
    ``scope_version`` forces v1/v2 (the automatic v1 fallback)."""
    m = manifest(settings)
    over = dict(settings.smart_ehr_profiles.get(_norm(iss)) or settings.smart_ehr_profiles.get(iss) or {})
    if scope_version is not None and scope_version != over.get("scope_version"):
        over["scope_version"] = scope_version
        over.pop("scopes", None)
    version = str(over.get("scope_version", settings.smart_scope_version))
    if version not in m.scopes and "scopes" not in over:
        raise SmartConfigError(f"no '{version}' scopes in the launch manifest")
    method = str(over.get("auth_method", settings.smart_auth_method))
    if method not in AUTH_METHODS:
        raise SmartConfigError(f"unknown client auth method {method!r}")
    secret = over.get("client_secret", settings.smart_client_secret)
    if method == "client_secret_basic" and not secret:
        raise SmartConfigError("client_secret_basic needs smart_client_secret")
    return ClientProfile(
        iss=_norm(iss),
        client_id=str(over.get("client_id", settings.smart_client_id or m.client_id)),
        scope_version=version,
        scopes=str(over.get("scopes", m.scopes.get(version, ""))),
        auth_method=method,
        client_secret=str(secret) if secret else None,
    )
