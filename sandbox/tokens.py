"""In-memory, thread-safe storage for authorization codes and tokens, and the server's signing key.

A sandbox keeps grants in memory (they vanish on restart, like a developer's session). The RSA key
that signs id_tokens and ``generic``-flavour JWT access tokens is persisted under ``state_dir`` so a
restarted sandbox keeps its ``kid`` (the product caches our JWKS).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin
from joserfc import jwt
from joserfc.jwk import RSAKey

from sandbox.clients import RegisteredClient

CODE_LIFETIME_S = 600  # RFC 6749 §4.1.2: a maximum authorization code lifetime of 10 minutes


@dataclass(frozen=True)
class AuthContext:
    """Who authorized, for which patient, in which EHR flavour: the "user" of an authlib grant."""

    user_id: str  # Practitioner id (fhirUser)
    patient_id: str | None
    encounter_id: str | None
    flavour: str
    launch_id: str | None = None
    app_context: str | None = None

    def get_user_id(self) -> str:
        return self.user_id


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    context: AuthContext
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None

    def is_expired(self) -> bool:
        return time.time() - self.auth_time > CODE_LIFETIME_S


@dataclass
class Token(TokenMixin):
    access_token: str
    client_id: str
    scope: str
    context: AuthContext
    expires_in: int
    refresh_token: str | None = None
    issued_at: float = field(default_factory=time.time)
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: RegisteredClient) -> bool:
        return bool(client.client_id == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> AuthContext:
        return self.context

    def get_client_id(self) -> str:
        return self.client_id


class TokenStore:
    """Codes by value, tokens by access and by refresh token value; one lock for all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, AuthorizationCode] = {}
        self._access: dict[str, Token] = {}
        self._refresh: dict[str, Token] = {}
        self._nonces: set[tuple[str, str]] = set()

    def save_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._codes[code.code] = code
            if code.nonce:
                self._nonces.add((code.client_id, code.nonce))

    def get_code(self, value: str, client_id: str) -> AuthorizationCode | None:
        with self._lock:
            code = self._codes.get(value)
        if code is None or code.client_id != client_id or code.is_expired():
            return None
        return code

    def delete_code(self, value: str) -> None:
        with self._lock:
            self._codes.pop(value, None)

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            return (client_id, nonce) in self._nonces

    def save_token(self, token: Token) -> None:
        with self._lock:
            self._access[token.access_token] = token
            if token.refresh_token:
                self._refresh[token.refresh_token] = token

    def by_access(self, value: str) -> Token | None:
        with self._lock:
            return self._access.get(value)

    def by_refresh(self, value: str) -> Token | None:
        with self._lock:
            token = self._refresh.get(value)
        return None if token is None or token.refresh_revoked else token

    def revoke_refresh(self, token: Token) -> None:
        """Refresh-token rotation: the old refresh token dies when a new one is issued."""
        with self._lock:
            token.refresh_revoked = True

    def expire_access(self, value: str) -> None:
        """Make an access token expired now (tests of 401 on expiry; an EHR admin's revoke)."""
        with self._lock:
            token = self._access.get(value)
            if token:
                token.issued_at = time.time() - token.expires_in - 1


class SigningKey:
    """The authorization server's RS256 key (id_tokens, JWT access tokens) and its public JWKS."""

    def __init__(self, key: RSAKey) -> None:
        self.key = key
        self.kid = str(key.kid)

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        if path.is_file():
            return cls(RSAKey.import_key(json.loads(path.read_text(encoding="utf-8"))))
        key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Private from the first byte, and atomic: two sandboxes starting at once never read half a key.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(key.as_dict(private=True), fh)
        os.replace(tmp, path)
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public.update({"use": "sig", "alg": "RS256", "kid": self.kid})
        return {"keys": [public]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "kid": self.kid, "typ": "JWT"}, claims, self.key)


def opaque_token(**_ignored: Any) -> str:
    """A random, opaque token value (also authlib's refresh-token generator, which passes keywords)."""
    return secrets.token_urlsafe(32)
