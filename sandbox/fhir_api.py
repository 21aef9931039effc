"""Read-only FHIR R4 API over the PatientStore, protected by the sandbox's SMART authorization server.

* ``GET /fhir/metadata``: CapabilityStatement (public, FHIR R4 §capabilitystatement; SMART oauth-uris)
* ``GET /fhir/<Type>/<id>``: read; ``GET /fhir/<Type>?…`` and ``POST /fhir/<Type>/_search``: search
  returning a ``searchset`` Bundle with ``total``, ``fullUrl``, ``search.mode`` and ``next`` links.

Access (SMART App Launch 2.2 §Scopes): a bearer token from ``/auth/token`` is required (401 +
``WWW-Authenticate: Bearer`` otherwise). A read needs ``r`` and a search ``s`` on the type (v1 ``.read``
gives both); ``patient/`` scopes confine the token to its patient's compartment — naming another
patient, or reading their resource, is 403 with an OperationOutcome. Responses are
``application/fhir+json``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, Flask, Response, current_app, request

from sandbox.authz_scopes import Grant, grant_for
from sandbox.fhir_capability import capability_statement
from sandbox.fhir_flavour import DerivedMedications, apply_flavour
from sandbox.fhir_outcome import FhirError, fhir_json, register_error_handlers
from sandbox.fhir_params import INCLUDES, SHARED_TYPES, SUPPORTED_TYPES
from sandbox.fhir_search import SearchRequest, matches, parse_search, sort_results
from sandbox.fhir_validate import validate_resource
from sandbox.settings import SandboxSettings
from sandbox.store import PatientStore, Resource
from sandbox.tokens import Token

bp = Blueprint("sandbox_fhir", __name__, url_prefix="/fhir")


def init_app(app: Flask) -> None:
    app.extensions["sandbox_derived_medications"] = DerivedMedications(app.extensions["sandbox_store"])
    register_error_handlers(app)
    app.register_blueprint(bp)


def _settings() -> SandboxSettings:
    s: SandboxSettings = current_app.extensions["sandbox_settings"]
    return s


def _store() -> PatientStore:
    s: PatientStore = current_app.extensions["sandbox_store"]
    return s


def _lookup(rtype: str, rid: str) -> Resource | None:
    found = _store().get(rtype, rid)
    if found is None and rtype == "Medication":
        derived: DerivedMedications = current_app.extensions["sandbox_derived_medications"]
        found = derived.get(rid)
    return found


@bp.after_request
def _cors(resp: Response) -> Response:
    # Browser-based SMART apps call the FHIR API cross-origin with a bearer token (no cookies).
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept"
    resp.headers["Access-Control-Expose-Headers"] = "Location, WWW-Authenticate"
    return resp


@bp.get("/metadata")
def metadata() -> Response:
    return _respond(capability_statement(_settings()))


@bp.get("/<rtype>/<rid>")
def read(rtype: str, rid: str) -> Response:
    _check_type(rtype)
    token = _authenticate()
    grant = _require(token, rtype, "r")
    resource = _lookup(rtype, rid)
    if resource is None:
        raise FhirError(404, f"{rtype}/{rid} is not known to this server")
    if grant.patient_only and rtype not in SHARED_TYPES:
        patient_id = _token_patient(token)
        if not _store().in_compartment(patient_id, resource):
            raise FhirError(403, f"{rtype}/{rid} is outside the patient compartment of this token")
    if grant.constraints and not _meets_constraints(rtype, resource, grant):
        raise FhirError(403, f"{rtype}/{rid} is outside the granular scopes of this token")
    return _respond(apply_flavour(resource, token.context.flavour))


@bp.get("/<rtype>")
def search(rtype: str) -> Response:
    return _search(rtype, list(request.args.items(multi=True)))


@bp.post("/<rtype>/_search")
def search_post(rtype: str) -> Response:
    _check_type(rtype)
    if request.mimetype != "application/x-www-form-urlencoded":
        raise FhirError(415, "POST _search takes an application/x-www-form-urlencoded body", "not-supported")
    params = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    return _search(rtype, params)


def _search(rtype: str, params: list[tuple[str, str]]) -> Response:
    _check_type(rtype)
    token = _authenticate()
    grant = _require(token, rtype, "s")
    settings = _settings()
    req = parse_search(rtype, params, settings.fhir_default_count, settings.fhir_max_count)
    candidates = _candidates(req, token, grant)
    found = [r for r in candidates if matches(req, r, _lookup)]
    if grant.constraints:
        found = [r for r in found if _meets_constraints(rtype, r, grant)]
    found = sort_results(req, found, _lookup)
    return _respond(_bundle(req, found, token.context.flavour))


def _candidates(req: SearchRequest, token: Token, grant: Grant) -> list[Resource]:
    store = _store()
    rtype = req.resource_type
    if rtype in SHARED_TYPES:
        items = {r["id"]: r for r in store.all_of(rtype)}
        if rtype == "Medication":
            derived: DerivedMedications = current_app.extensions["sandbox_derived_medications"]
            for med in derived.all():
                items.setdefault(med["id"], med)
        return list(items.values())
    if grant.patient_only:
        own = _token_patient(token)
        if req.patient_ids is not None and req.patient_ids - {own}:
            raise FhirError(403, "This token may only search its own patient's compartment")
        return store.for_patient(own, rtype)
    if req.patient_ids is not None:
        return [r for pid in sorted(req.patient_ids) for r in store.for_patient(pid, rtype)]
    return list(store.all_of(rtype))


def _bundle(req: SearchRequest, found: list[Resource], flavour: str) -> dict[str, Any]:
    base = _settings().fhir_base_url
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(found)}
    if req.summary_count:
        bundle["link"] = [{"relation": "self", "url": _link(base, req, req.offset, req.count)}]
        return bundle
    page = found[req.offset : req.offset + req.count]
    links = [{"relation": "self", "url": _link(base, req, req.offset, req.count)}]
    links.append({"relation": "first", "url": _link(base, req, 0, req.count)})
    if req.offset + req.count < len(found) and req.count > 0:
        links.append({"relation": "next", "url": _link(base, req, req.offset + req.count, req.count)})
    if req.offset > 0:
        links.append(
            {"relation": "previous", "url": _link(base, req, max(0, req.offset - req.count), req.count)}
        )
    bundle["link"] = links
    shown = [apply_flavour(r, flavour) for r in page]
    entries = [_entry(base, r, "match") for r in shown]
    seen = {(r["resourceType"], r["id"]) for r in shown}
    for include in req.includes:
        ref_field, target = INCLUDES[include]
        for res in shown:
            ref = (res.get(ref_field) or {}).get("reference") or ""
            if not ref.startswith(f"{target}/"):
                continue
            key = (target, ref.split("/", 1)[1])
            included = _lookup(*key)
            if included is not None and key not in seen:
                seen.add(key)
                entries.append(_entry(base, included, "include"))
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(base: str, resource: Resource, mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def _link(base: str, req: SearchRequest, offset: int, count: int) -> str:
    params = [*req.link_params, ("_count", str(count))]
    if offset:
        params.append(("_offset", str(offset)))
    return f"{base}/{req.resource_type}?{urlencode(params)}"


def _check_type(rtype: str) -> None:
    if rtype not in SUPPORTED_TYPES:
        raise FhirError(
            404,
            f"Resource type {rtype!r} is not supported by this server "
            f"(supported: {', '.join(SUPPORTED_TYPES)})",
            "not-supported",
        )


def _authenticate() -> Token:
    protector = current_app.extensions["sandbox_protector"]
    try:
        token: Token = protector.acquire_token()
    except OAuth2Error as err:
        # RFC 6750 §3: the challenge names the scheme, realm and (when a token was sent) the error.
        challenge = 'Bearer realm="sandbox-fhir"'
        if err.error and err.error != "missing_authorization":
            challenge += f', error="{err.error}"'
        raise FhirError(
            401,
            err.description or "A valid bearer token is required",
            "login",
            headers={"WWW-Authenticate": challenge},
        ) from err
    return token


def _require(token: Token, rtype: str, permission: str) -> Grant:
    grant = grant_for(token.scope, rtype, permission)
    if not grant.allowed:
        action = "read" if permission == "r" else "search"
        raise FhirError(403, f"The token's scopes do not allow {action} of {rtype} (granted: {token.scope})")
    return grant


def _token_patient(token: Token) -> str:
    if not token.context.patient_id:
        raise FhirError(403, "patient/ scopes need a patient in context; this token has none")
    return token.context.patient_id


def _meets_constraints(rtype: str, resource: Resource, grant: Grant) -> bool:
    settings = _settings()
    for query in grant.constraints:
        req = parse_search(rtype, list(query), settings.fhir_default_count, settings.fhir_max_count)
        if matches(req, resource, _lookup):
            return True
    return False


def _respond(body: dict[str, Any]) -> Response:
    if _settings().fhir_validate_responses:
        validate_resource(body)
    return fhir_json(body)
