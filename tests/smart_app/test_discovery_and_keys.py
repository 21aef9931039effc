"""Discovery (``.well-known`` → CapabilityStatement fallback), our JWKS and ``private_key_jwt``
assertions, and id_token verification — each over real loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from evidence_cds.app import create_app
from smart_app import launch
from smart_app.discovery import OAUTH_URIS, DiscoveryError, discover
from smart_app.keys import ASSERTION_TYPE, IdTokenError, client_assertion, signing_key, verify_id_token
from tests.smart_app.fhir_stub import StubFhir, running_stub
from tests.support.live_server import LiveServer


@pytest.fixture
def stub_fhir() -> Iterator[StubFhir]:
    with running_stub() as stub:
        yield stub


def _capability(authorize: str, token: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {
                            "url": OAUTH_URIS,
                            "extension": [
                                {"url": "authorize", "valueUri": authorize},
                                {"url": "token", "valueUri": token},
                            ],
                        }
                    ]
                },
            }
        ],
    }


def test_discovery_prefers_well_known(stub_fhir: StubFhir) -> None:
    stub_fhir.serve(
        "/fhir/.well-known/smart-configuration",
        {"authorization_endpoint": "https://a/authorize", "token_endpoint": "https://a/token", "issuer": "x"},
    )
    stub_fhir.serve("/fhir/metadata", _capability("https://b/authorize", "https://b/token"))
    config = discover(stub_fhir.base, use_cache=False)
    assert config.source == "well-known" and config.token_endpoint == "https://a/token"


def test_discovery_falls_back_to_the_capability_statement(stub_fhir: StubFhir) -> None:
    stub_fhir.serve("/fhir/metadata", _capability("https://b/authorize", "https://b/token"))
    config = discover(stub_fhir.base, use_cache=False)
    assert config.source == "capability-statement"
    assert (config.authorization_endpoint, config.token_endpoint) == (
        "https://b/authorize",
        "https://b/token",
    )


@pytest.mark.parametrize(
    "well_known",
    [
        None,
        {"authorization_endpoint": "https://a/authz"},  # no token endpoint, and no CapabilityStatement
        {"authorization_endpoint": "a", "token_endpoint": "b", "code_challenge_methods_supported": ["plain"]},
    ],
)
def test_discovery_failures(stub_fhir: StubFhir, well_known: dict[str, Any] | None) -> None:
    if well_known is not None:
        stub_fhir.serve("/fhir/.well-known/smart-configuration", well_known)
    with pytest.raises(DiscoveryError):
        discover(stub_fhir.base, use_cache=False)


@pytest.fixture(scope="module")
def app_jwks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The product on a loopback port: its JWKS URL and its key file path."""
    app = create_app({"instance_path": tmp_path_factory.mktemp("keys"), "testing": True, "secret_key": "k"})
    server = LiveServer().start(app)
    yield f"{server.url}/app/.well-known/jwks.json", launch.jwk_path(app.extensions["settings"])
    server.stop()


def test_client_assertion_verifies_with_our_published_jwks(app_jwks: tuple[str, Any]) -> None:
    url, path = app_jwks
    assertion = client_assertion(path, "evidence-cds", "https://ehr.example/token")
    keyset = KeySet.import_key_set(requests.get(url, timeout=10).json())
    token = jwt.decode(assertion, keyset, algorithms=["RS384"])
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "evidence-cds"
    assert claims["aud"] == "https://ehr.example/token"
    assert 0 < claims["exp"] - time.time() <= 300
    assert token.header["kid"] == keyset.keys[0].kid
    assert client_assertion(path, "evidence-cds", "x") != client_assertion(path, "evidence-cds", "x")  # jti
    assert ASSERTION_TYPE.endswith("jwt-bearer")


def _id_token(path: Any, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://ehr.example/fhir",
        "aud": "evidence-cds",
        "sub": "u1",
        "exp": now + 300,
        "iat": now,
        "nonce": "n-1",
        "fhirUser": "Practitioner/p1",
    }
    claims.update(overrides)
    key = signing_key(path)
    return jwt.encode({"alg": "RS384", "kid": key.kid}, claims, key, algorithms=["RS384"])


def test_id_token_verified_by_signature_and_claims(app_jwks: tuple[str, Any]) -> None:
    url, path = app_jwks
    claims = verify_id_token(
        _id_token(path),
        jwks_uri=url,
        issuer="https://ehr.example/fhir/",
        client_id="evidence-cds",
        nonce="n-1",
    )
    assert claims["fhirUser"] == "Practitioner/p1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"nonce": "other"},
        {"aud": "someone-else"},
        {"iss": "https://evil.example/fhir"},
        {"exp": int(time.time()) - 3600},
    ],
)
def test_id_token_with_a_wrong_claim_is_refused(app_jwks: tuple[str, Any], overrides: dict[str, Any]) -> None:
    url, path = app_jwks
    with pytest.raises(IdTokenError):
        verify_id_token(
            _id_token(path, **overrides),
            jwks_uri=url,
            issuer="https://ehr.example/fhir",
            client_id="evidence-cds",
            nonce="n-1",
            leeway_s=5,
        )


def test_id_token_signed_by_another_key_is_refused(app_jwks: tuple[str, Any]) -> None:
    url, _ = app_jwks
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger"})
    forged = jwt.encode(
        {"alg": "RS384", "kid": "stranger"},
        {
            "iss": "https://ehr.example/fhir",
            "aud": "evidence-cds",
            "exp": int(time.time()) + 60,
            "nonce": "n-1",
        },
        stranger,
        algorithms=["RS384"],
    )
    with pytest.raises(IdTokenError, match="signature"):
        verify_id_token(
            forged, jwks_uri=url, issuer="https://ehr.example/fhir", client_id="evidence-cds", nonce="n-1"
        )
