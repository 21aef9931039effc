"""Every JWT failure of CDS Hooks 2.0 §Trusting CDS Clients is a bare 401; valid tokens pass."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.cds_services.conftest import EhrClient, KeyHost, patient_view, start_cds

SERVICE = "test-slow"  # no prefetch: isolates the trust check


def _assert_bare_401(resp: Any) -> None:
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.content == b""


def _none_alg_token(ehr: EhrClient, aud: str) -> str:
    good = ehr.token(aud)
    payload_b64 = good.split(".")[1]

    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    return f"{none_header.decode()}.{payload_b64}."


def _hs256_token(ehr: EhrClient, aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ehr.iss, "sub": "x", "aud": aud, "iat": now, "exp": now + 60, "jti": f"hs-{now}"}
    return jwt.encode(
        {"alg": "HS256", "kid": "ehr-es384-1"}, claims, OctKey.import_key("shared-secret-0123456789abcdef")
    )


CASES: dict[str, Callable[[EhrClient, str], str | None]] = {
    "no header": lambda e, aud: "",
    "alg none": _none_alg_token,
    "HS256": _hs256_token,
    "expired": lambda e, aud: e.token(
        aud, claims={"exp": int(time.time()) - 300, "iat": int(time.time()) - 400}
    ),
    "exp too far ahead": lambda e, aud: e.token(aud, claims={"exp": int(time.time()) + 3600}),
    "no exp": lambda e, aud: e.token(aud, claims={"exp": None}),
    "iat in the future": lambda e, aud: e.token(aud, claims={"iat": int(time.time()) + 600}),
    "wrong aud": lambda e, aud: e.token(aud.replace("test-slow", "record-summary")),
    "aud with trailing slash": lambda e, aud: e.token(aud + "/"),
    "unknown iss": lambda e, aud: e.token(aud, claims={"iss": "https://other-ehr.example"}),
    "jku off allowlist": lambda e, aud: e.token(aud, header={"jku": "http://127.0.0.1:9/jwks.json"}),
    "no jti": lambda e, aud: e.token(aud, claims={"jti": None}),
    "unknown kid": lambda e, aud: e.token(
        aud, key=ECKey.generate_key("P-384", parameters={"kid": "stranger"})
    ),
    "known kid, wrong key": lambda e, aud: e.token(
        aud, key=ECKey.generate_key("P-384", parameters={"kid": "ehr-es384-1"})
    ),
    "garbage": lambda e, aud: "not.a.jwt",
}


@pytest.mark.parametrize("case", list(CASES))
def test_untrusted_tokens_get_bare_401(ehr: EhrClient, case: str) -> None:
    token = CASES[case](ehr, ehr.service_url(SERVICE))
    resp = ehr.call(SERVICE, patient_view("demo-warfarin"), token=token)
    _assert_bare_401(resp)


def test_non_bearer_scheme_is_refused(ehr: EhrClient) -> None:
    resp = ehr.call(SERVICE, patient_view("p1"), token="", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    _assert_bare_401(resp)


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_es384_and_rs384_are_accepted(ehr: EhrClient, rsa_key: RSAKey, ec_key: ECKey, alg: str) -> None:
    key = rsa_key if alg == "RS384" else ec_key
    resp = ehr.call(SERVICE, patient_view("p1"), token=ehr.token(ehr.service_url(SERVICE), key=key, alg=alg))
    assert resp.status_code == 200


def test_es256_only_when_configured(ehr: EhrClient, key_host: KeyHost, tmp_path: Any) -> None:
    es256 = ECKey.generate_key("P-256", parameters={"kid": "ehr-es256"})
    key_host.keys.append(es256)
    try:
        token = ehr.token(ehr.service_url(SERVICE), key=es256, alg="ES256")
        _assert_bare_401(ehr.call(SERVICE, patient_view("p1"), token=token))
        srv = start_cds(tmp_path, key_host, cds_jwt_algorithms=["ES384", "RS384", "ES256"])
        try:
            other = EhrClient(srv.url, es256, alg="ES256")
            assert other.call(SERVICE, patient_view("p1")).status_code == 200
        finally:
            srv.server.stop()
    finally:
        key_host.keys.remove(es256)


def test_replayed_jti_is_refused(ehr: EhrClient) -> None:
    token = ehr.token(ehr.service_url(SERVICE))
    assert ehr.call(SERVICE, patient_view("p1"), token=token).status_code == 200
    _assert_bare_401(ehr.call(SERVICE, patient_view("p1"), token=token))


def test_jku_on_allowlist_is_used(ehr: EhrClient, key_host: KeyHost) -> None:
    alt = key_host.alt_keys[0]
    token = ehr.token(ehr.service_url(SERVICE), key=alt, header={"jku": key_host.alt_jwks_url})
    assert ehr.call(SERVICE, patient_view("p1"), token=token).status_code == 200
    # The same key without the jku header is not among the configured keys.
    _assert_bare_401(
        ehr.call(SERVICE, patient_view("p1"), token=ehr.token(ehr.service_url(SERVICE), key=alt))
    )


def test_key_rotation_is_accepted_after_one_refetch(ehr: EhrClient, key_host: KeyHost) -> None:
    assert ehr.call(SERVICE, patient_view("p1")).status_code == 200  # JWKS now cached
    new_key = ECKey.generate_key("P-384", parameters={"kid": "ehr-es384-rotated"})
    token = ehr.token(ehr.service_url(SERVICE), key=new_key)
    _assert_bare_401(ehr.call(SERVICE, patient_view("p1"), token=token))  # not published yet
    key_host.keys.append(new_key)
    try:
        before = key_host.fetches
        token = ehr.token(ehr.service_url(SERVICE), key=new_key)
        assert ehr.call(SERVICE, patient_view("p1"), token=token).status_code == 200
        assert key_host.fetches == before + 1
        # Cached now: no further fetch for the rotated key.
        ehr.call(SERVICE, patient_view("p1"), token=ehr.token(ehr.service_url(SERVICE), key=new_key))
        assert key_host.fetches == before + 1
    finally:
        key_host.keys.remove(new_key)


def test_replay_is_refused_across_workers_with_redis(tmp_path: Any, key_host: KeyHost, ec_key: ECKey) -> None:
    """Two app instances (as two gunicorn workers) share the jti cache through Redis."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    a = start_cds(tmp_path / "a", key_host, redis_url="redis://127.0.0.1:6379/15")
    b_public = a.url  # both "workers" answer for the same public URL
    b = start_cds(tmp_path / "b", key_host, redis_url="redis://127.0.0.1:6379/15", public_base_url=b_public)
    try:
        client_a, client_b = EhrClient(a.url, ec_key), EhrClient(b.url, ec_key)
        token = client_a.token(client_a.service_url(SERVICE))
        assert client_a.call(SERVICE, patient_view("p1"), token=token).status_code == 200
        _assert_bare_401(client_b.call(SERVICE, patient_view("p1"), token=token))
    finally:
        a.server.stop()
        b.server.stop()


def test_verification_switch_off_accepts_unsigned_calls_loudly(
    tmp_path: Any, key_host: KeyHost, caplog: pytest.LogCaptureFixture
) -> None:
    srv = start_cds(tmp_path, key_host, cds_verify_jwt=False)
    try:
        with caplog.at_level("WARNING"):
            resp = EhrClient(srv.url, None).call(SERVICE, patient_view("p1"), token="")
        assert resp.status_code == 200
        assert any("WITHOUT JWT verification" in r.getMessage() for r in caplog.records)
    finally:
        srv.server.stop()


def test_default_settings_trust_ehr_origins_and_verify() -> None:
    from evidence_cds.settings import Settings

    s = Settings()
    assert s.cds_verify_jwt is True
    assert s.cds_trusted_clients is None and "http://127.0.0.1:8080" in s.ehr_origins


def test_unknown_kid_flood_refetches_jwks_at_most_once_per_interval(
    tmp_path: Any, key_host: KeyHost, ec_key: ECKey
) -> None:
    srv = start_cds(tmp_path, key_host, cds_jwks_refetch_min_interval_s=60)
    try:
        ehr = EhrClient(srv.url, ec_key)
        assert ehr.call(SERVICE, patient_view("p1")).status_code == 200
        before = key_host.fetches
        for i in range(5):
            stranger = ECKey.generate_key("P-384", parameters={"kid": f"made-up-{i}"})
            _assert_bare_401(
                ehr.call(SERVICE, patient_view("p1"), token=ehr.token(ehr.service_url(SERVICE), key=stranger))
            )
        assert key_host.fetches == before
    finally:
        srv.server.stop()


def test_refusal_reason_is_logged_without_the_token(ehr: EhrClient, caplog: pytest.LogCaptureFixture) -> None:
    token = ehr.token(ehr.service_url("record-summary"))  # signed for another service
    with caplog.at_level("WARNING"):
        _assert_bare_401(ehr.call(SERVICE, patient_view("p1"), token=token))
    messages = [r.getMessage() for r in caplog.records]
    assert any("aud is not this service's URL" in m for m in messages)
    assert not any(token.split(".")[2][:20] in m or token[:30] in m for m in messages)


def test_unreachable_redis_answers_503_not_500(tmp_path: Any, key_host: KeyHost, ec_key: ECKey) -> None:
    """A configured Redis that is down fails closed with a transient 503 OperationOutcome."""
    srv = start_cds(tmp_path, key_host, redis_url="redis://127.0.0.1:1/0")
    try:
        client = EhrClient(srv.url, ec_key)
        resp = client.call(SERVICE, patient_view("p1"))
        assert resp.status_code == 503
        assert resp.json()["resourceType"] == "OperationOutcome"
        assert resp.json()["issue"][0]["code"] == "transient"
    finally:
        srv.server.stop()
