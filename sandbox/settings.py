"""Sandbox EHR settings: code defaults → environment (``EVIDENCE_CDS_SANDBOX_*``) → test overrides.

The sandbox is "the other side" (an EHR), so it has its own settings and imports nothing from the
product packages; it learns about the app only from the registration manifest (``launch.json``),
as an EHR administrator would.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = SANDBOX_DIR.parent


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVIDENCE_CDS_SANDBOX_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = "http://127.0.0.1:8080"
    # Folder of FHIR bundles (*.json or *.json.gz, transaction/collection/searchset); default: demo patients.
    patients: Path = SANDBOX_DIR / "patients"
    launch_manifest: Path = PROJECT_ROOT / "launch.json"
    # When the product runs elsewhere than the manifest says (tests on ephemeral ports), URLs in the
    # manifest that start with the manifest's origin are rebased onto this one.
    app_base_url: str | None = None
    state_dir: Path = PROJECT_ROOT / "instance" / "sandbox"
    default_flavour: str = "generic"
    access_token_lifetime_s: int = 3600
    max_request_bytes: int = 1_048_576
    secret_key: str | None = None
    testing: bool = False
    # EHR shell + CDS Hooks client. The discovery URL comes from the manifest (rebased like the other
    # manifest URLs) unless overridden here; calls to services are time-boxed.
    cds_discovery_url: str | None = None
    cds_timeout_s: float = 5.0
    cds_discovery_ttl_s: float = 30.0
    ehr_user_id: str = "demo-practitioner"
    # SMART authorization server + FHIR API. The confidential client variant
    # (``<client_id>-confidential``, client_secret_basic) is registered only when a secret is set.
    confidential_client_secret: str | None = None
    fhir_default_count: int = 50
    fhir_max_count: int = 500
    # Validate every outgoing resource/bundle with fhir.resources.R4B (slow; tests turn it on).
    fhir_validate_responses: bool = False

    @property
    def fhir_base_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/fhir"


def load_sandbox_settings(overrides: Mapping[str, Any] | None = None) -> SandboxSettings:
    base = SandboxSettings()
    if not overrides:
        return base
    merged = base.model_dump()
    merged.update({k.lower(): v for k, v in overrides.items()})
    return SandboxSettings.model_validate(merged)
