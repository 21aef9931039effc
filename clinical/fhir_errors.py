"""The FHIR client's exceptions: one class per meaningful HTTP status, raised at one choke point.

:func:`raise_for_status` is the only place an HTTP status becomes an exception (the pattern of
``smart-on-fhir/client-py``). Messages carry no token, no query string and no resource id, because
callers may log them.
"""

from __future__ import annotations

import requests


class FhirError(Exception):
    """A FHIR interaction failed. ``status`` is the HTTP status (``None`` for transport errors)."""

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.url = url


class FhirConnectionError(FhirError):
    """The server could not be reached (refused, DNS, reset) after the retries."""


class FhirTimeout(FhirConnectionError):
    """Connect or read timeout after the retries."""


class FhirInvalidResponse(FhirError):
    """The server answered 2xx with something that is not the FHIR JSON asked for."""


class FhirBadRequest(FhirError):
    status = 400


class FhirUnauthorized(FhirError):
    """401: the token is missing, expired or revoked (the caller may refresh and retry once)."""

    status = 401


class FhirForbidden(FhirError):
    """403: the token lacks the scope for this resource type (degrade that part of the view)."""

    status = 403


class FhirNotFound(FhirError):
    status = 404


class FhirGone(FhirError):
    status = 410


class FhirRateLimited(FhirError):
    """429 after the retries were spent."""

    status = 429


class FhirServerError(FhirError):
    """5xx (503 after the retries were spent)."""

    status = 500


_BY_STATUS: dict[int, type[FhirError]] = {
    400: FhirBadRequest,
    401: FhirUnauthorized,
    403: FhirForbidden,
    404: FhirNotFound,
    410: FhirGone,
    429: FhirRateLimited,
}


def raise_for_status(resp: requests.Response) -> None:
    """The one place an HTTP status becomes an exception (never includes the request headers)."""
    if resp.status_code < 400:
        return
    cls = _BY_STATUS.get(resp.status_code)
    if cls is None:
        cls = FhirServerError if resp.status_code >= 500 else FhirError
    url = strip_query(resp.url)
    raise cls(
        f"FHIR server answered {resp.status_code} for {_without_id(url)}", status=resp.status_code, url=url
    )


def _without_id(url: str) -> str:
    """``…/Patient/123`` → ``…/Patient/{id}``: messages may be logged, resource ids may identify."""
    head = url.rstrip("/").rpartition("/")[0]
    return f"{head}/{{id}}" if head.rsplit("/", 1)[-1][:1].isupper() else url


def strip_query(url: str) -> str:
    """URLs in messages and logs lose their query (it may carry a patient id)."""
    return url.split("?", 1)[0]
