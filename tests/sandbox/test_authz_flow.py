"""The sandbox's SMART authorization server over real HTTP: discovery, code + PKCE, refresh, id_token,
EHR launch, confidential clients, introspection (SMART App Launch 2.2; RFC 6749, 7636, 7662)."""

from __future__ import annotations

from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from sandbox.tokens import SigningKey
from tests.sandbox.smart_support import (
    CONFIDENTIAL_SECRET,
    REDIRECT_URI,
    V1_SCOPES,
    V2_SCOPES,
    SmartClient,
    query_of,
)


def test_smart_configuration_advertises_endpoints_and_capabilities(smart: SmartClient) -> None:
    conf = requests.get(f"{smart.fhir}/.well-known/smart-configuration", timeout=10).json()
    assert conf["authorization_endpoint"] == f"{smart.base}/auth/authorize"
    assert conf["token_endpoint"] == f"{smart.base}/auth/token"
    assert conf["jwks_uri"] == f"{smart.base}/auth/jwks"
    assert conf["code_challenge_methods_supported"] == ["S256"]
    assert set(conf["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    for cap in (
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "client-confidential-symmetric",
        "context-ehr-patient",
        "context-standalone-patient",
        "sso-openid-connect",
        "permission-v1",
        "permission-v2",
        "permission-patient",
    ):
        assert cap in conf["capabilities"]
    oidc = requests.get(f"{smart.fhir}/.well-known/openid-configuration", timeout=10).json()
    assert oidc["issuer"] == conf["issuer"] and oidc["jwks_uri"] == conf["jwks_uri"]


def test_standalone_code_flow_with_pkce_returns_patient_context_and_verifiable_id_token(
    smart: SmartClient,
) -> None:
    scope = f"launch/patient openid fhirUser offline_access {V2_SCOPES}"
    params = smart.authorize_params(scope, nonce="n-123")
    http = requests.Session()
    redirect = smart.authorize(params, patient="demo-trial", http=http)
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    got = query_of(location)
    assert got["state"] == params["state"]
    resp = smart.exchange(got["code"], params["_verifier"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["patient"] == "demo-trial"
    assert body["need_patient_banner"] is True  # standalone: the app shows its own banner
    assert set(body["scope"].split()) == set(scope.split())
    assert body["refresh_token"] and body["expires_in"] > 0
    assert body["fhirUser"] == f"{smart.fhir}/Practitioner/demo-practitioner"
    # The id_token is verified with an independent library against the published JWKS.
    conf = requests.get(f"{smart.fhir}/.well-known/smart-configuration", timeout=10).json()
    keys = KeySet.import_key_set(requests.get(conf["jwks_uri"], timeout=10).json())
    token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["kid"]
    claims = token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": conf["issuer"]},
        aud={"essential": True, "value": "evidence-cds"},
        exp={"essential": True},
    ).validate(claims)
    assert claims["fhirUser"] == body["fhirUser"] and claims["sub"] == "demo-practitioner"
    assert claims["nonce"] == "n-123"
    # A code is single-use.
    again = smart.exchange(got["code"], params["_verifier"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_authorization_request_by_post(smart: SmartClient) -> None:
    params = smart.authorize_params(f"launch/patient {V2_SCOPES}")
    redirect = smart.authorize(params, patient="demo-warfarin-ppi", post_request=True)
    assert redirect.status_code == 302, redirect.text
    got = query_of(redirect.headers["Location"])
    assert got["state"] == params["state"]
    assert smart.exchange(got["code"], params["_verifier"]).json()["patient"] == "demo-warfarin-ppi"


def test_wrong_code_verifier_is_invalid_grant(smart: SmartClient) -> None:
    params = smart.authorize_params(f"launch/patient {V2_SCOPES}")
    got = query_of(smart.authorize(params).headers["Location"])
    other_verifier = smart.authorize_params("x")["_verifier"]
    resp = smart.exchange(got["code"], other_verifier)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    missing = smart.exchange(got["code"], "")
    assert missing.status_code == 400


def _bad(**changes: str | None) -> dict[str, str | None]:
    return changes


BAD_AUTHORIZE_REQUESTS = {
    "plain PKCE": (_bad(code_challenge_method="plain"), "invalid_request"),
    "no PKCE": (_bad(code_challenge=None, code_challenge_method=None), "invalid_request"),
    "wrong aud": (_bad(aud="http://elsewhere.example/fhir"), "invalid_request"),
    "system scope": (_bad(scope="system/Observation.rs"), "invalid_scope"),
    "unknown launch": (_bad(scope="launch openid", launch="no-such-launch"), "invalid_request"),
    "launch scope without launch": (_bad(scope="launch openid"), "invalid_request"),
}


def test_bad_authorize_requests_redirect_back_with_an_error(smart: SmartClient) -> None:
    for name, (changes, error) in BAD_AUTHORIZE_REQUESTS.items():
        params = smart.authorize_params(f"launch/patient {V2_SCOPES}")
        params.update({k: v for k, v in changes.items() if v is not None})
        for k, v in changes.items():
            if v is None:
                params.pop(k)
        resp = smart.authorize(params)
        assert resp.status_code == 302, name
        got = query_of(resp.headers["Location"])
        assert got.get("error") == error, (name, got)
        assert got["state"] == params["state"], name
        assert "code" not in got, name


def test_unregistered_redirect_uri_or_client_is_never_redirected_to(smart: SmartClient) -> None:
    for change in ({"redirect_uri": "http://evil.example/cb"}, {"client_id": "not-registered"}):
        params = smart.authorize_params(f"launch/patient {V2_SCOPES}", **change)
        resp = smart.authorize(params)
        assert resp.status_code == 400
        assert "Location" not in resp.headers
        assert resp.json()["error"] in ("invalid_request", "invalid_client")


def test_user_denial_is_access_denied(smart: SmartClient) -> None:
    resp = smart.authorize(smart.authorize_params(f"launch/patient {V2_SCOPES}"), decision="deny")
    assert query_of(resp.headers["Location"])["error"] == "access_denied"


def test_refresh_token_rotates_and_keeps_context(smart: SmartClient) -> None:
    first = smart.login(f"launch/patient offline_access {V2_SCOPES}", patient="demo-digoxin")
    url = f"{smart.base}/auth/token"
    data = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": "evidence-cds",
    }
    second = requests.post(url, data=data, timeout=10)
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["access_token"] != first["access_token"]
    assert body["patient"] == "demo-digoxin" and body["refresh_token"] != first["refresh_token"]
    assert smart.get("Patient/demo-digoxin", body["access_token"]).status_code == 200
    replay = requests.post(url, data=data, timeout=10)  # the rotated-out refresh token is dead
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # Without offline_access no refresh token is issued at all.
    assert "refresh_token" not in smart.login(f"launch/patient {V2_SCOPES}")


def test_ehr_launch_resolves_context_without_a_page(smart: SmartClient) -> None:
    launches = smart.app.extensions["sandbox_launches"]
    ctx = launches.create("demo-digoxin", "demo-digoxin-enc-1", "demo-practitioner", "generic")
    params = smart.authorize_params(f"launch openid fhirUser {V2_SCOPES}", launch=ctx.launch_id)
    redirect = smart.authorize(params)
    assert redirect.status_code == 302
    code = query_of(redirect.headers["Location"])["code"]
    body = smart.exchange(code, params["_verifier"]).json()
    assert body["patient"] == "demo-digoxin" and body["encounter"] == "demo-digoxin-enc-1"
    assert body["need_patient_banner"] is False
    assert body["smart_style_url"].startswith(smart.base)
    assert body["access_token"].count(".") == 2  # generic flavour: a signed JWT


def test_epic_flavour_quirks(smart: SmartClient) -> None:
    launches = smart.app.extensions["sandbox_launches"]
    ctx = launches.create("demo-warfarin", "demo-warfarin-enc-1", "demo-practitioner", "epic")
    params = smart.authorize_params(f"launch {V2_SCOPES}", launch=ctx.launch_id)
    body = smart.exchange(
        query_of(smart.authorize(params).headers["Location"])["code"], params["_verifier"]
    ).json()
    assert body["need_patient_banner"] == "false"  # a string, as Epic sends it
    assert "." not in body["access_token"]  # opaque
    no_aud = smart.authorize_params(f"launch {V2_SCOPES}", launch=ctx.launch_id)
    no_aud.pop("aud")
    refused = query_of(smart.authorize(no_aud).headers["Location"])
    assert refused["error"] == "invalid_request" and "aud" in refused["error_description"]
    standalone = smart.authorize(
        smart.authorize_params(f"launch/patient {V2_SCOPES}", aud=None), flavour="epic"
    )
    assert query_of(standalone.headers["Location"])["error"] == "invalid_request"


def test_cerner_flavour_refuses_v2_scopes_and_accepts_v1(smart: SmartClient) -> None:
    v2 = smart.authorize(smart.authorize_params(f"launch/patient {V2_SCOPES}"), flavour="cerner")
    got = query_of(v2.headers["Location"])
    assert got["error"] == "invalid_scope" and "v1" in got["error_description"]
    body = smart.login(f"launch/patient {V1_SCOPES}", patient="demo-warfarin", flavour="cerner")
    assert smart.get("Observation", body["access_token"], patient="demo-warfarin").status_code == 200


def test_confidential_client_and_introspection(smart: SmartClient) -> None:
    conf = SmartClient(smart.base, smart.app, client_id="evidence-cds-confidential")
    params = conf.authorize_params(f"launch/patient {V2_SCOPES}")
    code = query_of(conf.authorize(params, patient="demo-trial").headers["Location"])["code"]
    wrong = conf.exchange(code, params["_verifier"], auth=("evidence-cds-confidential", "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    resp = conf.exchange(code, params["_verifier"], auth=("evidence-cds-confidential", CONFIDENTIAL_SECRET))
    assert resp.status_code == 200, resp.text
    access = resp.json()["access_token"]
    url = f"{smart.base}/auth/introspect"
    auth = ("evidence-cds-confidential", CONFIDENTIAL_SECRET)
    info = requests.post(url, data={"token": access}, auth=auth, timeout=10).json()
    assert info["active"] is True and info["patient"] == "demo-trial" and info["client_id"] == conf.client_id
    assert requests.post(url, data={"token": "nope"}, auth=auth, timeout=10).json() == {"active": False}
    public = requests.post(url, data={"token": access, "client_id": "evidence-cds"}, timeout=10)
    assert public.status_code == 401


def test_expired_access_token_is_401(smart: SmartClient) -> None:
    token = smart.login(f"launch/patient {V2_SCOPES}")["access_token"]
    assert smart.get("Patient/demo-warfarin", token).status_code == 200
    smart.app.extensions["sandbox_tokens"].expire_access(token)
    resp = smart.get("Patient/demo-warfarin", token)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
    assert resp.json()["resourceType"] == "OperationOutcome"


def test_signing_key_survives_a_restart(tmp_path: Path) -> None:
    first = SigningKey.load_or_create(tmp_path / "key.json")
    second = SigningKey.load_or_create(tmp_path / "key.json")
    assert first.kid == second.kid and first.jwks() == second.jwks()
    assert "d" not in first.jwks()["keys"][0]  # the published set holds no private part
    assert (tmp_path / "key.json").stat().st_mode & 0o077 == 0
