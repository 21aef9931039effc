"""Routes of the sandbox's SMART authorization server (thin: parse → authlib server → respond).

* ``GET  /fhir/.well-known/smart-configuration`` (SMART App Launch 2.2 §Conformance) and
  ``GET /fhir/.well-known/openid-configuration`` (OIDC Discovery 1.0)
* ``GET|POST /auth/authorize``: EHR launch (``launch`` resolved, no page) or standalone launch (a
  sign-in + patient picker page that posts back here)
* ``POST /auth/token`` (authorization_code, refresh_token), ``POST /auth/introspect`` (RFC 7662),
  ``GET /auth/jwks`` (id_token keys), ``GET /auth/smart-style.json`` (SMART §Styling)
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, session

from sandbox.authz_server import SandboxAuthorizationServer, check_flavour_rules, make_resource_protector
from sandbox.clients import load_clients
from sandbox.launch_context import FLAVOURS, LaunchRegistry
from sandbox.settings import SandboxSettings
from sandbox.store import PatientStore
from sandbox.tokens import AuthContext, SigningKey, TokenStore

bp = Blueprint("sandbox_auth", __name__)

SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.rs",
    "patient/*.read",
    "user/*.rs",
    "user/*.read",
]
CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "context-banner",
    "context-style",
    "sso-openid-connect",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "authorize-post",
]


def init_app(app: Flask) -> None:
    """Create the per-app authorization server and resource protector; register the routes."""
    settings: SandboxSettings = app.extensions["sandbox_settings"]
    launches: LaunchRegistry = app.extensions["sandbox_launches"]
    clients = load_clients(
        settings.launch_manifest, settings.app_base_url, settings.confidential_client_secret
    )
    tokens = TokenStore()
    key = SigningKey.load_or_create(settings.state_dir / "auth_signing_key.json")
    server = SandboxAuthorizationServer(settings, clients, tokens, key, launches)
    server.init_app(app)
    app.extensions["sandbox_clients"] = clients
    app.extensions["sandbox_tokens"] = tokens
    app.extensions["sandbox_authz"] = server
    app.extensions["sandbox_protector"] = make_resource_protector(tokens)
    # The EHR shell mints fhirAuthorization tokens for CDS Hooks calls through this (see ehr_shell.py).
    app.extensions["sandbox_mint_access_token"] = server.mint_access_token
    app.register_blueprint(bp)


def authz_server(app: Flask) -> SandboxAuthorizationServer:
    server: SandboxAuthorizationServer = app.extensions["sandbox_authz"]
    return server


@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration() -> Response:
    server = authz_server(current_app)
    base = server.settings.base_url.rstrip("/")
    return _public_json(
        {
            "issuer": server.issuer,
            "jwks_uri": f"{base}/auth/jwks",
            "authorization_endpoint": f"{base}/auth/authorize",
            "token_endpoint": f"{base}/auth/token",
            "introspection_endpoint": f"{base}/auth/introspect",
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
            "scopes_supported": SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": CAPABILITIES,
        }
    )


@bp.get("/fhir/.well-known/openid-configuration")
def openid_configuration() -> Response:
    server = authz_server(current_app)
    base = server.settings.base_url.rstrip("/")
    return _public_json(
        {
            "issuer": server.issuer,
            "authorization_endpoint": f"{base}/auth/authorize",
            "token_endpoint": f"{base}/auth/token",
            "jwks_uri": f"{base}/auth/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "fhirUser", "profile"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "fhirUser", "nonce"],
        }
    )


@bp.get("/auth/jwks")
def jwks() -> Response:
    return _public_json(authz_server(current_app).key.jwks())


@bp.get("/auth/smart-style.json")
def smart_style() -> Response:
    return _public_json(
        {
            "color_background": "#f6f7f9",
            "color_highlight": "#1f6feb",
            "color_modal_backdrop": "rgba(0,0,0,0.4)",
            "color_success": "#1a7f37",
            "color_error": "#cf222e",
            "color_text": "#1f2328",
            "dim_border_radius": "4px",
            "dim_font_size": "14px",
            "font_family_body": "system-ui, sans-serif",
            "font_family_heading": "system-ui, sans-serif",
        }
    )


@bp.route("/auth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    server = authz_server(current_app)
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as err:
        return server.handle_error_response(None, err)
    data = request.values
    if data.get("launch"):
        # EHR launch: the clinician is signed in to the EHR and the app is admin-approved, so no page.
        ctx = server.launches.resolve(data["launch"])
        if ctx is None:  # expired between validation and now
            return server.create_authorization_response(grant_user=None, grant=grant)
        user = AuthContext(
            ctx.user_id, ctx.patient_id, ctx.encounter_id, ctx.flavour, ctx.launch_id, ctx.app_context
        )
        return server.create_authorization_response(grant_user=user, grant=grant)
    if request.method == "GET" or "decision" not in request.form:
        return _picker(server, grant)
    expected = session.pop("sandbox_authz_csrf", None)
    if not expected or not hmac.compare_digest(expected, request.form.get("csrf", "")):
        return _picker(server, grant, error="The sign-in form expired; please try again.", status=400)
    if request.form.get("decision") != "approve":
        return server.create_authorization_response(grant_user=None, grant=grant)  # access_denied
    return _approve_standalone(server, grant)


def _approve_standalone(server: SandboxAuthorizationServer, grant: Any) -> Any:
    form = request.form
    store: PatientStore = current_app.extensions["sandbox_store"]
    flavour = form.get("flavour") or server.settings.default_flavour
    if flavour not in FLAVOURS:
        return _picker(server, grant, error=f"Unknown EHR flavour {flavour!r}.", status=400)
    user_id = form.get("user") or server.settings.ehr_user_id
    if user_id not in _practitioner_ids(store, server.settings):
        return _picker(server, grant, error="Unknown clinician.", status=400)
    scope = grant.request.scope or ""
    patient_id = form.get("patient") or None
    if "launch/patient" in scope.split():
        if not patient_id or store.get("Patient", patient_id) is None:
            return _picker(server, grant, error="Choose a patient.", status=400)
    else:
        patient_id = None
    try:
        check_flavour_rules(flavour, scope, request.values.get("aud"), server.fhir_base)
    except OAuth2Error as err:
        err.redirect_uri = grant.redirect_uri
        err.state = grant.request.payload.state
        return server.handle_error_response(None, err)
    user = AuthContext(user_id, patient_id, None, flavour)
    return server.create_authorization_response(grant_user=user, grant=grant)


_PICKER_FIELDS = frozenset({"csrf", "decision", "patient", "user", "flavour"})


def _practitioner_ids(store: PatientStore, settings: SandboxSettings) -> list[str]:
    ids = [str(p["id"]) for p in store.all_of("Practitioner")][:50]
    return list(dict.fromkeys([settings.ehr_user_id, *ids]))


def _picker(
    server: SandboxAuthorizationServer, grant: Any, error: str | None = None, status: int = 200
) -> Any:
    store: PatientStore = current_app.extensions["sandbox_store"]
    token = secrets.token_urlsafe(16)
    session["sandbox_authz_csrf"] = token
    scope = grant.request.scope or ""
    html = render_template(
        "sandbox/auth_picker.html",
        client=grant.request.client,
        scopes=scope.split(),
        needs_patient="launch/patient" in scope.split(),
        patients=store.patients(),
        practitioners=_practitioner_ids(store, server.settings),
        flavours=FLAVOURS,
        default_flavour=server.settings.default_flavour,
        default_user=server.settings.ehr_user_id,
        csrf=token,
        error=error,
        # Re-posted with the form, so an authorization request that arrived by POST survives the page.
        oauth_params=[(k, v) for k, v in request.values.items(multi=True) if k not in _PICKER_FIELDS],
    )
    return Response(html, status=status, mimetype="text/html")


@bp.post("/auth/token")
def token() -> Any:
    return authz_server(current_app).create_token_response()


@bp.post("/auth/introspect")
def introspect() -> Any:
    return authz_server(current_app).create_endpoint_response("introspection")


def _public_json(body: dict[str, Any]) -> Response:
    resp = jsonify(body)
    # Discovery documents and keys are public; browser-side SMART clients fetch them cross-origin.
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


__all__ = ["TokenStore", "authz_server", "bp", "init_app"]
