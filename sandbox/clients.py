"""Registered OAuth clients, read from the app's registration manifest (``launch.json``).

An EHR administrator registers a SMART app from what its vendor publishes: client id, redirect URIs,
launch URL, scopes. The sandbox does the same from ``launch.json`` and registers two clients:

* ``evidence-cds``: public client (``token_endpoint_auth_method: none``), PKCE S256 mandatory.
* ``evidence-cds-confidential``: the same app as a confidential client (``client_secret_basic``), only
  when the ``confidential_client_secret`` setting is set (no secret is ever committed).

When the product runs on another origin than the manifest says (tests on ephemeral ports), URLs that
start with the manifest's origin are rebased onto ``app_base_url``.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from sandbox.authz_scopes import ScopeSyntaxError, parse_scope

CONFIDENTIAL_SUFFIX = "-confidential"


class ManifestError(ValueError):
    """``launch.json`` is missing or malformed."""


@dataclass
class RegisteredClient(ClientMixin):
    client_id: str
    client_name: str
    redirect_uris: list[str]
    launch_url: str
    allowed_scopes: list[str]
    auth_method: str = "none"  # none | client_secret_basic
    client_secret: str | None = None
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    extra: dict[str, Any] = field(default_factory=dict)

    # --- authlib ClientMixin ------------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client is registered for, in request order (unknown ones dropped).

        A granular v2 request (``patient/Observation.rs?category=laboratory``) is allowed when the
        registration holds the unconstrained scope.
        """
        if not scope:
            return ""
        allowed_clinical = []
        for item in self.allowed_scopes:
            try:
                parsed = parse_scope(item)
            except ScopeSyntaxError:
                continue
            if parsed is not None:
                allowed_clinical.append(parsed)
        kept: list[str] = []
        for item in scope.split():
            try:
                parsed = parse_scope(item)
            except ScopeSyntaxError:
                continue
            if parsed is None:
                if item in self.allowed_scopes:
                    kept.append(item)
            elif any(a.covers(parsed) for a in allowed_clinical):
                kept.append(item)
        return " ".join(dict.fromkeys(kept))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (RFC 9700 §4.1.3): no prefix or wildcard matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.auth_method
        # Introspection needs an authenticated (confidential) client.
        return self.auth_method != "none" and method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"


def _rebase(url: str, manifest_origin: str, app_base_url: str | None) -> str:
    if app_base_url and url.startswith(manifest_origin):
        return app_base_url.rstrip("/") + url[len(manifest_origin) :]
    return url


def load_clients(
    manifest_path: Path, app_base_url: str | None, confidential_secret: str | None
) -> dict[str, RegisteredClient]:
    """Register the app described by ``manifest_path`` (and its confidential variant, if configured)."""
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        client_id = str(manifest["client_id"])
        launch_url = str(manifest["launch_url"])
        redirect_uris = [str(u) for u in manifest["redirect_uris"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ManifestError(f"cannot read registration manifest {manifest_path}: {err}") from err
    parts = urlsplit(launch_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    scopes_by_version = manifest.get("scopes") or {}
    allowed = list(dict.fromkeys(s for v in ("v2", "v1") for s in str(scopes_by_version.get(v, "")).split()))
    public = RegisteredClient(
        client_id=client_id,
        client_name=str(manifest.get("client_name", client_id)),
        redirect_uris=[_rebase(u, origin, app_base_url) for u in redirect_uris],
        launch_url=_rebase(launch_url, origin, app_base_url),
        allowed_scopes=allowed,
        extra={
            "cds_discovery_url": _rebase(str(manifest.get("cds_discovery_url", "")), origin, app_base_url)
        },
    )
    clients = {public.client_id: public}
    if confidential_secret:
        conf = RegisteredClient(
            client_id=client_id + CONFIDENTIAL_SUFFIX,
            client_name=public.client_name + " (confidential)",
            redirect_uris=public.redirect_uris,
            launch_url=public.launch_url,
            allowed_scopes=allowed,
            auth_method="client_secret_basic",
            client_secret=confidential_secret,
            extra=public.extra,
        )
        clients[conf.client_id] = conf
    return clients
