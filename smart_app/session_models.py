"""What the server keeps about a launch in flight and about a launched session (never the browser)."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field


class PendingLaunch(BaseModel):
    """Between the redirect to ``authorize`` and the callback: keyed by the single-use ``state``."""

    browser_hash: str  # hash of the browser cookie the state is bound to
    iss: str
    launch: str | None = None
    standalone: bool = False
    code_verifier: str
    nonce: str | None = None
    scope: str
    scope_version: str = "v2"
    retried_v1: bool = False  # already fell back from v2 to v1 scopes once
    client_id: str
    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    jwks_uri: str | None = None
    created_at: float = Field(default_factory=time.time)


class SmartSession(BaseModel):
    """One launch's tokens and context; keyed by the per-launch id in the URL path, bound to the cookie."""

    browser_hash: str
    iss: str
    client_id: str
    token_endpoint: str
    access_token: str
    refresh_token: str | None = None
    expires_at: float
    requested_scope: str
    granted_scope: str | None = None
    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool = True
    smart_style_url: str | None = None
    app_context: str | None = None
    fhir_user: str | None = None
    standalone: bool = False
    created_at: float = Field(default_factory=time.time)
    refreshed: int = 0  # how many times the access token was refreshed (tests, diagnostics)

    def expires_in(self, now: float | None = None) -> float:
        return self.expires_at - (now if now is not None else time.time())
