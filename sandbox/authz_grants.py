"""authlib grant classes and extensions that make the sandbox a SMART authorization server.

* :class:`SmartAuthorizationCodeGrant`: RFC 6749 §4.1 with SMART's checks (``aud`` = FHIR base, EHR
  ``launch`` resolution, no ``system/`` scopes, flavour rules) and the launch context in the token response.
* :class:`SmartCodeChallenge`: RFC 7636 with S256 only (SMART 2.2 §Considerations for PKCE).
* :class:`SmartRefreshTokenGrant`: RFC 6749 §6, single-use (rotated) refresh tokens.
* :class:`SmartOpenIDCode`: OIDC Core §3.1 id_token (RS256) with the ``fhirUser`` claim.
* :class:`SmartIntrospectionEndpoint`: RFC 7662 with SMART's extra members.

Grants reach the sandbox state through ``self.server`` (a ``SandboxAuthorizationServer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode

from sandbox.authz_scopes import ScopeSyntaxError, parse_scopes, scope_versions
from sandbox.clients import RegisteredClient
from sandbox.tokens import AuthContext, AuthorizationCode, Token, TokenStore

if TYPE_CHECKING:  # the server module imports this one
    from sandbox.authz_server import SandboxAuthorizationServer

PUBLIC_AND_CONFIDENTIAL = ["none", "client_secret_basic"]


def check_flavour_rules(flavour: str, scope: str, aud: str | None, fhir_base: str) -> None:
    """Vendor rules that depend on the flavour, raised as OAuth errors (the caller sets redirect_uri)."""
    if aud is None and flavour == "epic":
        raise InvalidRequestError("The 'aud' parameter is required (the FHIR base URL).")
    if flavour == "cerner" and 2 in scope_versions(scope):
        raise InvalidScopeError(
            "This EHR (cerner flavour) supports SMART v1 scopes only (e.g. patient/Observation.read); "
            "v2 scopes such as patient/Observation.rs are not supported."
        )


class SmartCodeChallenge(CodeChallenge):
    """PKCE with S256 for every client (SMART 2.2 §Considerations for PKCE: ``plain`` MUST NOT be used)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with method S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256; 'plain' is not supported.")
        super().validate_code_challenge(grant, redirect_uri)


class SmartAuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = PUBLIC_AND_CONFIDENTIAL

    def __init__(self, request: OAuth2Request, server: SandboxAuthorizationServer) -> None:
        super().__init__(request, server)
        self.register_hook("after_validate_authorization_request_payload", self._validate_smart_request)
        self.register_hook("after_create_token_response", self._add_launch_context)

    def _validate_smart_request(self, grant: Any, redirect_uri: str) -> None:
        data = self.request.payload.data
        server: SandboxAuthorizationServer = self.server
        aud = data.get("aud")
        if aud is not None and aud.rstrip("/") != server.fhir_base:
            raise InvalidRequestError(f"'aud' must be this server's FHIR base URL ({server.fhir_base}).")
        try:
            context, clinical = parse_scopes(data.get("scope"))
        except ScopeSyntaxError as err:
            raise InvalidScopeError(str(err)) from err
        if any(c.level == "system" for c in clinical):
            raise InvalidScopeError(
                "system/ scopes need SMART Backend Services, which this EHR does not offer."
            )
        if "launch" in context and not data.get("launch"):
            raise InvalidRequestError("Scope 'launch' requires the 'launch' parameter from the EHR.")
        if data.get("launch"):
            ctx = server.launches.resolve(data["launch"])
            if ctx is None:
                raise InvalidRequestError("Unknown or expired 'launch' value.")
            check_flavour_rules(ctx.flavour, data.get("scope") or "", aud, server.fhir_base)

    def _add_launch_context(self, grant: Any, response: Any) -> None:
        _, token, _ = response
        server: SandboxAuthorizationServer = self.server
        token.update(server.token_context(self.request.user, token.get("scope", "")))

    def generate_token(self, user: Any = None, scope: Any = None, **kwargs: Any) -> Any:
        # A refresh token only for offline_access / online_access (SMART 2.2 §Scopes for requesting a
        # refresh token).
        context, _ = parse_scopes(scope)
        wants_refresh = bool(context & {"offline_access", "online_access"})
        kwargs["include_refresh_token"] = kwargs.get("include_refresh_token", True) and wants_refresh
        return super().generate_token(user=user, scope=scope, **kwargs)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.tokens.save_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.scope or "",
                context=request.user,
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                nonce=data.get("nonce"),
            )
        )

    def query_authorization_code(self, code: str, client: RegisteredClient) -> AuthorizationCode | None:
        result: AuthorizationCode | None = self.server.tokens.get_code(code, client.client_id)
        return result

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.tokens.delete_code(authorization_code.code)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> AuthContext:
        return authorization_code.context


class SmartRefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = PUBLIC_AND_CONFIDENTIAL
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate: each refresh token is single-use

    def __init__(self, request: OAuth2Request, server: SandboxAuthorizationServer) -> None:
        super().__init__(request, server)
        self.register_hook("after_create_token_response", self._add_launch_context)

    def _add_launch_context(self, grant: Any, response: Any) -> None:
        _, token, _ = response
        server: SandboxAuthorizationServer = self.server
        token.update(server.token_context(self.request.user, token.get("scope", "")))

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token: Token | None = self.server.tokens.by_refresh(refresh_token)
        return token

    def authenticate_user(self, refresh_token: Token) -> AuthContext:
        return refresh_token.context

    def revoke_old_credential(self, refresh_token: Token) -> None:
        self.server.tokens.revoke_refresh(refresh_token)


class SmartOpenIDCode(OpenIDCode):
    """id_token for ``openid fhirUser`` (SMART 2.2 §Scopes for requesting identity data)."""

    def __init__(self, server: SandboxAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return self.server.tokens.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: RegisteredClient) -> Any:
        return self.server.key.key

    def get_client_algorithm(self, client: RegisteredClient) -> str:
        return "RS256"

    def get_encode_header(self, client: RegisteredClient) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.server.key.kid, "typ": "JWT"}

    def get_client_claims(self, client: RegisteredClient) -> dict[str, Any]:
        return {"iss": self.server.issuer, "aud": client.client_id}

    def generate_user_info(self, user: AuthContext, scope: str) -> dict[str, Any]:
        info: dict[str, Any] = {"sub": user.user_id}
        if "fhirUser" in scope.split() or "profile" in scope.split():
            info["fhirUser"] = self.server.fhir_user(user)
        return info


class SmartIntrospectionEndpoint(IntrospectionEndpoint):
    """RFC 7662 token introspection with SMART's extra members (SMART 2.2 §Token Introspection)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        store: TokenStore = self.server.tokens
        if token_type_hint == "refresh_token":  # noqa: S105 (a hint name, not a secret)
            return store.by_refresh(token_string)
        return store.by_access(token_string) or store.by_refresh(token_string)

    def check_permission(self, token: Token, client: RegisteredClient, request: OAuth2Request) -> bool:
        return True  # any authenticated client of this EHR may introspect (a resource server's role)

    def introspect_token(self, token: Token) -> dict[str, Any]:
        server: SandboxAuthorizationServer = self.server
        active = not token.is_expired() and not token.is_revoked()
        if not active:
            return {"active": False}
        payload: dict[str, Any] = {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "token_type": "Bearer",
            "sub": token.context.user_id,
            "iss": server.issuer,
            "exp": int(token.issued_at + token.expires_in),
            "iat": int(token.issued_at),
        }
        payload.update(server.token_context(token.context, token.scope))
        return payload
