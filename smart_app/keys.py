"""Our signing key and JWKS (``/app/.well-known/jwks.json``), client assertions, id_token checks.

* ``private_key_jwt`` (SMART App Launch 2.2 §Client Authentication: Asymmetric): the client signs a
  short-lived JWT (``iss`` = ``sub`` = client id, ``aud`` = token endpoint, ``jti``, ``exp`` ≤ 5 min)
  with RS384; the EHR verifies it with the public key it fetches from our JWKS URL.
* id_token (OpenID Connect Core §3.1.3.7): signature by a key of the server's JWKS, ``iss``, ``aud`` =
  our client id, ``exp`` and the ``nonce`` we sent.

The private key is generated once into the instance folder (mode 600) unless ``smart_jwk_path`` names one.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SIGNING_ALG = "RS384"
ID_TOKEN_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]

_lock = threading.Lock()
_keys: dict[str, RSAKey] = {}


class IdTokenError(Exception):
    """The id_token failed verification (signature, iss, aud, exp or nonce)."""


def signing_key(path: Path) -> RSAKey:
    """Load (or create once) the app's RSA signing key."""
    key_id = str(path.resolve())
    with _lock:
        if key_id in _keys:
            return _keys[key_id]
        if path.exists():
            key = RSAKey.import_key(json.loads(path.read_text()))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = RSAKey.generate_key(
                2048, parameters={"kid": secrets.token_hex(8), "alg": SIGNING_ALG, "use": "sig"}
            )
            path.write_text(json.dumps(key.as_dict(private=True)))
            path.chmod(0o600)
        _keys[key_id] = key
        return key


def public_jwks(path: Path) -> dict[str, Any]:
    pub = signing_key(path).as_dict(private=False)
    pub.setdefault("alg", SIGNING_ALG)
    pub.setdefault("use", "sig")
    return {"keys": [pub]}


def client_assertion(path: Path, client_id: str, token_endpoint: str, lifetime_s: int = 300) -> str:
    """A signed client assertion for ``private_key_jwt`` (RFC 7523 §3)."""
    key = signing_key(path)
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "jti": secrets.token_urlsafe(24),
        "iat": now,
        "exp": now + min(lifetime_s, 300),
    }
    header = {"alg": SIGNING_ALG, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=[SIGNING_ALG])


def verify_id_token(
    id_token: str,
    *,
    jwks_uri: str,
    issuer: str,
    client_id: str,
    nonce: str,
    leeway_s: int = 60,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Verify ``id_token`` and return its claims; :class:`IdTokenError` on any failure."""
    try:
        resp = requests.get(jwks_uri, headers={"Accept": "application/json"}, timeout=(timeout_s, timeout_s))
        resp.raise_for_status()
        keyset = KeySet.import_key_set(resp.json())
    except (requests.RequestException, ValueError, JoseError) as err:
        raise IdTokenError(f"cannot load the server's JWKS ({type(err).__name__})") from err
    try:
        token = jwt.decode(id_token, keyset, algorithms=ID_TOKEN_ALGS)
    except (JoseError, ValueError) as err:
        raise IdTokenError(f"id_token signature invalid ({type(err).__name__})") from err
    registry = jwt.JWTClaimsRegistry(
        leeway=leeway_s,
        iss={"essential": True, "value": issuer.rstrip("/")},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    claims = dict(token.claims)
    if isinstance(claims.get("iss"), str):
        claims["iss"] = claims["iss"].rstrip("/")
    try:
        registry.validate(claims)
    except JoseError as err:
        raise IdTokenError(f"id_token claim check failed: {err.error}") from err
    return claims
