"""Logging that never writes tokens: a filter redacts bearer tokens, JWTs and secrets from every record.

Patient identifiers must not be logged either; code logs :func:`hash_id` of an id instead.
"""

from __future__ import annotations

import hashlib
import logging
import re

_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (
        re.compile(
            r"(?i)((?:access_token|refresh_token|id_token|code|client_secret|code_verifier|launch|state)=)[^&\s\"']+"
        ),
        r"\1[redacted]",
    ),
    (
        re.compile(r"(?i)(\"(?:access_token|refresh_token|id_token|client_secret)\"\s*:\s*\")[^\"]+"),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    """Remove anything that looks like a credential from ``text``."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def hash_id(value: str | None, salt: str = "evidence-cds") -> str:
    """A stable, non-reversible short id for logs and audit (never the raw patient id)."""
    if not value:
        return "-"
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:16]


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Install the redacting filter on the root handlers (idempotent)."""
    root = logging.getLogger()
    if not root.handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(stream)
    root.setLevel(level.upper())
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    # werkzeug's access log prints full URLs (query strings can hold codes and launch ids).
    logging.getLogger("werkzeug").addFilter(RedactingFilter())
