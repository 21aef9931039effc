"""The launch service: begin (→ authorize URL), complete (callback → session), keep tokens fresh.

SMART App Launch 2.2: §EHR Launch, §Standalone Launch, §Obtain authorization code, §Obtain access
token, §Refresh access token. Pure functions of settings + store + browser id; the blueprint only parses
the request and renders. Nothing here logs a token, a code, a state or a patient id.
"""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path

from evidence_cds.logging_setup import hash_id
from evidence_cds.settings import Settings
from smart_app import config as cfg
from smart_app import errors
from smart_app.discovery import DiscoveryError, discover
from smart_app.keys import IdTokenError, verify_id_token
from smart_app.oauth import TokenEndpointError, authorization_url, exchange_code, new_code_verifier, refresh
from smart_app.session_models import PendingLaunch, SmartSession
from smart_app.session_store import SessionStore, key_hash

log = logging.getLogger("smart_app.launch")
_refresh_locks: dict[str, threading.Lock] = {}
_refresh_locks_guard = threading.Lock()


def jwk_path(settings: Settings) -> Path:
    return settings.smart_jwk_path or settings.instance_path / "smart_app_jwk.json"


def begin_launch(
    settings: Settings,
    store: SessionStore,
    browser_id: str,
    *,
    iss: str | None,
    launch: str | None,
    standalone: bool = False,
    scope_version: str | None = None,
    retried_v1: bool = False,
) -> str:
    """Validate the launch, discover the EHR, remember a pending launch; return the authorize URL."""
    if not iss or (not standalone and not launch):
        raise errors.MissingLaunchParameter()
    iss = iss.strip().rstrip("/")
    if not cfg.is_allowed_issuer(settings, iss):
        log.warning("launch refused: issuer not on the allowlist (%s)", hash_id(iss))
        raise errors.IssuerNotAllowed()
    profile = cfg.client_profile(settings, iss, scope_version)
    try:
        smart = discover(iss, settings.smart_http_timeout_s)
    except DiscoveryError as err:
        raise errors.DiscoveryFailed() from err
    scope = profile.scope_for(standalone)
    state, verifier = secrets.token_urlsafe(32), new_code_verifier()
    nonce = secrets.token_urlsafe(24) if "openid" in scope.split() else None
    store.put_pending(
        state,
        PendingLaunch(
            browser_hash=key_hash(browser_id),
            iss=iss,
            launch=launch,
            standalone=standalone,
            code_verifier=verifier,
            nonce=nonce,
            scope=scope,
            scope_version=profile.scope_version,
            retried_v1=retried_v1,
            client_id=profile.client_id,
            authorization_endpoint=smart.authorization_endpoint,
            token_endpoint=smart.token_endpoint,
            issuer=smart.issuer,
            jwks_uri=smart.jwks_uri,
        ),
        settings.smart_launch_ttl_s,
    )
    log.info("launch started (%s, %s)", "standalone" if standalone else "ehr", profile.scope_version)
    return authorization_url(
        profile,
        authorization_endpoint=smart.authorization_endpoint,
        redirect_uri=cfg.redirect_uri(settings),
        scope=scope,
        state=state,
        code_verifier=verifier,
        launch=launch,
        nonce=nonce,
    )


def complete_or_retry(
    settings: Settings,
    store: SessionStore,
    browser_id: str | None,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
) -> str:
    """The callback: check ``state`` (single use, bound to this browser), then either finish the launch
    (→ new session id) or, when an EHR refused SMART v2 scopes with ``invalid_scope``, start the same
    launch again once with v1 scopes (→ the authorize URL; older Cerner/Oracle Health servers)."""
    pending = store.take_pending(state) if state else None
    if pending is None or browser_id is None or pending.browser_hash != key_hash(browser_id):
        log.warning("callback refused: unknown, replayed or foreign state")
        raise errors.StateInvalid()
    if error == "invalid_scope" and pending.scope_version == "v2" and not pending.retried_v1:
        log.info("EHR refused v2 scopes; retrying the launch with v1 scopes")
        return begin_launch(
            settings,
            store,
            browser_id,
            iss=pending.iss,
            launch=pending.launch,
            standalone=pending.standalone,
            scope_version="v1",
            retried_v1=True,
        )
    if error:
        log.info("authorization denied by the EHR (%s)", error[:40])
        raise errors.AuthorizationDenied()
    if not code:
        raise errors.StateInvalid("The sign-in response carried no authorization code.")
    sid, _ = finish_launch(settings, store, pending, code)
    return sid


def finish_launch(
    settings: Settings, store: SessionStore, pending: PendingLaunch, code: str
) -> tuple[str, SmartSession]:
    """Exchange the code (with the PKCE verifier), verify the id_token, store the session."""
    profile = cfg.client_profile(settings, pending.iss, pending.scope_version)
    try:
        token = exchange_code(
            profile,
            token_endpoint=pending.token_endpoint,
            redirect_uri=cfg.redirect_uri(settings),
            scope=pending.scope,
            code=code,
            code_verifier=pending.code_verifier,
            jwk_path=jwk_path(settings),
            timeout_s=settings.smart_http_timeout_s,
        )
    except TokenEndpointError as err:
        log.warning("token exchange failed: %s", err.error)
        raise errors.TokenExchangeFailed() from err
    fhir_user: str | None = None
    if token.id_token and pending.nonce:
        if not pending.jwks_uri:
            raise errors.IdTokenInvalid("The EHR returned an identity token but publishes no signing keys.")
        try:
            claims = verify_id_token(
                token.id_token,
                jwks_uri=pending.jwks_uri,
                issuer=pending.issuer or pending.iss,
                client_id=profile.client_id,
                nonce=pending.nonce,
                leeway_s=settings.smart_id_token_leeway_s,
                timeout_s=settings.smart_http_timeout_s,
            )
        except IdTokenError as err:
            log.warning("id_token rejected: %s", err)
            raise errors.IdTokenInvalid() from err
        fhir_user = str(claims.get("fhirUser") or claims.get("profile") or "") or None
    if not token.patient:
        raise errors.NoPatientContext()
    session = SmartSession(
        browser_hash=pending.browser_hash,
        iss=pending.iss,
        client_id=profile.client_id,
        token_endpoint=pending.token_endpoint,
        access_token=token.access_token,
        refresh_token=token.refresh_token,
        expires_at=token.expires_at(),
        requested_scope=pending.scope,
        granted_scope=token.scope,
        patient=token.patient,
        encounter=token.encounter,
        need_patient_banner=token.need_patient_banner,
        smart_style_url=token.smart_style_url,
        app_context=token.app_context,
        fhir_user=fhir_user,
        standalone=pending.standalone,
    )
    sid = secrets.token_urlsafe(32)
    store.put_session(sid, session, settings.smart_session_ttl_s)
    log.info("launch completed for patient %s", hash_id(token.patient))
    return sid, session


def load_session(store: SessionStore, sid: str, browser_id: str | None) -> SmartSession:
    """The session for this per-launch id, only for the browser that launched it."""
    session = store.get_session(sid)
    if session is None:
        raise errors.SessionNotFound()
    if browser_id is None or session.browser_hash != key_hash(browser_id):
        raise errors.SessionBrowserMismatch()
    return session


def _lock_for(sid: str) -> threading.Lock:
    with _refresh_locks_guard:
        return _refresh_locks.setdefault(key_hash(sid), threading.Lock())


def ensure_fresh(
    settings: Settings, store: SessionStore, sid: str, session: SmartSession, *, force: bool = False
) -> SmartSession:
    """Refresh the access token when it expires within ``smart_refresh_skew_s`` (or ``force``).

    Concurrent panels of one page share one refresh (a per-session lock, then a re-read), because a
    server that rotates refresh tokens would reject the second use of the old one.
    """
    if not force and session.expires_in() > settings.smart_refresh_skew_s:
        return session
    with _lock_for(sid):
        current = store.get_session(sid) or session
        if current.expires_at > session.expires_at:  # another request refreshed meanwhile
            return current
        if not current.refresh_token:
            raise errors.RelaunchRequired()
        profile = cfg.client_profile(settings, current.iss)
        try:
            token = refresh(
                profile,
                token_endpoint=current.token_endpoint,
                redirect_uri=cfg.redirect_uri(settings),
                refresh_token=current.refresh_token,
                jwk_path=jwk_path(settings),
                timeout_s=settings.smart_http_timeout_s,
            )
        except TokenEndpointError as err:
            log.warning("token refresh failed: %s", err.error)
            raise errors.RelaunchRequired() from err
        updated = current.model_copy(
            update={
                "access_token": token.access_token,
                "refresh_token": token.refresh_token or current.refresh_token,
                "expires_at": token.expires_at(),
                "granted_scope": token.scope or current.granted_scope,
                "refreshed": current.refreshed + 1,
            }
        )
        store.put_session(sid, updated, settings.smart_session_ttl_s)
        log.info("access token refreshed (session %s)", key_hash(sid)[:12])
        return updated
