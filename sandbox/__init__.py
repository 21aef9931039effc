"""Sandbox EHR for development and tests (FHIR R4 server, SMART authorization, EHR shell, CDS client)."""
