"""The sandbox CDS client's signing identity: one ES384 key, its JWKS, and the per-call JWT.

CDS Hooks 2.0 §Trusting CDS Clients: the client signs every service call with a JWT in
``Authorization: Bearer``; ``iss`` is the client's identifier (here the sandbox base URL), ``aud`` the
exact URL of the service being called, ``exp`` at most five minutes ahead, ``jti`` unique per call;
the header carries ``kid`` and ``jku`` (the URL of the client's JWKS) and ``typ: JWT``. ES384 is one
of the two algorithms the spec requires services to support.

The private key is generated once and kept in ``state_dir`` (mode 600) so a restarted sandbox keeps
the identity services have already cached.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

log = logging.getLogger(__name__)

ALGORITHM = "ES384"
CURVE = "P-384"
KEY_FILE = "cds_client_es384.jwk.json"
JWT_LIFETIME_S = 300  # the spec's ceiling; services refuse anything longer-lived


class SigningKeyError(RuntimeError):
    """The key file in ``state_dir`` exists but is not a usable P-384 private JWK."""


class CdsClientSigner:
    """Signs CDS Hooks calls as the sandbox EHR and publishes the matching public JWKS."""

    def __init__(self, key: ECKey, issuer: str, jku: str) -> None:
        self._key = key
        self.kid: str = key.thumbprint()
        self.issuer = issuer
        self.jku = jku

    @classmethod
    def from_state_dir(cls, state_dir: Path, issuer: str, jku: str) -> CdsClientSigner:
        return cls(load_or_create_key(state_dir / KEY_FILE), issuer, jku)

    def sign(self, audience: str, now: float | None = None) -> str:
        """A fresh JWT for one call to the service at ``audience`` (its exact URL)."""
        issued = int(now if now is not None else time.time())
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": self.kid, "jku": self.jku}
        claims = {
            "iss": self.issuer,
            "sub": self.issuer,
            "aud": audience,
            "iat": issued,
            "exp": issued + JWT_LIFETIME_S,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(header, claims, self._key, algorithms=[ALGORITHM])

    def jwks(self) -> dict[str, Any]:
        """The public JWKS served at ``{sandbox}/cds-client/jwks.json`` (never the private part)."""
        public = self._key.as_dict(private=False)
        public.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return {"keys": [public]}


_create_lock = threading.Lock()


def load_or_create_key(path: Path) -> ECKey:
    """Read the P-384 private JWK at ``path``, or create it (mode 600) when absent."""
    with _create_lock:
        if path.exists():
            return _read_key(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ECKey.generate_key(CURVE, private=True)
        # O_EXCL + mode 0o600 at creation: the private key is never world-readable, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(key.as_dict(private=True), fh)
        log.info("sandbox CDS client: created signing key %s", path.name)
        return key


def _read_key(path: Path) -> ECKey:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        key = ECKey.import_key(data)
    except (OSError, ValueError) as err:
        raise SigningKeyError(f"{path}: not a readable EC JWK ({type(err).__name__})") from err
    if key.as_dict(private=False).get("crv") != CURVE or not key.is_private:
        raise SigningKeyError(f"{path}: expected a private {CURVE} key")
    return key
