"""Which ``fhirServer`` URLs a hook caller may make us fetch prefetch from (SSRF guard).

CDS Hooks 2.0 §Providing FHIR Resources to a CDS Service lets the caller name ``fhirServer``; we then
send GETs there (with its bearer token). Without a check, any trusted caller — or anyone, when
``cds_verify_jwt`` is off — could point us at internal hosts. A ``fhirServer`` is allowed when it lies
*under* (same scheme, host and port; path equal or below) one of:

* the verified client's issuer origin (an EHR's FHIR server normally lives on its own origin),
* the trusted client's ``fhir_servers`` entry (``cds_trusted_clients``),
* ``cds_allowed_fhir_servers`` (setting) and the launch manifest's ``allowed_issuers``.

An unverified caller (``cds_verify_jwt=False``) only gets the explicit lists. URLs with user-info,
non-http(s) schemes or ``..`` path segments are never allowed. The edge treats a refused
``fhirServer`` as absent (→ 412 when a required key is then missing) and logs it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _Base:
    scheme: str
    host: str
    port: int
    path: str  # no trailing slash; "" for an origin

    def contains(self, other: _Base) -> bool:
        if (self.scheme, self.host, self.port) != (other.scheme, other.host, other.port):
            return False
        return not self.path or other.path == self.path or other.path.startswith(self.path + "/")


def _parse(url: str) -> _Base | None:
    """A normalised base, or ``None`` for anything we refuse to treat as a FHIR base URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.query or parts.fragment or "\\" in url:
        return None
    path = parts.path.rstrip("/")
    if any(seg in (".", "..") for seg in path.split("/")) or "%" in path:
        return None  # no dot-segments or encoded tricks that a server might normalise differently
    return _Base(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], path)


def manifest_issuers(path: Path) -> list[str]:
    """``allowed_issuers`` of the launch manifest (empty when it is missing or unreadable)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    issuers = raw.get("allowed_issuers") if isinstance(raw, dict) else None
    return [i for i in issuers if isinstance(i, str)] if isinstance(issuers, list) else []


class FhirServerPolicy:
    """Allowlist of FHIR bases, shared by all callers, plus per-issuer extras."""

    def __init__(self, allowed: Iterable[str], per_issuer: dict[str, Iterable[str]] | None = None) -> None:
        self._allowed = [b for b in map(_parse, allowed) if b is not None]
        self._per_issuer = {
            iss: [b for b in map(_parse, extra) if b is not None] for iss, extra in (per_issuer or {}).items()
        }

    def allows(self, fhir_server: str, client_iss: str | None) -> bool:
        """Whether ``fhir_server`` may be fetched from for a call by ``client_iss`` (``None``: unverified)."""
        target = _parse(fhir_server)
        if target is None:
            return False
        bases = [*self._allowed, *self._per_issuer.get(client_iss or "", [])]
        own = _parse(client_iss) if client_iss else None  # a verified issuer: its own origin
        if own is not None:
            bases.append(_Base(own.scheme, own.host, own.port, ""))
        return any(b.contains(target) for b in bases)
