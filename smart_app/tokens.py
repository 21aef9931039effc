"""The token endpoint's answer (SMART App Launch 2.2 §Obtain access token), parsed tolerantly.

Vendors differ: ``expires_in`` as a number or a numeric string, ``need_patient_banner`` as a boolean or
the string ``"false"``, access tokens opaque or JWT (we never look inside), extra launch context members
(``patient``, ``encounter``, ``fhirContext``, ``smart_style_url``, ``intent``, ``appContext``).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_EXPIRES_IN_S = 300  # a token without expires_in is treated as short-lived, never as eternal


class TokenResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = DEFAULT_EXPIRES_IN_S
    scope: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool = True
    smart_style_url: str | None = None
    intent: str | None = None
    app_context: str | None = Field(default=None, alias="appContext")
    tenant: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        # RFC 6749 §7.1: case-insensitive; some servers send "bearer".
        if value.lower() != "bearer":
            raise ValueError(f"unsupported token_type {value!r}")
        return "Bearer"

    @field_validator("expires_in", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if value is None or value == "":
            return DEFAULT_EXPIRES_IN_S
        if isinstance(value, str):
            return int(float(value.strip()))
        return value

    @field_validator("need_patient_banner", mode="before")
    @classmethod
    def _boolish(cls, value: Any) -> Any:
        if value is None:
            return True
        if isinstance(value, str):
            return value.strip().lower() not in {"false", "0", "no"}
        return value

    @field_validator("app_context", mode="before")
    @classmethod
    def _app_context_text(cls, value: Any) -> Any:
        # SMART 2.2 §appContext is a string; tolerate an EHR that sends the JSON object itself.
        if value is not None and not isinstance(value, str):
            import json

            return json.dumps(value)
        return value

    def expires_at(self, now: float | None = None) -> float:
        return (now if now is not None else time.time()) + max(0, self.expires_in)


def granted_resource_types(scope: str | None, requested: str) -> tuple[set[str], bool]:
    """Resource types the granted scopes let us read, and whether the wildcard ``*`` was granted.

    A token response without ``scope`` grants what was asked (RFC 6749 §5.1). v1 (``.read``, ``.*``)
    and v2 (``.rs``, ``.r``, ``.cruds``, with or without ``?query``) syntax are both understood.
    """
    types: set[str] = set()
    wildcard = False
    for item in (scope if scope is not None else requested).split():
        if "/" not in item or "." not in item:
            continue
        level, rest = item.split("/", 1)
        if level not in {"patient", "user"}:
            continue
        rtype, _, perm = rest.partition(".")
        perm = perm.split("?", 1)[0]
        # Either read or search lets us try; a server that refuses the search answers 403 and only
        # that panel degrades.
        if not (perm in {"read", "*"} or "r" in perm or "s" in perm):
            continue
        if rtype == "*":
            wildcard = True
        else:
            types.add(rtype)
    return types, wildcard


def missing_scopes(requested: str, granted: str | None) -> list[str]:
    """Requested scopes the server did not grant (shown to the user as what is unavailable)."""
    if granted is None:
        return []
    have = set(granted.split())
    return [s for s in requested.split() if s not in have]
