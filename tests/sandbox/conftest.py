"""Fixtures for the sandbox EHR tests."""

from __future__ import annotations

# EHR shell + CDS Hooks client: the sandbox + a recording stand-in CDS service (ehr_support.py).
from tests.sandbox.ehr_support import cds, ehr  # noqa: F401

# SMART authorization server + FHIR API: a live sandbox + a small SMART client (smart_support.py).
from tests.sandbox.smart_support import patient_tokens, smart  # noqa: F401
