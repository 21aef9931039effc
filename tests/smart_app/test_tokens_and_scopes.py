"""Token lifetime and scopes over real HTTP: silent refresh, refresh failure, fewer scopes, a 403 on one
resource type. Plus the tolerant parsing of vendor token responses."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from smart_app.tokens import TokenResponse, granted_resource_types, missing_scopes
from smart_app.web import smart_state
from tests.conftest import System
from tests.smart_app.conftest import launch, session_id_of, session_tokens, text_of
from tests.smart_app.expected import expected

MANIFEST_V2: str = json.loads((Path(__file__).parents[2] / "launch.json").read_text())["scopes"]["v2"]


def _sandbox_tokens(system: System) -> Any:
    return system.sandbox.extensions["sandbox_tokens"]


def test_expired_access_token_is_refreshed_silently(make_system: Any) -> None:
    system = make_system()
    b, resp = launch(system, "demo-warfarin")
    sid = session_id_of(resp)
    access, refresh = session_tokens(system, sid)
    assert refresh, "offline_access asked → refresh token expected"
    _sandbox_tokens(system).expire_access(access)  # the EHR now answers 401 to this token
    again = b.get(resp.url)
    assert again.status_code == 200
    assert expected("demo-warfarin").name in text_of(again.text)
    session = smart_state(system.app).store.get_session(sid)
    assert session is not None and session.refreshed == 1 and session.access_token != access


def test_token_near_expiry_is_refreshed_before_use(make_system: Any) -> None:
    system = make_system({"smart_refresh_skew_s": 0}, {"access_token_lifetime_s": 1})
    b, resp = launch(system, "demo-digoxin")
    sid = session_id_of(resp)
    time.sleep(1.2)
    again = b.get(resp.url)
    assert again.status_code == 200
    session = smart_state(system.app).store.get_session(sid)
    assert session is not None and session.refreshed >= 1


def test_refresh_failure_asks_to_relaunch(make_system: Any) -> None:
    system = make_system()
    b, resp = launch(system, "demo-warfarin")
    sid = session_id_of(resp)
    access, refresh = session_tokens(system, sid)
    tokens = _sandbox_tokens(system)
    tokens.expire_access(access)
    tokens.revoke_refresh(tokens.by_refresh(refresh))
    again = b.get(resp.url)
    assert again.status_code == 401
    assert "Your access has expired" in text_of(again.text)
    assert access not in again.text


def test_without_refresh_token_an_expired_session_asks_to_relaunch(make_system: Any) -> None:
    no_offline = " ".join(s for s in MANIFEST_V2.split() if s != "offline_access")
    system = make_system()
    system.app.extensions["settings"].smart_ehr_profiles[system.fhir_base] = {"scopes": no_offline}
    b, resp = launch(system, "demo-warfarin")
    sid = session_id_of(resp)
    access, refresh = session_tokens(system, sid)
    assert refresh is None
    _sandbox_tokens(system).expire_access(access)
    assert b.get(resp.url).status_code == 401


def test_fewer_scopes_granted_are_shown_not_fatal(make_system: Any) -> None:
    system = make_system()
    # Ask for something this app is not registered for: the EHR grants the rest.
    extra = MANIFEST_V2 + " patient/Procedure.rs"
    system.app.extensions["settings"].smart_ehr_profiles[system.fhir_base] = {"scopes": extra}
    _, resp = launch(system, "demo-warfarin")
    assert resp.status_code == 200
    page = text_of(resp.text)
    assert "Not granted by the EHR" in page and "patient/Procedure.rs" in page
    assert expected("demo-warfarin").name in page


def test_a_403_on_one_resource_type_degrades_only_its_panel(make_system: Any) -> None:
    system = make_system()
    # Observation read-only (no search permission): the EHR refuses the lab search with 403.
    scopes = MANIFEST_V2.replace("patient/Observation.rs", "patient/Observation.r")
    system.app.extensions["settings"].smart_ehr_profiles[system.fhir_base] = {"scopes": scopes}
    _, resp = launch(system, "demo-warfarin")
    assert resp.status_code == 200
    page = text_of(resp.text)
    assert "Not available: access denied by the EHR" in page
    want = expected("demo-warfarin")
    assert want.name in page and all(m in page for m in want.medications)


@pytest.mark.parametrize(
    ("raw", "expires_in", "banner"),
    [
        ({"expires_in": 3600, "need_patient_banner": True}, 3600, True),
        ({"expires_in": "3600", "need_patient_banner": "false"}, 3600, False),
        ({"expires_in": "59.9", "need_patient_banner": "true"}, 59, True),
        ({"need_patient_banner": False}, 300, False),
    ],
)
def test_token_response_tolerates_vendor_variants(raw: dict[str, Any], expires_in: int, banner: bool) -> None:
    token = TokenResponse.model_validate({"access_token": "opaque-value", "token_type": "bearer", **raw})
    assert token.expires_in == expires_in
    assert token.need_patient_banner is banner
    assert token.token_type == "Bearer"


def test_token_response_rejects_non_bearer_tokens() -> None:
    with pytest.raises(ValueError, match="token_type"):
        TokenResponse.model_validate({"access_token": "x", "token_type": "mac"})


@pytest.mark.parametrize(
    ("granted", "types", "wildcard"),
    [
        ("patient/Observation.read patient/Condition.read", {"Observation", "Condition"}, False),
        ("patient/Observation.rs?category=laboratory launch", {"Observation"}, False),
        ("user/*.read", set(), True),
        ("patient/Observation.c patient/Condition.s", {"Condition"}, False),
        ("system/Observation.rs", set(), False),
    ],
)
def test_granted_resource_types_v1_and_v2(granted: str, types: set[str], wildcard: bool) -> None:
    assert granted_resource_types(granted, "ignored") == (types, wildcard)


def test_missing_scopes_only_when_the_server_says_what_it_granted() -> None:
    assert missing_scopes("a b c", "a c") == ["b"]
    assert missing_scopes("a b c", None) == []


@pytest.mark.parametrize(("secret", "status"), [("s3cret-for-tests", 200), ("wrong-secret", 502)])
def test_confidential_client_secret_basic(make_system: Any, secret: str, status: int) -> None:
    system = make_system(
        {
            "smart_auth_method": "client_secret_basic",
            "smart_client_id": "evidence-cds-confidential",
            "smart_client_secret": secret,
        },
        {"confidential_client_secret": "s3cret-for-tests"},
    )
    _, resp = launch(system, "demo-warfarin")
    assert resp.status_code == status
    if status == 200:
        assert expected("demo-warfarin").name in text_of(resp.text)
    else:
        assert "Sign-in could not be completed" in text_of(resp.text)
    assert secret not in resp.text


def test_htmx_panels_get_a_visible_error_fragment_when_the_session_ended(make_system: Any) -> None:
    system = make_system()
    b, resp = launch(system, "demo-warfarin")
    sid = session_id_of(resp)
    smart_state(system.app).store.delete_session(sid)
    panel = b.get(f"{system.app_url}/app/s/{sid}/evidence", headers={"HX-Request": "true"})
    assert panel.status_code == 200 and panel.headers["X-Evidence-Cds-Status"] == "401"
    assert 'role="alert"' in panel.text and "Your session has ended" in text_of(panel.text)
    page = b.get(resp.url)
    assert page.status_code == 401


def test_sessions_in_redis_when_configured(make_system: Any) -> None:
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    system = make_system({"redis_url": url})
    assert type(smart_state(system.app).store).__name__ == "RedisSessionStore"
    b, resp = launch(system, "demo-trial")
    assert resp.status_code == 200 and expected("demo-trial").name in text_of(resp.text)
    assert b.get(resp.url).status_code == 200
