"""SMART clinical scopes, v1 and v2 syntax (SMART App Launch 2.2 §Scopes and Launch Context).

v1: ``patient/Observation.read`` · ``patient/*.write`` · ``patient/Observation.*``
v2: ``patient/Observation.rs`` · ``patient/Observation.rs?category=laboratory`` (granular, §Finer-grained
resource constraints) — permissions are a subset of ``c r u d s`` in that order.

The sandbox serves ``patient/`` and ``user/`` scopes. ``patient/`` scopes are confined to the token's
patient compartment; ``user/`` scopes reach every patient the signed-in clinician may see (all of them,
in a sandbox). ``system/`` scopes are refused: the sandbox has no client-credentials grant (SMART
Backend Services is out of scope).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_V2_ORDER = "cruds"
_CLINICAL = re.compile(
    r"^(?P<level>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>read|write|\*|[cruds]+)"
    r"(?:\?(?P<query>.+))?$"
)
# Non-resource scopes the sandbox understands (SMART 2.2 §Scopes for requesting context data / identity).
CONTEXT_SCOPES = frozenset(
    {
        "launch",
        "launch/patient",
        "launch/encounter",
        "openid",
        "fhirUser",
        "profile",
        "offline_access",
        "online_access",
    }
)


class ScopeSyntaxError(ValueError):
    """A scope string that is neither a context scope nor a well-formed clinical scope."""


@dataclass(frozen=True)
class ClinicalScope:
    level: str  # patient | user | system
    resource_type: str  # a FHIR type or "*"
    permissions: frozenset[str]  # subset of {"c","r","u","d","s"}
    version: int  # 1 or 2
    query: tuple[tuple[str, str], ...] = ()  # v2 granular constraint, e.g. (("category", "laboratory"),)

    def covers_type(self, resource_type: str) -> bool:
        return self.resource_type in ("*", resource_type)

    def covers(self, other: ClinicalScope) -> bool:
        """Whether a grant of ``self`` includes everything ``other`` asks for (used for allow-lists)."""
        if self.level != other.level or not self.covers_type(other.resource_type):
            return False
        if not other.permissions <= self.permissions:
            return False
        # A narrower (more constrained) request is covered by an unconstrained grant.
        return set(self.query) <= set(other.query)


def parse_scope(value: str) -> ClinicalScope | None:
    """Parse one clinical scope; ``None`` for a context scope; :class:`ScopeSyntaxError` otherwise."""
    if value in CONTEXT_SCOPES:
        return None
    m = _CLINICAL.match(value)
    if not m:
        raise ScopeSyntaxError(f"unrecognised scope {value!r}")
    perm = m.group("perm")
    if perm in V1_PERMISSIONS:
        if m.group("query"):
            raise ScopeSyntaxError(f"v1 scope {value!r} cannot carry a query constraint")
        return ClinicalScope(m.group("level"), m.group("type"), frozenset(V1_PERMISSIONS[perm]), 1)
    # v2 permissions must appear in the canonical order c-r-u-d-s, each at most once.
    if "".join(sorted(perm, key=_V2_ORDER.index)) != perm or len(set(perm)) != len(perm):
        raise ScopeSyntaxError(f"v2 permissions in {value!r} must be ordered 'cruds' without repeats")
    query = tuple(parse_qsl(m.group("query") or "", keep_blank_values=False))
    return ClinicalScope(m.group("level"), m.group("type"), frozenset(perm), 2, query)


def parse_scopes(scope: str | None) -> tuple[set[str], list[ClinicalScope]]:
    """Split a space-separated scope string into (context scopes, clinical scopes)."""
    context: set[str] = set()
    clinical: list[ClinicalScope] = []
    for item in (scope or "").split():
        parsed = parse_scope(item)
        if parsed is None:
            context.add(item)
        else:
            clinical.append(parsed)
    return context, clinical


def scope_versions(scope: str | None) -> set[int]:
    """The SMART scope syntax versions (1 and/or 2) used by a scope string's clinical scopes."""
    _, clinical = parse_scopes(scope)
    return {c.version for c in clinical}


@dataclass(frozen=True)
class Grant:
    """What a token's scopes allow for one resource type and one interaction."""

    allowed: bool
    patient_only: bool  # confined to the token's patient compartment
    constraints: tuple[tuple[tuple[str, str], ...], ...] = ()  # v2 granular queries (any of them)


def grant_for(scope: str | None, resource_type: str, permission: str) -> Grant:
    """Resolve the token's access for ``permission`` ('r' read, 's' search) on ``resource_type``.

    ``user/`` beats ``patient/`` (wider); an unconstrained scope beats a granular one.
    """
    try:
        _, clinical = parse_scopes(scope)
    except ScopeSyntaxError:
        return Grant(False, True)
    matching = [
        c
        for c in clinical
        if c.level in ("patient", "user") and c.covers_type(resource_type) and permission in c.permissions
    ]
    if not matching:
        return Grant(False, True)
    best_level = [c for c in matching if c.level == "user"] or matching
    patient_only = best_level[0].level == "patient"
    if any(not c.query for c in best_level):
        return Grant(True, patient_only)
    return Grant(True, patient_only, tuple(c.query for c in best_level))
