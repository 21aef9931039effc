"""A small FHIR R4 REST client: reads, paged searches and parallel fetches, parsed with R4B models.

Contract:

* one ``requests.Session`` per FHIR server base URL (connection pooling; shared across clients),
  connect/read timeouts on every call;
* retries with exponential backoff on 429 and 503 (and on connection errors), honouring
  ``Retry-After`` (seconds or HTTP date) up to ``max_retry_wait_s``;
* searches follow ``Bundle.link[relation=next]`` up to ``page_cap`` pages, and only on the same origin
  as the base URL (the bearer token never travels to another host);
* every resource is parsed with ``fhir.resources.R4B`` (via :mod:`clinical.resources`); a resource that
  fails validation is skipped and reported in ``SearchResult.warnings``;
* every non-2xx answer is turned into one exception class per meaningful status at one choke point,
  :func:`raise_for_status` (the pattern of ``smart-on-fhir/client-py``).

The client knows nothing of Flask or SMART: the caller hands it a bearer token (or a callable that
returns the current one), so the same client serves the SMART app, CDS Hooks prefetch and benchmarks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from clinical.fhir_errors import (
    FhirBadRequest,
    FhirConnectionError,
    FhirError,
    FhirForbidden,
    FhirGone,
    FhirInvalidResponse,
    FhirNotFound,
    FhirRateLimited,
    FhirServerError,
    FhirTimeout,
    FhirUnauthorized,
    raise_for_status,
    strip_query,
)
from clinical.resources import parse_resource

__all__ = [
    "FhirBadRequest",
    "FhirClient",
    "FhirClientConfig",
    "FhirConnectionError",
    "FhirError",
    "FhirForbidden",
    "FhirGone",
    "FhirInvalidResponse",
    "FhirNotFound",
    "FhirRateLimited",
    "FhirServerError",
    "FhirTimeout",
    "FhirUnauthorized",
    "Query",
    "SearchResult",
    "raise_for_status",
    "session_for",
]

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class FhirClientConfig:
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 15.0
    max_retries: int = 3
    backoff_base_s: float = 0.2
    max_retry_wait_s: float = 5.0
    page_cap: int = 20
    max_workers: int = 6


@dataclass
class SearchResult:
    """The resources of a (paged) search, R4B-parsed; ``truncated`` when the page cap stopped it."""

    resources: list[Any] = field(default_factory=list)
    pages: int = 0
    truncated: bool = False
    total: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Query:
    """A search the view needs: ``GET {base}/{resource_type}?{params}``; ``read_id`` makes it a read."""

    resource_type: str
    params: Mapping[str, str] = field(default_factory=dict)
    read_id: str | None = None


_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(base_url: str, pool_size: int = 16) -> requests.Session:
    """The shared ``requests.Session`` for one FHIR server (created on first use)."""
    key = base_url.rstrip("/")
    with _sessions_lock:
        s = _sessions.get(key)
        if s is None:
            s = requests.Session()
            adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers.update({"Accept": FHIR_JSON, "User-Agent": "evidence-cds/1"})
            _sessions[key] = s
        return s


TokenSource = str | Callable[[], str | None] | None


class FhirClient:
    """Client for one FHIR R4 server base URL, authorised by a bearer token (or none)."""

    def __init__(
        self,
        base_url: str,
        token: TokenSource = None,
        config: FhirClientConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.config = config or FhirClientConfig()
        self.session = session_for(self.base_url)
        self._sleep = sleep
        self._origin = _origin(self.base_url)
        self.requests_made = 0  # counts HTTP round trips (benchmarks, tests)

    # --- public API ------------------------------------------------------------------------------
    def get_json(self, path_or_url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET a relative path or same-origin absolute URL and return the JSON object."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}/{path_or_url.lstrip('/')}"
        if _origin(url) != self._origin:
            raise FhirInvalidResponse(f"refusing to follow a link off the FHIR server: {strip_query(url)}")
        resp = self._request(url, params)
        try:
            body = resp.json()
        except ValueError as err:
            raise FhirInvalidResponse(f"non-JSON answer from {strip_query(url)}", url=url) from err
        if not isinstance(body, dict):
            raise FhirInvalidResponse(f"unexpected JSON from {strip_query(url)}", url=url)
        return body

    def read(self, resource_type: str, resource_id: str) -> Any:
        """``GET [base]/[type]/[id]`` parsed with its R4B class."""
        body = self.get_json(f"{resource_type}/{resource_id}")
        warnings: list[str] = []
        model = parse_resource(body, warnings)
        if model is None or body.get("resourceType") != resource_type:
            raise FhirInvalidResponse(f"{resource_type}/{{id}} did not parse: {'; '.join(warnings)}")
        return model

    def search(self, resource_type: str, params: Mapping[str, str] | None = None) -> SearchResult:
        """``GET [base]/[type]?params`` following ``next`` links up to ``page_cap`` pages."""
        result = SearchResult()
        url: str | None = f"{self.base_url}/{resource_type}"
        query: Mapping[str, str] | None = params or {}
        while url is not None:
            if result.pages >= self.config.page_cap:
                result.truncated = True
                result.warnings.append(f"{resource_type}: stopped after {self.config.page_cap} pages")
                break
            bundle = self.get_json(url, query)
            query = None  # the next link carries the query
            result.pages += 1
            if bundle.get("resourceType") != "Bundle":
                raise FhirInvalidResponse(f"search {resource_type} did not return a Bundle")
            if result.total is None and isinstance(bundle.get("total"), int):
                result.total = bundle["total"]
            for entry in bundle.get("entry") or []:
                res = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(res, dict) or res.get("resourceType") == "OperationOutcome":
                    continue
                model = parse_resource(res, result.warnings)
                if model is not None:
                    result.resources.append(model)
            url = _next_link(bundle)
            if url is not None and "://" not in url:
                url = urljoin(self.base_url + "/", url)
        return result

    def fetch(self, query: Query) -> SearchResult:
        if query.read_id is not None:
            return SearchResult(resources=[self.read(query.resource_type, query.read_id)], pages=1)
        return self.search(query.resource_type, query.params)

    def fetch_parallel(self, queries: Mapping[str, Query]) -> dict[str, SearchResult | FhirError]:
        """Run the queries concurrently; each key maps to its result or to the error it raised.

        One failing query (a 403 on one resource type) never fails the others.
        """
        if not queries:
            return {}
        workers = max(1, min(self.config.max_workers, len(queries)))
        out: dict[str, SearchResult | FhirError] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fhir") as pool:
            futures = {key: pool.submit(self.fetch, q) for key, q in queries.items()}
            for key, fut in futures.items():
                try:
                    out[key] = fut.result()
                except FhirError as err:
                    out[key] = err
        return out

    # --- the choke point -----------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _request(self, url: str, params: Mapping[str, str] | None) -> requests.Response:
        cfg = self.config
        attempt = 0
        while True:
            attempt += 1
            try:
                self.requests_made += 1
                resp = self.session.get(
                    url,
                    params=dict(params) if params else None,
                    headers=self._headers(),
                    timeout=(cfg.connect_timeout_s, cfg.read_timeout_s),
                )
            except requests.Timeout as err:
                if attempt > cfg.max_retries:
                    raise FhirTimeout(f"timeout talking to {strip_query(url)}", url=url) from err
                self._sleep(self._backoff(attempt))
                continue
            except requests.ConnectionError as err:
                if attempt > cfg.max_retries:
                    raise FhirConnectionError(f"cannot reach {strip_query(url)}", url=url) from err
                self._sleep(self._backoff(attempt))
                continue
            if resp.status_code in RETRY_STATUSES and attempt <= cfg.max_retries:
                wait = _retry_after(resp.headers.get("Retry-After"))
                self._sleep(min(cfg.max_retry_wait_s, wait if wait is not None else self._backoff(attempt)))
                continue
            raise_for_status(resp)
            return resp

    def _backoff(self, attempt: int) -> float:
        return float(min(self.config.max_retry_wait_s, self.config.backoff_base_s * 2 ** (attempt - 1)))


def _retry_after(value: str | None) -> float | None:
    """``Retry-After``: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
