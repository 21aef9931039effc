from __future__ import annotations

import re
from pathlib import Path

import pytest

from evidence_cds.settings import load_settings


def test_defaults_apply_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVIDENCE_CDS_PORT", raising=False)
    assert load_settings().port == 8000


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_CDS_PORT", "9123")
    monkeypatch.setenv("EVIDENCE_CDS_DATABASE_URL", "postgresql+psycopg://x@127.0.0.1/y")
    s = load_settings()
    assert s.port == 9123
    assert s.resolved_database_url() == "postgresql+psycopg://x@127.0.0.1/y"


def test_test_overrides_beat_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVIDENCE_CDS_PORT", "9123")
    s = load_settings({"port": 9999, "instance_path": tmp_path})
    assert s.port == 9999
    assert s.resolved_database_url().endswith(f"{tmp_path}/evidence_cds.db")


def test_env_example_lists_only_real_settings() -> None:
    from evidence_cds.settings import PROJECT_ROOT, Settings

    fields = {f"EVIDENCE_CDS_{name.upper()}" for name in Settings.model_fields}
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    assignment = re.compile(r"^#?\s*(EVIDENCE_CDS_[A-Z0-9_]+)=")
    names = {m.group(1) for ln in lines if (m := assignment.match(ln)) and "SANDBOX" not in m.group(1)}
    assert names, ".env.example is empty"
    assert names <= fields, f"unknown settings in .env.example: {names - fields}"
