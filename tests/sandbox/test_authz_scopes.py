"""SMART v1 / v2 scope parsing and the access they grant (SMART App Launch 2.2 §Scopes)."""

from __future__ import annotations

import pytest

from sandbox.authz_scopes import ScopeSyntaxError, grant_for, parse_scope, scope_versions


@pytest.mark.parametrize(
    ("scope", "level", "rtype", "perms", "version"),
    [
        ("patient/Observation.read", "patient", "Observation", "rs", 1),
        ("patient/*.read", "patient", "*", "rs", 1),
        ("user/Patient.*", "user", "Patient", "cruds", 1),
        ("patient/Observation.rs", "patient", "Observation", "rs", 2),
        ("patient/Observation.s", "patient", "Observation", "s", 2),
        ("system/Encounter.cruds", "system", "Encounter", "cruds", 2),
    ],
)
def test_clinical_scopes_parse(scope: str, level: str, rtype: str, perms: str, version: int) -> None:
    parsed = parse_scope(scope)
    assert parsed is not None
    assert (parsed.level, parsed.resource_type, parsed.permissions, parsed.version) == (
        level,
        rtype,
        frozenset(perms),
        version,
    )


@pytest.mark.parametrize(
    "scope",
    [
        "patient/Observation.sr",
        "patient/Observation.rr",
        "patient/observation.rs",
        "patient/Obs",
        "patient/Observation.read?category=laboratory",
        "launch/anything",
        "bogus",
    ],
)
def test_malformed_scopes_are_refused(scope: str) -> None:
    with pytest.raises(ScopeSyntaxError):
        parse_scope(scope)


def test_context_scopes_are_not_clinical() -> None:
    for scope in ("launch", "launch/patient", "openid", "fhirUser", "offline_access"):
        assert parse_scope(scope) is None
    assert scope_versions("openid patient/Patient.read patient/Observation.rs") == {1, 2}
    assert scope_versions("launch openid") == set()


def test_user_scope_is_wider_than_patient_scope() -> None:
    both = grant_for("patient/Observation.rs user/Observation.rs", "Observation", "s")
    assert both.allowed and not both.patient_only
    only_patient = grant_for("patient/*.rs", "Observation", "r")
    assert only_patient.allowed and only_patient.patient_only
    assert not grant_for("system/Observation.rs", "Observation", "r").allowed
    assert not grant_for("patient/Condition.rs", "Observation", "r").allowed


def test_granular_scope_carries_its_constraint_unless_an_unconstrained_one_exists() -> None:
    granular = grant_for("patient/Observation.rs?category=laboratory", "Observation", "s")
    assert granular.allowed and granular.constraints == ((("category", "laboratory"),),)
    wide = grant_for("patient/Observation.rs?category=laboratory patient/Observation.rs", "Observation", "s")
    assert wide.allowed and wide.constraints == ()


def test_registration_covers_narrower_requests_only() -> None:
    registered = parse_scope("patient/Observation.rs")
    assert registered is not None
    for narrower in ("patient/Observation.r", "patient/Observation.rs?category=laboratory"):
        req = parse_scope(narrower)
        assert req is not None and registered.covers(req)
    for wider in ("patient/Observation.cruds", "patient/*.rs", "user/Observation.rs"):
        req = parse_scope(wider)
        assert req is not None and not registered.covers(req)
