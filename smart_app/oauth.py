"""The OAuth 2.0 half of SMART App Launch 2.2: authorize redirect, code exchange, refresh.

Built on authlib's requests client (``OAuth2Session`` with ``code_challenge_method="S256"``), so PKCE,
client authentication and the form encoding follow authlib. SMART specifics live here (§App Launch:
Launch App):

* the authorize request carries ``aud`` = the FHIR base (``iss``), ``launch`` for an EHR launch, a
  random single-use ``state`` and, when ``openid`` is asked, a ``nonce``;
* clients: public (``none``, PKCE only), ``client_secret_basic``, or ``private_key_jwt`` (our signed
  assertion; authlib sends ``client_id`` in the body as for a public client);
* the token response is validated by :class:`smart_app.tokens.TokenResponse` (vendor tolerance).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from pydantic import ValidationError

from smart_app.config import ClientProfile
from smart_app.keys import ASSERTION_TYPE, client_assertion
from smart_app.tokens import TokenResponse


class TokenEndpointError(Exception):
    """The token endpoint refused (``error`` is the OAuth error code, never a token)."""

    def __init__(self, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


def new_code_verifier() -> str:
    """RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~]; 64 random ones here."""
    return generate_token(64)


def _session(profile: ClientProfile, scope: str, redirect_uri: str) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    method = "client_secret_basic" if profile.auth_method == "client_secret_basic" else "none"
    session = OAuth2Session(
        client_id=profile.client_id,
        client_secret=profile.client_secret if method == "client_secret_basic" else None,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
    )
    session.register_compliance_hook("access_token_response", _tolerant_token_body)
    session.register_compliance_hook("refresh_token_response", _tolerant_token_body)
    return session


def _tolerant_token_body(resp: requests.Response) -> requests.Response:
    """Normalise ``expires_in`` sent as a string (``"3600"``, ``"3600.0"``) before authlib reads it."""
    try:
        body = resp.json()
    except ValueError:
        return resp
    if isinstance(body, dict) and isinstance(body.get("expires_in"), str):
        try:
            body["expires_in"] = int(float(body["expires_in"]))
        except ValueError:
            body.pop("expires_in")
        resp._content = json.dumps(body).encode()
    return resp


def authorization_url(
    profile: ClientProfile,
    *,
    authorization_endpoint: str,
    redirect_uri: str,
    scope: str,
    state: str,
    code_verifier: str,
    launch: str | None,
    nonce: str | None,
) -> str:
    extra: dict[str, str] = {"aud": profile.iss}
    if launch:
        extra["launch"] = launch
    if nonce:
        extra["nonce"] = nonce
    url, _ = _session(profile, scope, redirect_uri).create_authorization_url(
        authorization_endpoint, state=state, code_verifier=code_verifier, **extra
    )
    return str(url)


def _assertion_params(profile: ClientProfile, token_endpoint: str, jwk_path: Path) -> dict[str, str]:
    if profile.auth_method != "private_key_jwt":
        return {}
    return {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(jwk_path, profile.client_id, token_endpoint),
    }


def _parse(token: Mapping[str, Any]) -> TokenResponse:
    try:
        return TokenResponse.model_validate(dict(token))
    except ValidationError as err:
        raise TokenEndpointError("invalid_token_response") from err


@contextmanager
def _token_endpoint_errors() -> Iterator[None]:
    """A refusal (authlib's ``OAuthError``), a transport failure or an unreadable body from the token
    endpoint, as :class:`TokenEndpointError` (its message names the OAuth error or the failure's type)."""
    try:
        yield
    except OAuthError as err:
        raise TokenEndpointError(str(err.error or "token_error")) from err
    except (requests.RequestException, ValueError) as err:
        raise TokenEndpointError(type(err).__name__) from err


def exchange_code(
    profile: ClientProfile,
    *,
    token_endpoint: str,
    redirect_uri: str,
    scope: str,
    code: str,
    code_verifier: str,
    jwk_path: Path,
    timeout_s: float,
) -> TokenResponse:
    """``grant_type=authorization_code`` with the PKCE ``code_verifier``."""
    session = _session(profile, scope, redirect_uri)
    with _token_endpoint_errors():
        token = session.fetch_token(
            token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            timeout=timeout_s,
            **_assertion_params(profile, token_endpoint, jwk_path),
        )
    return _parse(token)


def refresh(
    profile: ClientProfile,
    *,
    token_endpoint: str,
    redirect_uri: str,
    refresh_token: str,
    jwk_path: Path,
    timeout_s: float,
) -> TokenResponse:
    """``grant_type=refresh_token`` (no ``scope``: the same scopes as granted, RFC 6749 §6)."""
    session = _session(profile, "", redirect_uri)
    with _token_endpoint_errors():
        token = session.refresh_token(
            token_endpoint,
            refresh_token=refresh_token,
            timeout=timeout_s,
            **_assertion_params(profile, token_endpoint, jwk_path),
        )
    return _parse(token)
