"""The SMART authorization server, built on authlib's server classes.

SMART App Launch 2.2 §App Launch: authorization code grant with PKCE S256 (``plain`` refused, §Considerations
for PKCE), ``aud`` equal to the FHIR base, EHR launch (``launch`` → patient / encounter) and standalone
launch (``launch/patient`` → a patient picker), ``openid fhirUser`` id_tokens (RS256, OIDC Core §3.1),
refresh tokens for ``offline_access`` (rotated on use), and the launch context returned beside the
access token (§Launch context arrives with your access_token).

Vendor flavours (``AuthContext.flavour``) reproduce what real EHRs do:
* ``epic``: opaque access tokens, ``need_patient_banner`` as the *string* ``"false"``, ``aud`` mandatory.
* ``cerner``: SMART v1 scopes only; a v2 scope request is refused with ``invalid_scope``.
* ``generic``: SMART 2.2, v1 and v2 scopes, access tokens are signed JWTs.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator

from sandbox.authz_grants import (
    SmartAuthorizationCodeGrant,
    SmartCodeChallenge,
    SmartIntrospectionEndpoint,
    SmartOpenIDCode,
    SmartRefreshTokenGrant,
    check_flavour_rules,
)
from sandbox.authz_scopes import parse_scopes
from sandbox.clients import RegisteredClient
from sandbox.launch_context import LaunchRegistry
from sandbox.settings import SandboxSettings
from sandbox.tokens import AuthContext, SigningKey, Token, TokenStore, opaque_token


class SandboxAuthorizationServer(AuthorizationServer):
    """authlib's Flask server plus the sandbox state every grant needs."""

    def __init__(
        self,
        settings: SandboxSettings,
        clients: dict[str, RegisteredClient],
        store: TokenStore,
        key: SigningKey,
        launches: LaunchRegistry,
    ) -> None:
        super().__init__(query_client=clients.get, save_token=self._save)
        self.settings = settings
        self.clients = clients
        self.tokens = store
        self.key = key
        self.launches = launches
        self.register_token_generator(
            "default", BearerTokenGenerator(self._access_token, opaque_token, self._expires_in)
        )
        self.register_grant(SmartAuthorizationCodeGrant, [SmartCodeChallenge(), SmartOpenIDCode(self)])
        self.register_grant(SmartRefreshTokenGrant)
        self.register_endpoint(SmartIntrospectionEndpoint)

    def load_config(self, config: Any) -> None:
        # Our token generator is registered in __init__; authlib's config-driven one would replace it.
        self.scopes_supported = None
        self._error_uris = None

    @property
    def fhir_base(self) -> str:
        return self.settings.fhir_base_url

    @property
    def issuer(self) -> str:
        # The OIDC issuer is the FHIR base (as the SMART launcher does); its discovery document is
        # served at ``{fhir_base}/.well-known/openid-configuration``.
        return self.settings.fhir_base_url

    def fhir_user(self, ctx: AuthContext) -> str:
        return f"{self.fhir_base}/Practitioner/{ctx.user_id}"

    def _expires_in(self, client: RegisteredClient, grant_type: str) -> int:
        return self.settings.access_token_lifetime_s

    def _access_token(
        self,
        client: RegisteredClient,
        grant_type: str,
        user: AuthContext,
        scope: str,
        lifetime_s: int | None = None,
    ) -> str:
        if user.flavour != "generic":
            return opaque_token()  # Epic and Oracle Health hand out opaque strings
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.user_id,
            "aud": self.fhir_base,
            "client_id": client.client_id,
            "scope": scope,
            "fhirUser": self.fhir_user(user),
            "iat": now,
            "exp": now + (lifetime_s or self.settings.access_token_lifetime_s),
            "jti": opaque_token(),
        }
        if user.patient_id:
            claims["patient"] = user.patient_id
        return self.key.sign(claims)

    def _save(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.tokens.save_token(
            Token(
                access_token=token["access_token"],
                client_id=request.client.client_id,
                scope=token.get("scope", ""),
                context=request.user,
                expires_in=int(token.get("expires_in", self.settings.access_token_lifetime_s)),
                refresh_token=token.get("refresh_token"),
            )
        )

    def mint_access_token(
        self,
        patient_id: str,
        scope: str,
        client_id: str,
        flavour: str | None = None,
        user_id: str | None = None,
        lifetime_s: int = 300,
    ) -> dict[str, Any]:
        """Issue a short-lived access token without a browser (the EHR's ``fhirAuthorization`` for a CDS
        Hooks call, CDS Hooks 2.0 §Passing the Access Token to the CDS Service).

        Scopes are limited to what ``client_id`` is registered for; unknown client → ``KeyError``.
        """
        client = self.clients[client_id]
        granted = client.get_allowed_scope(scope)
        ctx = AuthContext(
            user_id or self.settings.ehr_user_id, patient_id, None, flavour or self.settings.default_flavour
        )
        value = self._access_token(client, "urn:sandbox:cds-hooks", ctx, granted, lifetime_s)
        self.tokens.save_token(Token(value, client_id, granted, ctx, lifetime_s))
        return {
            "access_token": value,
            "token_type": "Bearer",
            "expires_in": lifetime_s,
            "scope": granted,
            "patient": patient_id,
        }

    def token_context(self, ctx: AuthContext, scope: str) -> dict[str, Any]:
        """The launch context that travels beside the access token (SMART 2.2 §Launch context)."""
        granted, _ = parse_scopes(scope)
        extra: dict[str, Any] = {}
        if ctx.patient_id:
            extra["patient"] = ctx.patient_id
        if ctx.encounter_id:
            extra["encounter"] = ctx.encounter_id
        ehr_launch = ctx.launch_id is not None
        # The EHR already shows a banner around an embedded app; Epic sends the flag as a string.
        banner = not ehr_launch
        extra["need_patient_banner"] = ("true" if banner else "false") if ctx.flavour == "epic" else banner
        extra["smart_style_url"] = f"{self.settings.base_url.rstrip('/')}/auth/smart-style.json"
        if ctx.app_context:
            extra["appContext"] = ctx.app_context
        if "fhirUser" in granted or "openid" in granted:
            extra["fhirUser"] = self.fhir_user(ctx)
        extra["tenant"] = ctx.flavour
        return extra


class SandboxBearerValidator(BearerTokenValidator):
    def __init__(self, store: TokenStore) -> None:
        super().__init__(realm="sandbox-fhir")
        self.store = store

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.store.by_access(token_string)


def make_resource_protector(store: TokenStore) -> ResourceProtector:
    protector = ResourceProtector()
    protector.register_token_validator(SandboxBearerValidator(store))
    return protector


__all__ = ["SandboxAuthorizationServer", "check_flavour_rules", "make_resource_protector"]
