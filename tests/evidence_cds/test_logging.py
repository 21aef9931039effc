from __future__ import annotations

import logging

import pytest

from evidence_cds.logging_setup import configure_logging, hash_id, redact


@pytest.mark.parametrize(
    "raw",
    [
        "Authorization: Bearer abc.def-ghi",
        "GET /app/callback?code=SECRETCODE&state=xyz",
        '{"access_token": "SECRETTOKEN", "x": 1}',
        "jwt eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwIn0.sig",
    ],
)
def test_redact_removes_credentials(raw: str) -> None:
    out = redact(raw)
    for secret in ("abc.def-ghi", "SECRETCODE", "SECRETTOKEN", "eyJpc3MiOiJodHRwIn0"):
        assert secret not in out


def test_hash_id_is_stable_and_not_the_id() -> None:
    assert hash_id("patient-123") == hash_id("patient-123")
    assert "patient-123" not in hash_id("patient-123")


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("INFO")
    logger = logging.getLogger("evidence_cds.test")
    with caplog.at_level(logging.INFO):
        for handler in logging.getLogger().handlers:
            caplog.handler.filters = handler.filters
        logger.info("token %s", "Bearer TOPSECRET")
    assert "TOPSECRET" not in caplog.text
