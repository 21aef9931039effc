"""Trusting CDS clients: verify the ``Authorization: Bearer`` JWT of every hook call.

CDS Hooks 2.0 §Trusting CDS Clients (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients): the EHR
signs a short-lived JWT with its private key; header ``alg``, ``kid`` (and optionally ``jku``);
claims ``iss``, ``sub``, ``aud`` (the service endpoint), ``exp``, ``iat``, ``jti``. We accept a
token only when

* ``alg`` is one of the issuer's configured asymmetric algorithms (ES384/RS384 by default; never
  ``none`` or HMAC — a shared secret would let anyone holding it impersonate the EHR);
* ``iss`` is a configured trusted client, and the signing key comes from that client's inline JWKS,
  its JWKS URL, or a ``jku`` on that client's allowlist (its own JWKS URL counts as allowed);
* ``aud`` equals this service's exact public URL, ``exp`` is present, in the future and at most
  ``cds_jwt_max_lifetime_s`` ahead, ``iat`` is not in the future beyond the leeway;
* the ``jti`` was not seen before (replay cache shared across workers when Redis is configured).

Any failure raises :class:`JwtRejected` with a reason for the log; the edge answers a bare 401 with
``WWW-Authenticate: Bearer`` and never echoes the token or the reason to the caller.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from cds_services.jwks_cache import JwksCache, JwksUnavailable, find_key, key_set_from_json
from cds_services.shared_cache import SharedCache

ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384"})


class JwtRejected(Exception):
    """The bearer token is missing or not trustworthy; ``reason`` is for the log only."""

    def __init__(self, reason: str, iss: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.iss = iss[:200] if iss else None  # caller-supplied: bounded before it reaches logs/audit


class TrustConfigError(ValueError):
    """A trusted-client entry in the settings is unusable (raised at start-up, not per call)."""


@dataclass(frozen=True)
class TrustedClient:
    """One EHR we accept hook calls from."""

    iss: str
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    jku_allowlist: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ("ES384", "RS384")
    fhir_servers: tuple[str, ...] = ()  # fhirServer bases allowed besides the issuer's own origin

    @classmethod
    def from_config(cls, entry: dict[str, Any], default_algorithms: list[str]) -> TrustedClient:
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise TrustConfigError("trusted client needs an 'iss'")
        algorithms = tuple(entry.get("algorithms") or default_algorithms)
        bad = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise TrustConfigError(f"trusted client {iss}: algorithms {bad} are not allowed")
        jwks = entry.get("jwks")
        if jwks is not None:
            key_set_from_json(jwks)  # fail at start-up on a malformed inline JWKS
        client = cls(
            iss=iss,
            jwks_url=entry.get("jwks_url"),
            jwks=jwks,
            jku_allowlist=tuple(entry.get("jku_allowlist") or ()),
            algorithms=algorithms,
            fhir_servers=tuple(entry.get("fhir_servers") or ()),
        )
        if not (client.jwks_url or client.jwks or client.jku_allowlist):
            raise TrustConfigError(f"trusted client {iss}: needs jwks_url, jwks or jku_allowlist")
        return client


def trusted_clients(
    configured: list[dict[str, Any]] | None,
    ehr_origins: list[str],
    jwks_path: str,
    default_algorithms: list[str],
) -> dict[str, TrustedClient]:
    """Clients from ``cds_trusted_clients``; when unset, each EHR origin with its JWKS under ``jwks_path``."""
    entries = configured
    if entries is None:
        entries = [{"iss": o.rstrip("/"), "jwks_url": f"{o.rstrip('/')}{jwks_path}"} for o in ehr_origins]
    clients = [TrustedClient.from_config(e, default_algorithms) for e in entries]
    return {c.iss: c for c in clients}


@dataclass(frozen=True)
class VerifiedClient:
    iss: str
    sub: str | None
    jti: str
    claims: dict[str, Any] = field(default_factory=dict)


class JwtVerifier:
    """Verifies hook-call JWTs against the trusted clients (thread-safe; one per app)."""

    def __init__(
        self,
        clients: dict[str, TrustedClient],
        jwks_cache: JwksCache,
        replay_cache: SharedCache,
        *,
        leeway_s: int = 30,
        max_lifetime_s: int = 300,
    ) -> None:
        self.clients = clients
        self._jwks = jwks_cache
        self._replay = replay_cache
        self._leeway = leeway_s
        self._max_lifetime = max_lifetime_s

    def verify(self, authorization: str | None, audiences: list[str]) -> VerifiedClient:
        """Check the ``Authorization`` header value; ``audiences``: the exact URLs accepted as ``aud``."""
        token = _bearer(authorization)
        header, unverified = _peek(token)
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self.clients:
            raise JwtRejected("unknown issuer", iss if isinstance(iss, str) else None)
        client = self.clients[iss]
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in client.algorithms:
            raise JwtRejected(f"algorithm {str(alg)[:20]!r} not allowed for this issuer", iss)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise JwtRejected("kid missing", iss)
        key = self._signing_key(client, kid, header.get("jku"))
        try:
            verified = jwt.decode(token, key, algorithms=[alg])
        except (JoseError, ValueError) as err:
            raise JwtRejected(f"signature check failed ({type(err).__name__})", iss) from err
        claims = dict(verified.claims)
        jti = self._check_claims(claims, iss, audiences)
        if not self._replay.add(f"{iss}|{jti}", float(claims["exp"]) - time.time() + self._leeway):
            raise JwtRejected("jti replayed", iss)
        sub = claims.get("sub")
        return VerifiedClient(iss=iss, sub=sub if isinstance(sub, str) else None, jti=jti, claims=claims)

    def _signing_key(self, client: TrustedClient, kid: str, jku: Any) -> Any:
        try:
            if jku is not None:
                # The client's own configured JWKS URL is implicitly allowed as a jku.
                if not isinstance(jku, str) or jku not in (*client.jku_allowlist, client.jwks_url):
                    raise JwtRejected("jku not on the issuer's allowlist", client.iss)
                key = self._jwks.key_for(jku, kid)
            elif client.jwks is not None:
                key = find_key(key_set_from_json(client.jwks), kid)
            elif client.jwks_url:
                key = self._jwks.key_for(client.jwks_url, kid)
            else:
                raise JwtRejected("issuer has no key source other than jku", client.iss)
        except JwksUnavailable as err:
            raise JwtRejected(f"JWKS unavailable: {err}", client.iss) from err
        if key is None:
            raise JwtRejected("unknown kid", client.iss)
        return key

    def _check_claims(self, claims: dict[str, Any], iss: str, audiences: list[str]) -> str:
        now = time.time()
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in audiences for a in auds):
            raise JwtRejected("aud is not this service's URL", iss)
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise JwtRejected("exp missing", iss)
        if exp < now - self._leeway:
            raise JwtRejected("token expired", iss)
        if exp > now + self._max_lifetime + self._leeway:
            raise JwtRejected("exp too far in the future", iss)
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise JwtRejected("iat missing", iss)
        if iat > now + self._leeway:
            raise JwtRejected("iat in the future", iss)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise JwtRejected("jti missing", iss)
        return jti


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise JwtRejected("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise JwtRejected("Authorization is not a Bearer token")
    token = token.strip()
    if len(token) > 16_384:
        raise JwtRejected("token too long")
    return token


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims *before* verification (only to pick the issuer and key)."""
    try:
        compact = jws.extract_compact(token.encode())
        header = dict(compact.headers())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeDecodeError) as err:
        raise JwtRejected(f"malformed token ({type(err).__name__})") from err
    if not isinstance(claims, dict):
        raise JwtRejected("claims are not a JSON object")
    return header, claims
